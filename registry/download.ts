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
 *
 * This file shares transfers between pulls and owns what outlives one
 * (pins, background syncs, recovery, pruning); one transfer's steps are in
 * transfer.ts.
 */
import { mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { blobFileName, digestFromBlobFileName, type Digest } from '../common/digest.js';
import { KilnError } from '../common/errors.js';
import type { Descriptor } from '../common/manifest.js';
import type { Store } from '../store/index.js';
import { abortError, type RegistryClient } from './client.js';
import { hashFile } from './prefix-hash.js';
import { bootId, dropPartial, Transfer, type DownloadSettings, type TransferOwner } from './transfer.js';

export { bootId, choosePartSize, splitParts, type DownloadSettings } from './transfer.js';

type Listener = (completed: number) => void;

/** The transfer of one digest, shared by every pull that wants it: progress out, one abort. */
class Shared implements TransferOwner {
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
  private readonly active = new Map<Digest, Shared>();
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
      const fresh = new Shared();
      fresh.done = this.download(client, repo, desc, fresh).finally(() => {
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

  private forget(digest: Digest): void {
    dropPartial(this.store, digest, this.partialPath(digest));
  }

  /** Runs transfers of one blob until one needs no restart (at most two: a restart starts from nothing). */
  private async download(client: RegistryClient, repo: string, desc: Descriptor, shared: Shared): Promise<void> {
    const env = { store: this.store, settings: this.settings, log: this.log, committed: (d: Digest) => this.syncLater(d) };
    for (let fresh = false; await new Transfer(env, client, repo, desc, shared, this.partialPath(desc.digest)).run(fresh); fresh = true);
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
