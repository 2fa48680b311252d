/**
 * One attempt at downloading one blob into its partial file (see download.ts
 * for the layout, the durability rules and how pulls share a transfer).
 *
 * The steps, in order, each a method of Transfer:
 * - planParts: the parts, resumed from the store's download tables when the
 *   partial file is still there, else recorded afresh;
 * - openFile: the pre-sized partial file, its hasher and its write sink;
 * - startCheckpoints: `written` saved every 100 ms, `synced` after an
 *   fdatasync every few seconds;
 * - planConnections / launch / worker / partDone: parts fetched lowest first, with connections
 *   added only while they are measured to help (the probe);
 * - fetchPart (retries) / fetchOnce (one Range request) / acceptAnswer (is the
 *   registry's answer for this range?) / copyBody, and rawPart for plain-http
 *   targets read with raw-http.ts;
 * - verifyAndCommit: the sha256 checked, the file adopted into the store;
 * - finish: timers, hasher, sink and file released, whatever happened.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { KilnError } from '../common/errors.js';
import type { Digest } from '../common/digest.js';
import type { Descriptor } from '../common/manifest.js';
import type { Store } from '../store/index.js';
import { BlobSink, StreamWriter } from './blob-sink.js';
import { abortError, backoff, describeError, discard, isTransient, sleep, type RegistryClient, type RegistryResponse } from './client.js';
import { prefixHasher, type PrefixHasher } from './prefix-hash.js';
import { RawGet } from './raw-http.js';

export interface DownloadSettings {
  /** Parallel Range requests per blob. */
  connections: number;
  /** Bytes per part; 0 picks about 1/64 of the blob, between 16 MiB and 256 MiB. */
  partSize: number;
  /** A part with no bytes for this long is restarted. */
  stallMs: number;
  retryDelayMs: number;
  /** Failures in a row without progress before a part gives up. */
  retries: number;
}

const MiB = 1 << 20;
const CHECKPOINT_MS = 100;
/**
 * Also checkpoint as soon as enough new bytes are in the file: a 32nd of what
 * is still missing, between 256 KiB and 4 MiB. A killed pull then re-fetches
 * a small fraction of what it still needed, however fast the link (at
 * 200 MB/s, 100 ms is 20 MB), while a large pull pays one commit per 4 MiB.
 * The checkpoint connection commits without fsync (`written` is trusted only
 * within the same boot): about 35 µs a commit.
 */
function checkpointBytes(missing: number): number {
  return Math.min(4 * MiB, Math.max(256 * 1024, missing / 32));
}
const SYNC_MS = 5000;

export function choosePartSize(size: number, setting: number): number {
  if (setting > 0) return setting;
  const target = Math.ceil(size / 64 / MiB) * MiB;
  return Math.min(256 * MiB, Math.max(16 * MiB, target));
}

let bootIdCache: string | undefined;
/** Linux's per-boot random id; elsewhere a per-process one, so only synced bytes are trusted. */
export function bootId(): string {
  if (bootIdCache) return bootIdCache;
  try {
    bootIdCache = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    bootIdCache = `process-${randomBytes(8).toString('hex')}`;
  }
  return bootIdCache;
}

export interface Part {
  idx: number;
  start: number;
  end: number; // exclusive
  written: number;
}

export function splitParts(size: number, partSize: number): Part[] {
  const parts: Part[] = [];
  for (let start = 0, idx = 0; start < size; start += partSize, idx++) parts.push({ idx, start, end: Math.min(size, start + partSize), written: 0 });
  return parts;
}

export function ioFailure(e: unknown, what: string): unknown {
  const code = (e as NodeJS.ErrnoException)?.code;
  if (code === 'ENOSPC' || code === 'EDQUOT') return new KilnError('E_NO_SPACE', `no space left on device while ${what}; free some space and pull again (the download resumes)`, { cause: e });
  return e;
}

/** Drops a partial download: its rows and its file. */
export function dropPartial(store: Store, digest: Digest, path: string): void {
  store.downloads.forget(digest);
  rmSync(path, { force: true });
}

/** Thrown inside a transfer to run it once more from an empty file. */
class Restart extends Error {}

/** A registry answer that will not get better by asking again. */
class Permanent extends Error {
  constructor(readonly error: KilnError) {
    super(error.message);
  }
}

function sizeMismatch(digest: Digest, got: number, want: number): KilnError {
  return new KilnError('E_REGISTRY', `blob ${digest} is ${got} bytes on the registry but the manifest declares ${want}`);
}

/** What a transfer reports to and is stopped by: the handle every pull of this digest shares. */
export interface TransferOwner {
  readonly ac: AbortController;
  emit(completed: number): void;
}

export interface TransferEnv {
  store: Store;
  settings: DownloadSettings;
  log: (m: string) => void;
  /** Called once the blob is in the store, for its background sync. */
  committed: (digest: Digest) => void;
}

/**
 * Connection probe: one part alone (which also settles auth and a CDN
 * redirect, and is not timed), one more alone, timed, then two at once.
 */
interface Probe {
  phase: 0 | 1 | 2;
  at: number;
  bytes: number;
  parts: number;
  rate1?: number;
}

export class Transfer {
  private readonly digest: Digest;
  private readonly size: number;
  private readonly signal: AbortSignal;
  private readonly blobUrl: URL;

  // The file and its progress.
  private parts: Part[] = [];
  /** Bytes of the parts resumed from an earlier run (0 when started afresh). */
  private resumed = 0;
  private fh!: FileHandle;
  private hasher!: PrefixHasher;
  private sink!: BlobSink;
  /** First part not yet complete (the complete prefix only grows). */
  private prefixIdx = 0;
  private completed = 0;

  // Checkpoints.
  private saved = new Map<number, number>();
  /** `completed` at the last checkpoint. */
  private savedCompleted = 0;
  private syncing = false;
  private cpTimer: NodeJS.Timeout | undefined;
  private syncTimer: NodeJS.Timeout | undefined;

  // Where the bytes come from.
  /** Where the registry redirected a blob GET (a CDN), reused by later parts. */
  private resolvedUrl: URL | undefined;
  /**
   * A plain-http target that answered a Range request through the full
   * client; read with raw-http.ts afterwards (auth and redirects are settled by then).
   */
  private rawTarget: string | undefined;
  /** Raw requests sent ahead for the part a lone connection takes next, so the registry's answer time overlaps this part's body. */
  private readonly ahead = new Map<Part, Promise<RawGet>>();

  // Scheduling of parts over connections.
  private pending: Part[] = [];
  private next = 0;
  private allowed = 1;
  private max = 1;
  private running = 0;
  private partsDone = 0;
  private probe: Probe | undefined;
  private loopback = false;
  private readonly workers: Promise<void>[] = [];
  private failure: unknown;

  constructor(
    private readonly env: TransferEnv,
    private readonly client: RegistryClient,
    repo: string,
    desc: Descriptor,
    private readonly owner: TransferOwner,
    private readonly path: string,
  ) {
    this.digest = desc.digest;
    this.size = desc.size;
    this.signal = owner.ac.signal;
    this.blobUrl = client.url(`/v2/${repo}/blobs/${desc.digest}`);
  }

  /** Runs the transfer; true when it must run once more from an empty file (a resumed file that did not verify). */
  async run(fresh: boolean): Promise<boolean> {
    if (fresh) dropPartial(this.env.store, this.digest, this.path);
    this.planParts();
    await this.openFile();
    this.startCheckpoints();
    let restart = false;
    try {
      this.planConnections();
      this.launch();
      for (let i = 0; i < this.workers.length; i++) await this.workers[i]; // the list grows as connections are added
      if (this.failure) throw this.failure;
      if (this.signal.aborted) throw abortError(this.signal);
      await this.verifyAndCommit();
    } catch (e) {
      if (e instanceof Restart) {
        restart = true;
      } else {
        try {
          this.checkpoint();
        } catch {
          /* best effort: the resume re-fetches what was not recorded */
        }
        throw ioFailure(e, `pulling ${this.digest}`);
      }
    } finally {
      await this.finish();
    }
    return restart;
  }

  /** Parts of the download, resumed from the store's tables when the file is still there. */
  private planParts(): void {
    const { digest, size, path } = this;
    const table = this.env.store.downloads;
    const row = table.partial(digest);
    let fileOk = false;
    try {
      fileOk = statSync(path).size === size;
    } catch {
      /* no file */
    }
    if (row && row.size === size && fileOk) {
      const trustWritten = row.bootId === bootId();
      const rows = table.parts(digest);
      const parts = splitParts(size, row.partSize);
      if (rows.length === parts.length) {
        for (const r of rows) parts[r.idx].written = Math.min(parts[r.idx].end - parts[r.idx].start, trustWritten ? r.written : r.synced);
        // From now on `written` is this boot's: rows not to be trusted go back to what was synced.
        table.resume(digest, bootId(), trustWritten);
        this.parts = parts;
        this.resumed = parts.reduce((s, p) => s + p.written, 0);
        return;
      }
    }
    // Nothing usable: start over.
    rmSync(path, { force: true });
    const partSize = choosePartSize(size, this.env.settings.partSize);
    this.parts = splitParts(size, partSize);
    table.begin(digest, size, partSize, this.parts.length, bootId());
    this.resumed = 0;
  }

  /** The pre-sized partial file, the hasher that follows its complete prefix, and the sink that writes it. */
  private async openFile(): Promise<void> {
    const { path, size } = this;
    try {
      this.fh = await open(path, existsSync(path) ? 'r+' : 'w+', 0o644);
      // Pre-sized: every part writes at its own offset from the start.
      if ((await this.fh.stat()).size !== size) await this.fh.truncate(size);
    } catch (e) {
      throw ioFailure(e, `creating ${path}`);
    }
    this.hasher = prefixHasher(path, size);
    this.completed = this.parts.reduce((s, p) => s + p.written, 0);
    this.sink = new BlobSink(this.fh.fd, this.hasher, () => this.prefixEnd(), (e) => ioFailure(e, `writing ${path}`));
    this.hasher.post([], this.prefixEnd()); // a resumed download's bytes on disk hash while the rest arrives
    this.owner.emit(this.completed);
  }

  /** End of the complete prefix of the file. */
  private prefixEnd(): number {
    const { parts } = this;
    while (this.prefixIdx < parts.length && parts[this.prefixIdx].written === parts[this.prefixIdx].end - parts[this.prefixIdx].start) this.prefixIdx++;
    return this.prefixIdx < parts.length ? parts[this.prefixIdx].start + parts[this.prefixIdx].written : this.size;
  }

  /** Checkpoints: `written` often, `synced` after an fdatasync now and then. */
  private startCheckpoints(): void {
    this.saved = new Map(this.parts.map((p) => [p.idx, p.written]));
    this.savedCompleted = this.completed;
    this.cpTimer = setInterval(() => this.checkpointSoftly(), CHECKPOINT_MS);
    this.syncTimer = setInterval(() => void this.syncNow(), SYNC_MS);
  }

  private checkpointSoftly(): void {
    try {
      this.checkpoint();
    } catch {
      /* disk full or db busy: the next one retries */
    }
  }

  /** Saves the parts' `written` that changed since the last checkpoint. */
  private checkpoint(): void {
    this.savedCompleted = this.completed;
    const changed = this.parts.filter((p) => this.saved.get(p.idx) !== p.written).map((p) => ({ idx: p.idx, written: p.written }));
    if (!changed.length) return;
    this.env.store.downloads.saveWritten(this.digest, changed);
    for (const p of changed) this.saved.set(p.idx, p.written);
  }

  private async syncNow(): Promise<void> {
    if (this.syncing) return;
    this.syncing = true;
    try {
      const snapshot = this.parts.map((p) => p.written);
      await this.fh.datasync();
      this.env.store.downloads.saveSynced(this.digest, snapshot);
    } catch {
      /* a later sync or the resume check covers it */
    } finally {
      this.syncing = false;
    }
  }

  /**
   * Starts the first connection. Connections are added only while they help.
   * Parallel parts beat the per-connection limit of a long link (window /
   * round trip); on a fast local link one stream already saturates the CPU and
   * more only cost it (measured here on loopback, 2 cores: 1 connection used
   * half the CPU of 4 for the same GiB, and a second stream's bytes must be
   * read back from the file to be hashed). So: one part alone, one more alone,
   * timed, then two at once; if two are clearly faster than one, all of them,
   * else back to one (see partDone).
   */
  private planConnections(): void {
    this.pending = this.parts.filter((p) => p.written < p.end - p.start);
    this.max = Math.max(1, Math.min(this.env.settings.connections, this.pending.length));
    this.probe = this.max > 1 ? { phase: 0, at: 0, bytes: 0, parts: 0 } : undefined;
    // On loopback there is no per-connection limit to beat, only CPU to share
    // (and noise from whatever else runs): two streams must be much faster.
    this.loopback = /^(127\.|localhost$|\[::1\]$)/.test(this.blobUrl.hostname);
  }

  /** Starts connections up to what is allowed now. */
  private launch(): void {
    while (this.running < this.allowed && this.next < this.pending.length && !this.failure) {
      this.running++;
      this.workers.push(this.worker());
    }
  }

  /** One connection: takes the lowest missing part while it is allowed to run. */
  private async worker(): Promise<void> {
    try {
      while (!this.failure && this.next < this.pending.length && this.running <= this.allowed) {
        const p = this.pending[this.next++];
        try {
          await this.fetchPart(p);
        } catch (e) {
          this.failure ??= e;
          if (!this.signal.aborted) this.owner.ac.abort(e);
          return;
        }
        this.partDone();
      }
    } finally {
      this.running--;
    }
  }

  /** A part finished: advances the probe and adds or stops connections. */
  private partDone(): void {
    this.partsDone++;
    const probe = this.probe;
    if (!probe) return;
    const now = performance.now();
    const rate = (this.completed - probe.bytes) / Math.max(1, now - probe.at);
    if (probe.phase === 0) {
      this.probe = { phase: 1, at: now, bytes: this.completed, parts: this.partsDone };
    } else if (probe.phase === 1) {
      this.probe = { phase: 2, at: now, bytes: this.completed, parts: this.partsDone, rate1: rate };
      this.allowed = Math.min(2, this.max);
    } else if (this.partsDone - probe.parts >= 2) {
      this.allowed = rate > (this.loopback ? 1.6 : 1.25) * probe.rate1! ? this.max : 1;
      this.probe = undefined;
    }
    this.launch();
  }

  private sinkError(): Permanent {
    const e = this.sink.failure;
    return new Permanent(e instanceof KilnError ? e : new KilnError('E_INTERNAL', String((e as Error)?.message ?? e)));
  }

  /** Fetches part `p` to its end, retrying transient failures from where the bytes stopped. */
  private async fetchPart(p: Part): Promise<void> {
    const len = p.end - p.start;
    let failures = 0;
    while (p.written < len) {
      const before = p.written;
      // `p.written` follows only the writes that completed in order, so a
      // checkpoint never counts bytes that are not in the file.
      const w = new StreamWriter(this.sink, p.start + p.written, p.end, (end) => {
        this.completed += end - p.start - p.written;
        p.written = end - p.start;
        if (this.cpTimer && this.completed - this.savedCompleted >= checkpointBytes(this.size - this.completed)) this.checkpointSoftly();
        this.owner.emit(this.completed);
      });
      try {
        await this.fetchOnce(p, w);
      } catch (e) {
        // Keep what arrived before the connection broke: the retry continues after it.
        w.close();
        await w.settled();
        if (this.signal.aborted) throw abortError(this.signal);
        if (e instanceof Permanent) throw e.error;
        if (this.sink.failure) throw this.sinkError().error;
        if (!isTransient(e)) throw e;
        failures = p.written > before ? 1 : failures + 1;
        if (failures > this.env.settings.retries) {
          throw new KilnError('E_REGISTRY', `${this.client.host}: blob ${this.digest} part ${p.idx} failed ${failures} times: ${(e as Error).message}`, { cause: e });
        }
        this.env.log(`pull ${this.digest.slice(7, 19)} part ${p.idx}: ${(e as Error).message}; retrying`);
        await sleep(backoff(this.env.settings.retryDelayMs, failures), this.signal);
      } finally {
        w.close();
      }
    }
  }

  /** One request for the rest of part `p`, its bytes written through `w`. */
  private async fetchOnce(p: Part, w: StreamWriter): Promise<void> {
    const from = p.start + p.written;
    const len = p.end - p.start;
    const target = this.resolvedUrl ?? this.blobUrl;
    if (this.rawTarget === target.href && (await this.rawPart(p, target, w))) {
      await w.settled();
      if (this.sink.failure) throw this.sinkError();
      return;
    }
    const { stallMs } = this.env.settings;
    const res = await this.client.send(target, { headers: { range: `bytes=${from}-${p.end - 1}` }, bodyTimeout: stallMs, headersTimeout: stallMs, signal: this.signal });
    if (res.url.origin !== this.blobUrl.origin) this.resolvedUrl = res.url;
    const skip = await this.acceptAnswer(res, p, from);
    try {
      await this.copyBody(res, p, w, skip);
    } catch (e) {
      if (this.sink.failure) throw this.sinkError();
      throw e;
    }
    await w.settled();
    if (this.sink.failure) throw this.sinkError();
    if (p.written < len) throw Object.assign(new Error(`connection closed after ${p.written} of ${len} bytes of part ${p.idx}`), { code: 'UND_ERR_SOCKET' });
  }

  /**
   * Checks that the registry's answer carries the range asked for (or the
   * whole blob, when it ignores Range); returns how many leading bytes of the
   * body to skip. Throws Permanent for answers that asking again will not mend.
   */
  private async acceptAnswer(res: RegistryResponse, p: Part, from: number): Promise<number> {
    const { client, digest, size } = this;
    if (res.status === 206) {
      const cr = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(String(res.headers['content-range'] ?? ''));
      if (!cr || Number(cr[1]) !== from || Number(cr[2]) > p.end - 1) {
        discard(res.body);
        throw new Permanent(new KilnError('E_REGISTRY', `${client.host}: blob ${digest} answered range ${from}-${p.end - 1} with ${String(res.headers['content-range'])}`));
      }
      if (cr[3] !== '*' && Number(cr[3]) !== size) {
        discard(res.body);
        throw new Permanent(sizeMismatch(digest, Number(cr[3]), size));
      }
      if (res.url.protocol === 'http:' && client.ownSockets) this.rawTarget = res.url.href;
      return 0;
    }
    if (res.status === 200) {
      // Range ignored: the whole blob comes; skip to this part.
      const cl = res.headers['content-length'];
      if (cl !== undefined && Number(cl) !== size) {
        discard(res.body);
        throw new Permanent(sizeMismatch(digest, Number(cl), size));
      }
      return from;
    }
    if (res.status === 416) {
      discard(res.body);
      throw new Permanent(new KilnError('E_REGISTRY', `${client.host}: blob ${digest} is shorter than the ${size} bytes the manifest declares`));
    }
    if (this.resolvedUrl && res.url.href === this.resolvedUrl.href && res.status >= 400) {
      // A signed CDN URL may expire mid-pull: go back to the registry for a fresh one.
      this.resolvedUrl = undefined;
      this.rawTarget = undefined;
      discard(res.body);
      throw Object.assign(new Error('redirect target refused'), { code: 'ECONNRESET' });
    }
    const why = await describeError(res);
    const code = res.status === 401 || res.status === 403 ? 'E_UNAUTHORIZED' : 'E_REGISTRY';
    throw new Permanent(new KilnError(code, `${client.host}: GET blob ${digest}: ${res.status} ${why}`));
  }

  /** Writes the body's bytes of part `p` (after `skip` bytes) through `w`. */
  private async copyBody(res: RegistryResponse, p: Part, w: StreamWriter, skip: number): Promise<void> {
    for await (const raw of res.body) {
      let chunk = raw as Buffer;
      if (skip > 0) {
        if (chunk.length <= skip) {
          skip -= chunk.length;
          continue;
        }
        chunk = chunk.subarray(skip);
        skip = 0;
      }
      const room = p.end - w.queued;
      if (chunk.length > room) {
        if (res.status === 200) {
          if (room > 0) await w.put(chunk.subarray(0, room));
          discard(res.body);
          break;
        }
        discard(res.body);
        throw new Permanent(new KilnError('E_REGISTRY', `${this.client.host}: blob ${this.digest} sent more bytes than the range asked for (longer than declared?)`));
      }
      await w.put(chunk);
    }
  }

  private rawOpen(p: Part, target: URL): Promise<RawGet> {
    const from = p.start + p.written;
    const headers = { 'user-agent': 'kiln', range: `bytes=${from}-${p.end - 1}`, ...this.client.authHeaders(target) };
    const g = RawGet.open(target, headers, { timeoutMs: this.env.settings.stallMs, signal: this.signal });
    g.catch(() => {}); // observed where it is used
    return g;
  }

  /** One Range request of part `p` read with raw-http.ts; false when the answer is for the full client to judge. */
  private async rawPart(p: Part, target: URL, w: StreamWriter): Promise<boolean> {
    const from = p.start + p.written;
    let sent = this.ahead.get(p);
    this.ahead.delete(p);
    if (!sent || from !== p.start) {
      sent?.then((g) => g.destroy(), () => {});
      sent = this.rawOpen(p, target);
    }
    const g = await sent;
    try {
      const cr = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(g.head.headers['content-range'] ?? '');
      if (g.head.status !== 206 || !cr || Number(cr[1]) !== from || Number(cr[2]) !== p.end - 1 || Number(cr[3]) !== this.size || g.contentLength !== p.end - from) return false;
      const q = this.pending[this.next];
      if (this.allowed === 1 && !this.probe && q && q.written === 0 && !this.ahead.has(q)) this.ahead.set(q, this.rawOpen(q, target));
      const sink = this.sink;
      const off = sink.onWake(() => (sink.failure ? g.abort(this.sinkError()) : g.resume()));
      try {
        await g.read(w);
      } finally {
        off();
      }
      return true;
    } finally {
      g.destroy();
    }
  }

  /**
   * All bytes are in: checks the sha256 and moves the file into the store.
   * A mismatch drops the partial download; a resumed one is then tried once
   * more from nothing (throws Restart).
   */
  private async verifyAndCommit(): Promise<void> {
    const { digest, size, path } = this;
    await this.sink.drain();
    this.checkpoint();
    const hex = await this.hasher.finish();
    if (`sha256:${hex}` !== digest) {
      dropPartial(this.env.store, digest, path);
      if (this.resumed > 0) {
        // The bytes kept from before may be what is wrong (a partial file
        // damaged outside kiln): one more try from nothing decides.
        this.env.log(`pull ${digest.slice(7, 19)}: resumed download did not verify; downloading it again from the start`);
        throw new Restart();
      }
      throw new KilnError('E_DIGEST_MISMATCH', `${this.client.host}: the bytes of blob ${digest} hash to sha256:${hex}; nothing was kept`);
    }
    await this.fh.close();
    // One commit makes it visible, marks it unsynced and drops the partial
    // state: the blob row never survives a crash without its unsynced mark.
    this.env.store.blobs.adopt(path, digest, size, () => this.env.store.downloads.markCommitted(digest, bootId()));
    this.env.committed(digest);
    this.owner.emit(size);
  }

  /** Releases what the transfer holds, whether it succeeded or not. */
  private async finish(): Promise<void> {
    for (const g of this.ahead.values()) g.then((r) => r.destroy(), () => {});
    clearInterval(this.cpTimer);
    clearInterval(this.syncTimer);
    this.hasher.close();
    await this.sink.settle();
    await this.fh.close().catch(() => {});
  }
}
