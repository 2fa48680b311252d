/**
 * SHA-256 of a file that is being written out of order (parallel Range parts),
 * computed while it is written, on a worker thread so that it never blocks the
 * event loop. Downloaded bytes pass through a shared ring of memory
 * (blob-sink.ts); the hasher takes them from there when they continue the
 * prefix it has hashed, so in-order data is never read back. What arrives
 * ahead of that prefix (other parallel parts) or was on disk before (a resumed
 * download) is read from the file once the prefix reaches it.
 *
 * Small files skip the thread (starting one costs more than hashing a few MB)
 * and are hashed from the file at the end.
 */
import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { Worker } from 'node:worker_threads';
import { KilnError } from '../common/errors.js';

export interface PrefixHasher {
  /** Memory the downloaded bytes pass through. */
  readonly ring: Buffer;
  /**
   * Written segments, four numbers each (ring position, ring length, file
   * offset, bytes in the ring), in ring order, and how much of the file is
   * final from its start.
   */
  post(segs: number[], upto: number): void;
  /** Called with the ring position up to which memory may be reused. */
  onRelease(f: (seq: number) => void): void;
  /** Resolves with the hex digest once the whole file is hashed. */
  finish(): Promise<string>;
  /** Stops without a result (the transfer failed). */
  close(): void;
}

// Kept as source text and run with `eval`, so the same code serves the
// compiled daemon and the TypeScript tests without a separate worker file.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const fs = require('node:fs');
const h = require('node:crypto').createHash('sha256');
const size = workerData.size;
const fd = fs.openSync(workerData.path, 'r');
const ring = Buffer.from(workerData.ring);
const R = ring.length;
let buf;
let pos = 0, final = 0;
function fromFile(to) {
  buf ??= Buffer.allocUnsafe(4 << 20);
  while (pos < to) {
    const n = fs.readSync(fd, buf, 0, Math.min(buf.length, to - pos), pos);
    if (n <= 0) throw new Error('file ended at ' + pos + ' of ' + size + ' bytes');
    h.update(n === buf.length ? buf : buf.subarray(0, n));
    pos += n;
  }
}
parentPort.on('message', (m) => {
  try {
    if (m.upto > final) final = Math.min(m.upto, size);
    let released = -1;
    const s = m.segs;
    for (let i = 0; i < s.length; i += 4) {
      const seq = s[i], len = s[i + 1], at = s[i + 2], n = s[i + 3];
      if (n > 0 && at + n > pos) {
        // Bytes between the prefix and this segment are in the file already: read them, then continue from memory.
        if (at > pos && final >= at) fromFile(at);
        if (at <= pos) {
          const off = (seq % R) + (pos - at);
          h.update(ring.subarray(off, off + (at + n - pos)));
          pos = at + n;
        }
      }
      released = seq + len;
    }
    if (m.finish) final = size;
    fromFile(final);
    if (released >= 0) parentPort.postMessage({ released });
    if (m.finish) {
      fs.closeSync(fd);
      parentPort.postMessage({ digest: h.digest('hex') });
      parentPort.close();
    }
  } catch (e) {
    parentPort.postMessage({ error: String(e && e.message || e) });
    parentPort.close();
  }
});
`;

/** Files at least this big are hashed on a worker thread as they arrive. */
export const THREADED_MIN = 32 << 20;
/** Ring memory of a threaded hasher. */
const RING_BYTES = 64 << 20;

class ThreadedHasher implements PrefixHasher {
  readonly ring: Buffer;
  private readonly worker: Worker;
  private readonly result: Promise<string>;
  private release: (seq: number) => void = () => {};

  constructor(path: string, size: number) {
    const shared = new SharedArrayBuffer(RING_BYTES);
    this.ring = Buffer.from(shared);
    this.worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { path, size, ring: shared } });
    this.result = new Promise<string>((resolve, reject) => {
      this.worker.on('message', (m: { released?: number; digest?: string; error?: string }) => {
        if (m.released !== undefined) this.release(m.released);
        else if (m.digest) resolve(m.digest);
        else reject(new KilnError('E_INTERNAL', `hashing ${path}: ${m.error}`));
      });
      this.worker.on('error', (e) => reject(new KilnError('E_INTERNAL', `hashing ${path}: ${e.message}`, { cause: e })));
      this.worker.on('exit', () => reject(new KilnError('E_INTERNAL', `hashing ${path}: worker stopped`)));
    });
    this.result.catch(() => {}); // observed by finish(); a closed hasher has no reader
  }

  post(segs: number[], upto: number): void {
    this.worker.postMessage({ segs, upto });
  }

  onRelease(f: (seq: number) => void): void {
    this.release = f;
  }

  finish(): Promise<string> {
    this.worker.postMessage({ segs: [], upto: 0, finish: true });
    return this.result;
  }

  close(): void {
    void this.worker.terminate();
  }
}

class InlineHasher implements PrefixHasher {
  readonly ring: Buffer;
  private release: (seq: number) => void = () => {};
  constructor(
    private readonly path: string,
    size: number,
  ) {
    this.ring = Buffer.allocUnsafe(Math.max(64 << 10, Math.min(4 << 20, size)));
  }
  post(segs: number[]): void {
    if (!segs.length) return;
    const end = segs[segs.length - 4] + segs[segs.length - 3];
    queueMicrotask(() => this.release(end));
  }
  onRelease(f: (seq: number) => void): void {
    this.release = f;
  }
  async finish(): Promise<string> {
    return hashFile(this.path);
  }
  close(): void {}
}

export function prefixHasher(path: string, size: number): PrefixHasher {
  return size >= THREADED_MIN ? new ThreadedHasher(path, size) : new InlineHasher(path, size);
}

/** sha256 hex of a whole file, read in 1 MiB blocks. */
export async function hashFile(path: string, onBytes?: (n: number) => void): Promise<string> {
  const h = createHash('sha256');
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.allocUnsafe(1 << 20);
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, null);
      if (bytesRead === 0) break;
      h.update(buf.subarray(0, bytesRead));
      onBytes?.(bytesRead);
    }
  } finally {
    await fh.close();
  }
  return h.digest('hex');
}
