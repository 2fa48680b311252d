/**
 * Blob downloads: parallel `Range` parts into a pre-sized partial file, part
 * progress checkpointed in SQLite, resumable after a kill, hashed while it
 * arrives, visible in the store only once its size and sha256 match.
 *
 * Layout: `$KILN_MODELS/partial/sha256-<hex>`, beside `blobs/` (same
 * filesystem, so the final step is a rename). Parts have a fixed size per
 * blob; up to `connections` of them are in flight (more only while more are
 * faster), always the lowest-numbered ones still missing, so the complete
 * prefix grows steadily and the hasher (prefix-hash.ts) keeps up with the
 * network instead of starting at the end.
 *
 * Durability: `written` per part is checkpointed every 100 ms; those bytes
 * are in the page cache and survive a killed process. Every few seconds the
 * file is fdatasync'ed and `synced` follows. After a reboot (a different
 * /proc boot_id) only `synced` is trusted. A finished blob is renamed into the
 * store before its data is synced — fsync of a GB costs seconds on this kind
 * of disk, more than the download — and tracked in `unsynced_blobs` until a
 * background sync completes; a row left from an earlier boot makes
 * `recover()` hash that blob again.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { KilnError } from '../common/errors.js';
import type { Store } from '../store/index.js';
import { abortError, backoff, describeError, discard, isTransient, sleep, type RegistryClient } from './client.js';
import { blobFileName, digestFromBlobFileName, type Digest } from '../common/digest.js';
import type { Descriptor } from '../common/manifest.js';
import { BlobSink, StreamWriter } from './blob-sink.js';
import { hashFile, prefixHasher } from './prefix-hash.js';
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

interface Part {
  idx: number;
  start: number;
  end: number; // exclusive
  written: number;
}

function ioFailure(e: unknown, what: string): unknown {
  const code = (e as NodeJS.ErrnoException)?.code;
  if (code === 'ENOSPC' || code === 'EDQUOT') return new KilnError('E_NO_SPACE', `no space left on device while ${what}; free some space and pull again (the download resumes)`, { cause: e });
  return e;
}

/** Thrown inside a transfer to run it once more from an empty file. */
class Restart extends Error {}

/** A registry answer that will not get better by asking again. */
class Permanent extends Error {
  constructor(readonly error: KilnError) {
    super(error.message);
  }
}

type Listener = (completed: number) => void;

/** One transfer of one digest, shared by every pull that wants it. */
class Transfer {
  readonly listeners = new Set<Listener>();
  readonly ac = new AbortController();
  completed = 0;
  done!: Promise<void>;

  emit(n: number): void {
    this.completed = n;
    for (const l of this.listeners) l(n);
  }
}

export class Downloader {
  readonly partialDir: string;
  private readonly active = new Map<Digest, Transfer>();
  private readonly syncs = new Set<Promise<void>>();

  constructor(
    private readonly store: Store,
    private readonly settings: DownloadSettings,
    private readonly log: (m: string) => void = () => {},
  ) {
    this.partialDir = join(store.blobs.dir, '..', 'partial');
    mkdirSync(this.partialDir, { recursive: true });
  }

  /** Closes the store's checkpoint connection (kept open while transfers run). */
  close(): void {
    this.store.downloads.closeCheckpoints();
  }

  /** Pulls (and imports) holding pins through pin(), for syncLater. */
  private pinHolders = 0;

  /**
   * Keeps blobs in the store (store.blobs.pin: no removal path takes them)
   * between the moment a pull counts them as present or fetches them and the
   * manifest that will reference them. Returns the release.
   */
  pin(digests: Digest[]): () => void {
    const unpin = this.store.blobs.pin(digests);
    this.pinHolders++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.pinHolders--;
      unpin();
      if (this.pinHolders === 0) this.startSyncs();
    };
  }

  isPinned(digest: Digest): boolean {
    return this.store.blobs.isPinned(digest) || this.active.has(digest);
  }

  /** Digests being downloaded right now. */
  inProgress(): Digest[] {
    return [...this.active.keys()];
  }

  /**
   * Puts one blob in the store unless it is there already. Concurrent calls
   * for one digest share a single transfer; each caller gets progress and may
   * leave (abort) without stopping it for the others.
   */
  async fetch(client: RegistryClient, repo: string, desc: Descriptor, onProgress: Listener, signal?: AbortSignal): Promise<void> {
    const have = this.store.blobs.size(desc.digest);
    if (have !== undefined) {
      if (have !== desc.size) throw new KilnError('E_DIGEST_MISMATCH', `blob ${desc.digest} is ${have} bytes here but the manifest says ${desc.size}`);
      onProgress(desc.size);
      return;
    }
    let t = this.active.get(desc.digest);
    if (t?.ac.signal.aborted) {
      // Everyone left that one and it is winding down: let it checkpoint, then resume it afresh.
      await t.done.catch(() => {});
      t = this.active.get(desc.digest);
    }
    if (!t) {
      const fresh = new Transfer();
      fresh.done = this.transfer(client, repo, desc, fresh).finally(() => {
        this.active.delete(desc.digest);
        if (this.active.size === 0) this.close();
      });
      fresh.done.catch(() => {});
      this.active.set(desc.digest, fresh);
      t = fresh;
    }
    const transfer = t;
    transfer.listeners.add(onProgress);
    onProgress(transfer.completed);
    const leave = () => {
      transfer.listeners.delete(onProgress);
      if (transfer.listeners.size === 0) transfer.ac.abort(signal?.reason);
    };
    try {
      await new Promise<void>((resolve, reject) => {
        if (signal?.aborted) return reject(abortError(signal));
        const onAbort = () => reject(abortError(signal!));
        signal?.addEventListener('abort', onAbort, { once: true });
        transfer.done.then(resolve, reject).finally(() => signal?.removeEventListener('abort', onAbort));
      });
    } finally {
      leave();
    }
  }

  private partialPath(digest: Digest): string {
    return join(this.partialDir, blobFileName(digest));
  }

  /** Parts of a download, resumed from the database when the file is still there. */
  private loadParts(digest: Digest, size: number): { parts: Part[]; partSize: number; resumed: number } {
    const table = this.store.downloads;
    const path = this.partialPath(digest);
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
        return { parts, partSize: row.partSize, resumed: parts.reduce((s, p) => s + p.written, 0) };
      }
    }
    // Nothing usable: start over.
    rmSync(path, { force: true });
    const partSize = choosePartSize(size, this.settings.partSize);
    const parts = splitParts(size, partSize);
    table.begin(digest, size, partSize, parts.length, bootId());
    return { parts, partSize, resumed: 0 };
  }

  private forget(digest: Digest): void {
    this.store.downloads.forget(digest);
    rmSync(this.partialPath(digest), { force: true });
  }

  private async transfer(client: RegistryClient, repo: string, desc: Descriptor, t: Transfer, fresh = false): Promise<void> {
    const { digest, size } = desc;
    const signal = t.ac.signal;
    const path = this.partialPath(digest);
    if (fresh) this.forget(digest);
    const { parts, resumed } = this.loadParts(digest, size);

    let fh: FileHandle;
    try {
      fh = await open(path, existsSync(path) ? 'r+' : 'w+', 0o644);
      // Pre-sized: every part writes at its own offset from the start.
      if ((await fh.stat()).size !== size) await fh.truncate(size);
    } catch (e) {
      throw ioFailure(e, `creating ${path}`);
    }

    const hasher = prefixHasher(path, size);
    let restart = false;
    let prefixIdx = 0;
    /** End of the complete prefix of the file. */
    const prefixEnd = () => {
      while (prefixIdx < parts.length && parts[prefixIdx].written === parts[prefixIdx].end - parts[prefixIdx].start) prefixIdx++;
      return prefixIdx < parts.length ? parts[prefixIdx].start + parts[prefixIdx].written : size;
    };
    let completed = parts.reduce((s, p) => s + p.written, 0);
    const total = () => completed;
    const sink = new BlobSink(fh.fd, hasher, prefixEnd, (e) => ioFailure(e, `writing ${path}`));
    hasher.post([], prefixEnd()); // a resumed download's bytes on disk hash while the rest arrives
    t.emit(total());

    // Checkpoints: `written` often, `synced` after an fdatasync now and then.
    const saved = new Map(parts.map((p) => [p.idx, p.written]));
    const checkpoint = () => {
      const changed = parts.filter((p) => saved.get(p.idx) !== p.written).map((p) => ({ idx: p.idx, written: p.written }));
      if (!changed.length) return;
      this.store.downloads.saveWritten(digest, changed);
      for (const p of changed) saved.set(p.idx, p.written);
    };
    let syncing = false;
    const syncNow = async () => {
      if (syncing) return;
      syncing = true;
      try {
        const snapshot = parts.map((p) => p.written);
        await fh.datasync();
        this.store.downloads.saveSynced(digest, snapshot);
      } catch {
        /* a later sync or the resume check covers it */
      } finally {
        syncing = false;
      }
    };
    const cpTimer = setInterval(() => {
      try {
        checkpoint();
      } catch {
        /* disk full or db busy: the next one retries */
      }
    }, CHECKPOINT_MS);
    const syncTimer = setInterval(() => void syncNow(), SYNC_MS);

    const blobUrl = client.url(`/v2/${repo}/blobs/${digest}`);
    let resolvedUrl: URL | undefined; // where the registry redirected a blob GET (a CDN), reused by later parts

    // Plain-http targets that answered a Range request through the full client
    // are read with raw-http.ts afterwards (auth and redirects are settled by then).
    let rawTarget: string | undefined;
    let pendingParts: Part[] = [];
    let next = 0;
    let allowed = 1;
    let probe: { phase: 0 | 1 | 2; at: number; bytes: number; parts: number; rate1?: number } | undefined;
    const sinkError = () => {
      const e = sink.failure;
      return new Permanent(e instanceof KilnError ? e : new KilnError('E_INTERNAL', String((e as Error)?.message ?? e)));
    };

    /** Raw requests sent ahead for the part a lone connection takes next, so the registry's answer time overlaps this part's body. */
    const ahead = new Map<Part, Promise<RawGet>>();
    const rawOpen = (p: Part, target: URL): Promise<RawGet> => {
      const from = p.start + p.written;
      const headers = { 'user-agent': 'kiln', range: `bytes=${from}-${p.end - 1}`, ...client.authHeaders(target) };
      const g = RawGet.open(target, headers, { timeoutMs: this.settings.stallMs, signal });
      g.catch(() => {}); // observed where it is used
      return g;
    };

    /** One Range request of part `p` read with raw-http.ts; false when the answer is for the full client to judge. */
    const rawPart = async (p: Part, target: URL, w: StreamWriter): Promise<boolean> => {
      const from = p.start + p.written;
      let pending = ahead.get(p);
      ahead.delete(p);
      if (!pending || from !== p.start) {
        pending?.then((g) => g.destroy(), () => {});
        pending = rawOpen(p, target);
      }
      const g = await pending;
      try {
        const cr = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(g.head.headers['content-range'] ?? '');
        if (g.head.status !== 206 || !cr || Number(cr[1]) !== from || Number(cr[2]) !== p.end - 1 || Number(cr[3]) !== size || g.contentLength !== p.end - from) return false;
        const q = pendingParts[next];
        if (allowed === 1 && !probe && q && q.written === 0 && !ahead.has(q)) ahead.set(q, rawOpen(q, target));
        const off = sink.onWake(() => (sink.failure ? g.abort(sinkError()) : g.resume()));
        try {
          await g.read(w);
        } finally {
          off();
        }
        return true;
      } finally {
        g.destroy();
      }
    };

    const fetchPart = async (p: Part): Promise<void> => {
      const len = p.end - p.start;
      let failures = 0;
      while (p.written < len) {
        const from = p.start + p.written;
        const before = p.written;
        // `p.written` follows only the writes that completed in order, so a
        // checkpoint never counts bytes that are not in the file.
        const w = new StreamWriter(sink, from, p.end, (end) => {
          completed += end - p.start - p.written;
          p.written = end - p.start;
          t.emit(completed);
        });
        try {
          const target = resolvedUrl ?? blobUrl;
          if (rawTarget === target.href && (await rawPart(p, target, w))) {
            await w.settled();
            if (sink.failure) throw sinkError();
            continue;
          }
          const res = await client.send(target, { headers: { range: `bytes=${from}-${p.end - 1}` }, bodyTimeout: this.settings.stallMs, headersTimeout: this.settings.stallMs, signal });
          if (res.url.origin !== blobUrl.origin) resolvedUrl = res.url;
          let skip = 0;
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
            if (res.url.protocol === 'http:' && client.ownSockets) rawTarget = res.url.href;
          } else if (res.status === 200) {
            // Range ignored: the whole blob comes; skip to this part.
            const cl = res.headers['content-length'];
            if (cl !== undefined && Number(cl) !== size) {
              discard(res.body);
              throw new Permanent(sizeMismatch(digest, Number(cl), size));
            }
            skip = from;
          } else if (res.status === 416) {
            discard(res.body);
            throw new Permanent(new KilnError('E_REGISTRY', `${client.host}: blob ${digest} is shorter than the ${size} bytes the manifest declares`));
          } else {
            if (resolvedUrl && res.url.href === resolvedUrl.href && res.status >= 400) {
              // A signed CDN URL may expire mid-pull: go back to the registry for a fresh one.
              resolvedUrl = undefined;
              rawTarget = undefined;
              discard(res.body);
              throw Object.assign(new Error('redirect target refused'), { code: 'ECONNRESET' });
            }
            const why = await describeError(res);
            const code = res.status === 401 || res.status === 403 ? 'E_UNAUTHORIZED' : 'E_REGISTRY';
            throw new Permanent(new KilnError(code, `${client.host}: GET blob ${digest}: ${res.status} ${why}`));
          }
          try {
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
                throw new Permanent(new KilnError('E_REGISTRY', `${client.host}: blob ${digest} sent more bytes than the range asked for (longer than declared?)`));
              }
              await w.put(chunk);
            }
          } catch (e) {
            if (sink.failure) throw sinkError();
            throw e;
          }
          await w.settled();
          if (sink.failure) throw sinkError();
          if (p.written < len) throw Object.assign(new Error(`connection closed after ${p.written} of ${len} bytes of part ${p.idx}`), { code: 'UND_ERR_SOCKET' });
        } catch (e) {
          // Keep what arrived before the connection broke: the retry continues after it.
          w.close();
          await w.settled();
          if (signal.aborted) throw abortError(signal);
          if (e instanceof Permanent) throw e.error;
          if (sink.failure) throw sinkError().error;
          if (!isTransient(e)) throw e;
          failures = p.written > before ? 1 : failures + 1;
          if (failures > this.settings.retries) {
            throw new KilnError('E_REGISTRY', `${client.host}: blob ${digest} part ${p.idx} failed ${failures} times: ${(e as Error).message}`, { cause: e });
          }
          this.log(`pull ${digest.slice(7, 19)} part ${p.idx}: ${(e as Error).message}; retrying`);
          await sleep(backoff(this.settings.retryDelayMs, failures), signal);
        } finally {
          w.close();
        }
      }
    };

    const pending = parts.filter((p) => p.written < p.end - p.start);
    pendingParts = pending;
    let failure: unknown;
    // Connections are added only while they help. Parallel parts beat the
    // per-connection limit of a long link (window / round trip); on a fast
    // local link one stream already saturates the CPU and more only cost it
    // (measured here on loopback, 2 cores: 1 connection used half the CPU of
    // 4 for the same GiB, and a second stream's bytes must be read back from
    // the file to be hashed). So: one part alone (which also settles auth and
    // a CDN redirect before anything runs in parallel, and is not timed), one
    // more alone, timed, then two at once; if two are clearly faster than
    // one, all of them, else back to one.
    const max = Math.max(1, Math.min(this.settings.connections, pending.length));
    let running = 0;
    let partsDone = 0;
    probe = max > 1 ? { phase: 0, at: 0, bytes: 0, parts: 0 } : undefined;
    // On loopback there is no per-connection limit to beat, only CPU to share
    // (and noise from whatever else runs): two streams must be much faster.
    const loopback = /^(127\.|localhost$|\[::1\]$)/.test(blobUrl.hostname);
    const workers: Promise<void>[] = [];
    const partDone = () => {
      partsDone++;
      if (!probe) return;
      const now = performance.now();
      const rate = (total() - probe.bytes) / Math.max(1, now - probe.at);
      if (probe.phase === 0) {
        probe = { phase: 1, at: now, bytes: total(), parts: partsDone };
      } else if (probe.phase === 1) {
        probe = { phase: 2, at: now, bytes: total(), parts: partsDone, rate1: rate };
        allowed = Math.min(2, max);
      } else if (partsDone - probe.parts >= 2) {
        allowed = rate > (loopback ? 1.6 : 1.25) * probe.rate1! ? max : 1;
        probe = undefined;
      }
      launch();
    };
    const worker = async () => {
      try {
        while (!failure && next < pending.length && running <= allowed) {
          const p = pending[next++];
          try {
            await fetchPart(p);
          } catch (e) {
            failure ??= e;
            if (!signal.aborted) t.ac.abort(e);
            return;
          }
          partDone();
        }
      } finally {
        running--;
      }
    };
    function launch(): void {
      while (running < allowed && next < pending.length && !failure) {
        running++;
        workers.push(worker());
      }
    }
    try {
      launch();
      for (let i = 0; i < workers.length; i++) await workers[i]; // the list grows as connections are added
      if (failure) throw failure;
      if (signal.aborted) throw abortError(signal);
      await sink.drain();
      checkpoint();
      const hex = await hasher.finish();
      if (`sha256:${hex}` !== digest) {
        this.forget(digest);
        if (resumed > 0) {
          // The bytes kept from before may be what is wrong (a partial file
          // damaged outside kiln): one more try from nothing decides.
          this.log(`pull ${digest.slice(7, 19)}: resumed download did not verify; downloading it again from the start`);
          throw new Restart();
        }
        throw new KilnError('E_DIGEST_MISMATCH', `${client.host}: the bytes of blob ${digest} hash to sha256:${hex}; nothing was kept`);
      }
      await fh.close();
      // One commit makes it visible, marks it unsynced and drops the partial
      // state: the blob row never survives a crash without its unsynced mark.
      this.store.blobs.adopt(path, digest, size, () => this.store.downloads.markCommitted(digest, bootId()));
      this.syncLater(digest);
      t.emit(size);
    } catch (e) {
      if (e instanceof Restart) {
        restart = true;
      } else {
        try {
          checkpoint();
        } catch {
          /* best effort: the resume re-fetches what was not recorded */
        }
        throw ioFailure(e, `pulling ${digest}`);
      }
    } finally {
      for (const g of ahead.values()) g.then((r) => r.destroy(), () => {});
      clearInterval(cpTimer);
      clearInterval(syncTimer);
      hasher.close();
      await sink.settle();
      await fh.close().catch(() => {});
    }
    if (restart) await this.transfer(client, repo, desc, t, true);
  }

  private readonly syncQueue = new Set<Digest>();

  /**
   * fsync a committed blob off the critical path, then drop its unsynced row.
   * It waits until no pull holds pins (so until the pull has written its
   * manifest): on ext4 an fdatasync of a GB entangles every SQLite commit made
   * meanwhile (they wait for the same journal commit), which would stall the
   * pull's last steps by seconds.
   */
  private syncLater(digest: Digest): void {
    this.syncQueue.add(digest);
    if (this.pinHolders === 0) this.startSyncs();
  }

  private startSyncs(): void {
    for (const digest of this.syncQueue) {
      this.syncQueue.delete(digest);
      const p = (async () => {
        try {
          const fh = await open(this.store.blobs.path(digest), 'r');
          try {
            await fh.datasync();
          } finally {
            await fh.close();
          }
          this.store.downloads.markSynced(digest, bootId());
        } catch {
          /* the row stays; recover() finishes the job at the next start */
        }
      })();
      this.syncs.add(p);
      void p.finally(() => this.syncs.delete(p));
    }
  }

  /** Waits until no transfer is winding down and background syncs are done (shutdown, tests). */
  async idle(): Promise<void> {
    await Promise.all([...this.active.values()].map((t) => t.done.catch(() => {})));
    this.startSyncs();
    await Promise.all([...this.syncs]);
  }

  /**
   * At start: sync or re-verify blobs whose sync did not finish, drop partial
   * files without a row and rows without a file.
   */
  async recover(): Promise<{ resynced: number; rehashed: number; corrupt: Digest[] }> {
    const table = this.store.downloads;
    let resynced = 0;
    let rehashed = 0;
    const corrupt: Digest[] = [];
    const rows = table.unsynced();
    for (const r of rows) {
      const file = this.store.blobs.path(r.digest);
      if (!this.store.blobs.has(r.digest)) {
        table.markSynced(r.digest);
        continue;
      }
      if (r.bootId === bootId()) {
        const fh = await open(file, 'r');
        await fh.datasync().finally(() => fh.close());
        resynced++;
      } else {
        rehashed++;
        if (`sha256:${await hashFile(file)}` !== r.digest) {
          corrupt.push(r.digest);
          this.store.blobs.quarantine(r.digest);
        }
      }
      table.markSynced(r.digest);
    }
    const rowsP = new Set(table.partialDigests());
    const files = new Set<Digest>();
    for (const f of readdirSync(this.partialDir)) {
      let d: Digest;
      try {
        d = digestFromBlobFileName(f);
      } catch {
        continue; // not ours
      }
      if (rowsP.has(d)) files.add(d);
      else rmSync(join(this.partialDir, f), { force: true });
    }
    for (const d of rowsP) if (!files.has(d)) table.forget(d);
    return { resynced, rehashed, corrupt };
  }

  /** Removes partial downloads that are not running now; returns the bytes freed. */
  prunePartials(): { removed: Digest[]; bytes: number } {
    const busy = new Set(this.active.keys());
    let bytes = 0;
    const removed: Digest[] = [];
    for (const digest of this.store.downloads.partialDigests()) {
      if (busy.has(digest)) continue;
      try {
        bytes += statSync(this.partialPath(digest)).size;
      } catch {
        /* already gone */
      }
      this.forget(digest);
      removed.push(digest);
    }
    return { removed, bytes };
  }
}

function sizeMismatch(digest: Digest, got: number, want: number): KilnError {
  return new KilnError('E_REGISTRY', `blob ${digest} is ${got} bytes on the registry but the manifest declares ${want}`);
}

export function splitParts(size: number, partSize: number): Part[] {
  const parts: Part[] = [];
  for (let start = 0, idx = 0; start < size; start += partSize, idx++) parts.push({ idx, start, end: Math.min(size, start + partSize), written: 0 });
  return parts;
}
