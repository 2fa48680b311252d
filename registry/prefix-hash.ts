/**
 * SHA-256 of a file that is being written out of order (parallel Range parts),
 * computed while it is written: the hasher follows the contiguous prefix that
 * is complete on disk, reading it back from the page cache on a worker thread,
 * so that hashing overlaps the download and never blocks the event loop. When
 * the last byte lands only the tail behind the prefix remains to hash.
 *
 * Small files skip the thread (starting one costs more than hashing a few MB).
 */
import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { Worker } from 'node:worker_threads';
import { KilnError } from '../engine/errors.js';

export interface PrefixHasher {
  /** Bytes [0, upto) of the file are final. */
  advance(upto: number): void;
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
const fd = fs.openSync(workerData.path, 'r');
const buf = Buffer.allocUnsafe(4 << 20);
let pos = 0, target = 0, finishing = false;
parentPort.on('message', (m) => {
  try {
    if (m.upto > target) target = Math.min(m.upto, workerData.size);
    if (m.finish) { finishing = true; target = workerData.size; }
    while (pos < target) {
      const n = fs.readSync(fd, buf, 0, Math.min(buf.length, target - pos), pos);
      if (n <= 0) throw new Error('file ended at ' + pos + ' of ' + workerData.size + ' bytes');
      h.update(n === buf.length ? buf : buf.subarray(0, n));
      pos += n;
    }
    if (finishing) {
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

class ThreadedHasher implements PrefixHasher {
  private readonly worker: Worker;
  private sent = 0;
  private readonly result: Promise<string>;

  constructor(path: string, size: number) {
    this.worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { path, size } });
    this.result = new Promise<string>((resolve, reject) => {
      this.worker.on('message', (m: { digest?: string; error?: string }) => {
        if (m.digest) resolve(m.digest);
        else reject(new KilnError('E_INTERNAL', `hashing ${path}: ${m.error}`));
      });
      this.worker.on('error', (e) => reject(new KilnError('E_INTERNAL', `hashing ${path}: ${e.message}`, { cause: e })));
      this.worker.on('exit', () => reject(new KilnError('E_INTERNAL', `hashing ${path}: worker stopped`)));
    });
    this.result.catch(() => {}); // observed by finish(); a closed hasher has no reader
  }

  advance(upto: number): void {
    // Every 8 MiB: enough to keep the worker busy without a message per chunk.
    if (upto - this.sent >= 8 << 20) {
      this.sent = upto;
      this.worker.postMessage({ upto });
    }
  }

  finish(): Promise<string> {
    this.worker.postMessage({ finish: true });
    return this.result;
  }

  close(): void {
    void this.worker.terminate();
  }
}

class InlineHasher implements PrefixHasher {
  constructor(private readonly path: string) {}
  advance(): void {}
  async finish(): Promise<string> {
    return hashFile(this.path);
  }
  close(): void {}
}

export function prefixHasher(path: string, size: number): PrefixHasher {
  return size >= THREADED_MIN ? new ThreadedHasher(path, size) : new InlineHasher(path);
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
