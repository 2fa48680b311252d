/**
 * Where the bytes of a download go: a ring of memory that sockets read into
 * (or chunks are copied into), written from there to the partial file with
 * positioned writes on the thread pool, then handed to the hasher, which
 * hashes them from the same memory when they continue its prefix (or skips
 * them and reads them back from the file later, for parts that arrive ahead
 * of it). Ring space is reused once a region is both written and released by
 * the hasher; a full ring is the backpressure that keeps a download from
 * outrunning the disk or the hash.
 *
 * Completions are reported in ring order, so a part's `written` only ever
 * covers bytes that are in the file.
 */
import { write } from 'node:fs';
import type { PrefixHasher } from './prefix-hash.js';
import type { BodyTarget } from './raw-http.js';

/** Largest region handed out for one read. */
export const MAX_REGION = 1 << 20;
/** Below this, a ring tail is skipped rather than handed out. */
const MIN_REGION = 64 << 10;
/** Completed bytes gathered before they go to the hasher in one message. */
const POST_BYTES = 4 << 20;

export interface Region {
  readonly buf: Buffer;
  readonly seq: number;
}

interface Segment {
  seq: number; // ring position (bytes ever allocated before it)
  len: number; // ring bytes it holds
  at: number; // file offset
  n: number; // bytes of data in the ring (0: nothing to hash from it)
  end: number; // file offset after its data
  state: 0 | 1 | 2; // reserved, writing, written
  done?: (end: number) => void;
}

export class BlobSink {
  readonly ring: Buffer;
  private readonly size: number;
  private alloc = 0;
  private released = 0;
  private readonly fifo: Segment[] = [];
  private head = 0;
  private readonly bySeq = new Map<number, Segment>();
  private batch: number[] = [];
  private batchBytes = 0;
  private readonly wakers = new Set<() => void>();
  private inflight = 0;
  failure: unknown;

  constructor(
    private readonly fd: number,
    private readonly hasher: PrefixHasher,
    /** The contiguous prefix of the file that is final, sent with each batch. */
    private readonly prefix: () => number,
    private readonly onFailure: (e: unknown) => unknown,
  ) {
    this.ring = hasher.ring;
    this.size = this.ring.length;
    hasher.onRelease((seq) => {
      if (seq > this.released) this.released = seq;
      this.wake();
    });
  }

  /** Called when ring space frees up or the sink fails. */
  onWake(f: () => void): () => void {
    this.wakers.add(f);
    return () => this.wakers.delete(f);
  }

  private wake(): void {
    for (const f of [...this.wakers]) f();
  }

  /** Free ring bytes. */
  free(): number {
    return this.size - (this.alloc - this.released);
  }

  /** Reserves up to `max` bytes of contiguous ring; undefined when too little is free. */
  reserve(max: number): Region | undefined {
    if (this.failure) return undefined;
    let off = this.alloc % this.size;
    let contiguous = this.size - off;
    const want = Math.min(max, MAX_REGION);
    if (contiguous < want && contiguous < MIN_REGION) {
      // Skip the tail of the ring: a settled empty segment.
      if (this.free() < contiguous + Math.min(want, MIN_REGION)) return this.starved();
      this.push({ seq: this.alloc, len: contiguous, at: 0, n: 0, end: 0, state: 2 });
      this.alloc += contiguous;
      off = 0;
      contiguous = this.size;
    }
    const len = Math.min(want, contiguous, this.free());
    if (len <= 0 || len < Math.min(want, MIN_REGION)) return this.starved();
    const seg: Segment = { seq: this.alloc, len, at: 0, n: 0, end: 0, state: 0 };
    this.push(seg);
    this.bySeq.set(seg.seq, seg);
    this.alloc += len;
    return { buf: this.ring.subarray(off, off + len), seq: seg.seq };
  }

  private starved(): undefined {
    // Whatever is complete must reach the hasher, or nothing would ever be
    // released (and pump() posts what completes next while space is short).
    this.post();
    return undefined;
  }

  private push(seg: Segment): void {
    this.fifo.push(seg);
    if (seg.state === 2) this.pump();
  }

  /**
   * `n` bytes were put at the start of reserved region `r`; they belong at
   * file offset `at`. `done(end)` runs once they are in the file, in ring
   * order. `n` 0 gives the region back unused.
   */
  commit(r: Region, at: number, n: number, done?: (end: number) => void): void {
    const seg = this.bySeq.get(r.seq);
    if (!seg) return;
    this.bySeq.delete(r.seq);
    seg.at = at;
    seg.n = n;
    seg.end = at + n;
    seg.done = done;
    if (n === 0 || this.failure) {
      seg.n = 0;
      seg.state = 2;
      this.pump();
      return;
    }
    seg.state = 1;
    this.inflight++;
    write(this.fd, this.ring, seg.seq % this.size, n, at, (e) => {
      this.inflight--;
      if (e) this.fail(e);
      seg.state = 2;
      this.pump();
    });
  }

  /** Copies `data` in (it belongs at file offset `at`). Needs free space: callers wait with `space()`. */
  put(data: Buffer, at: number, done?: (end: number) => void): void {
    let o = 0;
    while (o < data.length) {
      const r = this.reserve(data.length - o);
      if (!r) {
        // No room (a read that landed in a reader's own buffer while paused): write a copy on its own.
        const copy = Buffer.from(data.subarray(o));
        const seg: Segment = { seq: this.alloc, len: 0, at: at + o, n: 0, end: at + data.length, state: 1, done };
        this.push(seg);
        this.inflight++;
        write(this.fd, copy, 0, copy.length, at + o, (e) => {
          this.inflight--;
          if (e) this.fail(e);
          seg.state = 2;
          this.pump();
        });
        return;
      }
      const n = Math.min(r.buf.length, data.length - o);
      data.copy(r.buf, 0, o, o + n);
      const last = o + n === data.length;
      this.commit(r, at + o, n, last ? done : undefined);
      o += n;
    }
  }

  /** Resolves when at least `bytes` (capped at what a region can hold) are free, or the sink failed. */
  space(bytes: number): Promise<void> {
    const need = Math.min(bytes, MIN_REGION);
    if (this.failure || this.free() >= need) return Promise.resolve();
    this.post();
    return new Promise<void>((resolve) => {
      const off = this.onWake(() => {
        if (this.failure || this.free() >= need) {
          off();
          resolve();
        }
      });
    });
  }

  private pump(): void {
    let popped = false;
    while (this.head < this.fifo.length && this.fifo[this.head].state === 2) {
      const seg = this.fifo[this.head++];
      popped = true;
      if (seg.done && !this.failure) seg.done(seg.end);
      if (seg.len > 0) {
        this.batch.push(seg.seq, seg.len, seg.at, seg.n);
        this.batchBytes += seg.len;
      }
    }
    if (this.head > 1024 && this.head * 2 > this.fifo.length) {
      this.fifo.splice(0, this.head);
      this.head = 0;
    }
    // Post in batches, and at once while the ring is short of space: nothing is reused before the hasher releases it.
    if (this.batchBytes >= Math.min(POST_BYTES, this.size >> 2) || (this.batch.length && this.free() < Math.min(this.size >> 1, 2 * MAX_REGION))) this.post();
    if (popped) this.wake();
  }

  /** Sends what is complete to the hasher now. */
  post(): void {
    if (!this.batch.length) return;
    const segs = this.batch;
    this.batch = [];
    this.batchBytes = 0;
    this.hasher.post(segs, this.prefix());
  }

  /** Writes still running or regions still reserved. */
  busy(): boolean {
    return this.head < this.fifo.length;
  }

  private fail(e: unknown): void {
    this.failure ??= this.onFailure(e);
    this.wake();
  }

  /** Resolves once every committed write has finished; throws the first failure. */
  async drain(): Promise<void> {
    await this.until(() => !this.busy() || this.failure !== undefined);
    this.post();
    if (this.failure) throw this.failure;
  }

  /** Resolves once no write is running (before the file is closed, whatever happened). */
  settle(): Promise<void> {
    return this.until(() => this.inflight === 0);
  }

  until(cond: () => boolean): Promise<void> {
    if (cond()) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const off = this.onWake(() => {
        if (cond()) {
          off();
          resolve();
        }
      });
    });
  }
}

/**
 * The bytes of one response body, from file offset `start` on: a BodyTarget
 * for raw-http.ts (reads land in ring regions) and `put` for chunks that
 * arrive in memory of their own (undici). `onWritten(end)` follows the writes
 * that completed, in order.
 */
export class StreamWriter implements BodyTarget {
  private open: Region | undefined;
  private completed: number;
  private readonly done = (end: number) => {
    this.completed = end;
    this.onWritten(end);
  };

  constructor(
    private readonly sink: BlobSink,
    /** File offset of the next byte. */
    public queued: number,
    private readonly end: number,
    private readonly onWritten: (end: number) => void,
  ) {
    this.completed = queued;
  }

  region(): Buffer | undefined {
    if (this.open) this.sink.commit(this.open, 0, 0);
    this.open = this.end > this.queued ? this.sink.reserve(this.end - this.queued) : undefined;
    return this.open?.buf;
  }

  data(buf: Buffer, n: number, own: boolean): void {
    const r = this.open;
    this.open = undefined;
    if (own && r && buf.buffer === r.buf.buffer && buf.byteOffset === r.buf.byteOffset) {
      this.sink.commit(r, this.queued, n, this.done);
    } else {
      if (r) this.sink.commit(r, 0, 0);
      this.sink.put(buf.subarray(0, n), this.queued, this.done);
    }
    this.queued += n;
  }

  /** Copies a chunk in once the ring has room for it. */
  async put(chunk: Buffer): Promise<void> {
    await this.sink.space(chunk.length);
    if (this.sink.failure) throw this.sink.failure;
    this.data(chunk, chunk.length, false);
  }

  /** Gives back a region that no read filled. */
  close(): void {
    if (this.open) this.sink.commit(this.open, 0, 0);
    this.open = undefined;
  }

  /** Resolves once everything queued is in the file (or the sink failed). */
  settled(): Promise<void> {
    return this.sink.until(() => this.completed >= this.queued || this.sink.failure !== undefined);
  }
}
