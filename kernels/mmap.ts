/**
 * Read-only file mappings: model weights are read straight from the page cache,
 * never copied into the JS heap.
 */
import { KilnError } from '../common/errors.js';
import { call, native } from './native.js';

/** A read-only mapping of a file. `bytes` views the page cache directly. */
export interface MappedFile {
  readonly path: string;
  readonly size: number;
  /** Zero-length after unmap(); never keep views past it. */
  readonly buffer: ArrayBuffer;
  readonly bytes: Uint8Array;
  unmap(): void;
  /**
   * Drops the process's pages of [offset, offset + length) (whole pages within
   * it): bytes copied to a device that the CPU will not read again. They stay
   * in the page cache, reclaimable, and fault back in if read.
   */
  releasePages(offset: number, length: number): void;
}

export function mapFile(path: string): MappedFile {
  if (typeof path !== 'string' || path.length === 0) {
    throw new KilnError('E_NATIVE', 'mapFile: path must be a non-empty string');
  }
  const buffer = call(() => native().mapFile(path));
  const size = buffer.byteLength;
  let mapped = true;
  return {
    path,
    size,
    buffer,
    bytes: new Uint8Array(buffer),
    unmap() {
      if (!mapped) return;
      mapped = false;
      call(() => native().unmap(buffer));
    },
    releasePages(offset: number, length: number) {
      if (mapped) call(() => native().releasePages(buffer, offset, length));
    },
  };
}
