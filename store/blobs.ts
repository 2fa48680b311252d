import { createHash, randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, readdirSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { KilnError } from '../common/errors.js';
import { blobFileName, digestFromBlobFileName, type Digest } from '../common/digest.js';
import type { DB } from './db.js';

const TEMP_PREFIX = '.tmp-';

export interface BlobInfo {
  digest: Digest;
  size: number;
}

function ioError(e: unknown, what: string): KilnError {
  const code = (e as NodeJS.ErrnoException)?.code;
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return new KilnError('E_NO_SPACE', `no space left on device while ${what}`, { cause: e });
  }
  if (e instanceof KilnError) return e;
  return new KilnError('E_INTERNAL', `${what}: ${(e as Error).message}`, { cause: e });
}

/** fsync a directory so a rename into it survives power loss. */
function syncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Content-addressed blob files, `sha256-<hex>` under one folder. A blob is
 * written to a temp file in the same folder, hashed as it is written, fsynced,
 * checked against the expected digest and only then renamed into place and
 * recorded, so a crash at any point leaves either no blob or a whole one.
 * The path is only ever built from a validated digest.
 */
export class BlobStore {
  readonly dir: string;
  /** Pin counts by digest (see pin()). */
  private readonly pins = new Map<Digest, number>();
  /** Pinned blobs that a removal asked for while pinned: removed at their last unpin if still unreferenced. */
  private readonly deferred = new Set<Digest>();

  constructor(
    private readonly db: DB,
    dir: string,
  ) {
    this.dir = dir;
    mkdirSync(dir, { recursive: true });
  }

  path(digest: Digest): string {
    return join(this.dir, blobFileName(digest));
  }

  /** The recorded size of a complete blob, or undefined when it is not in the store. */
  size(digest: Digest): number | undefined {
    const row = this.db.prepare('SELECT size FROM blobs WHERE digest = ?').get(digest) as { size: number } | undefined;
    if (!row) return undefined;
    try {
      if (statSync(this.path(digest)).size !== row.size) return undefined;
    } catch {
      return undefined;
    }
    return row.size;
  }

  has(digest: Digest): boolean {
    return this.size(digest) !== undefined;
  }

  private tempPath(): string {
    return join(this.dir, TEMP_PREFIX + randomBytes(8).toString('hex'));
  }

  private commit(tmp: string, digest: Digest, size: number): void {
    renameSync(tmp, this.path(digest));
    syncDir(this.dir);
    this.db
      .prepare('INSERT INTO blobs (digest, size, created_at) VALUES (?, ?, ?) ON CONFLICT(digest) DO UPDATE SET size = excluded.size')
      .run(digest, size, Date.now());
  }

  /**
   * Moves a complete file that the caller has already verified (same
   * filesystem as the store) into place under `digest` and records it, with
   * `alsoInTransaction` run in the same transaction. Neither the data nor the
   * rename is synced here: the caller owns durability (registry/transfer.ts
   * records the blob as unsynced in that transaction and syncs it after).
   */
  adopt(file: string, digest: Digest, size: number, alsoInTransaction?: () => void): void {
    try {
      renameSync(file, this.path(digest));
      this.db.transaction(() => {
        this.db
          .prepare('INSERT INTO blobs (digest, size, created_at) VALUES (?, ?, ?) ON CONFLICT(digest) DO UPDATE SET size = excluded.size')
          .run(digest, size, Date.now());
        alsoInTransaction?.();
      })();
    } catch (e) {
      throw ioError(e, `storing blob ${digest}`);
    }
  }

  /** Stores bytes held in memory (small layers: template, params, config). */
  writeBuffer(data: Uint8Array): BlobInfo {
    const digest = `sha256:${createHash('sha256').update(data).digest('hex')}` as Digest;
    if (this.has(digest)) return { digest, size: data.byteLength };
    const tmp = this.tempPath();
    try {
      const fd = openSync(tmp, 'wx', 0o644);
      try {
        let off = 0;
        while (off < data.byteLength) off += writeSync(fd, data, off);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      this.commit(tmp, digest, data.byteLength);
    } catch (e) {
      rmSync(tmp, { force: true });
      throw ioError(e, `writing blob ${digest}`);
    }
    return { digest, size: data.byteLength };
  }

  /**
   * Streams a blob into the store. With `expected`, bytes that do not hash to it
   * are discarded and the call fails with E_DIGEST_MISMATCH; nothing is kept.
   */
  async writeStream(source: AsyncIterable<Uint8Array>, expected?: Digest, opts: { signal?: AbortSignal } = {}): Promise<BlobInfo> {
    const tmp = this.tempPath();
    const hash = createHash('sha256');
    let size = 0;
    let fh;
    try {
      fh = await open(tmp, 'wx', 0o644);
      for await (const chunk of source) {
        if (opts.signal?.aborted) throw new KilnError('E_CANCELLED', 'upload aborted');
        hash.update(chunk);
        let off = 0;
        while (off < chunk.byteLength) {
          const { bytesWritten } = await fh.write(chunk, off, chunk.byteLength - off);
          off += bytesWritten;
        }
        size += chunk.byteLength;
      }
      await fh.sync();
      await fh.close();
      fh = undefined;
      const digest = `sha256:${hash.digest('hex')}` as Digest;
      if (expected && digest !== expected) {
        throw new KilnError('E_DIGEST_MISMATCH', `digest mismatch: expected ${expected}, got ${digest}`);
      }
      this.commit(tmp, digest, size);
      return { digest, size };
    } catch (e) {
      await fh?.close().catch(() => {});
      await rm(tmp, { force: true });
      throw ioError(e, 'writing blob');
    }
  }

  /** A fresh temp path inside the blob folder, for a producer (quantizer, download) that writes a file itself. */
  tempFile(): string {
    return this.tempPath();
  }

  /**
   * Takes a finished file that was written to `tempFile()` into the store: it
   * is hashed, fsynced and renamed (same folder, so no copy).
   */
  async adoptTempFile(tmp: string): Promise<BlobInfo> {
    try {
      const hash = createHash('sha256');
      let size = 0;
      const fh = await open(tmp, 'r');
      try {
        for await (const chunk of fh.createReadStream({ highWaterMark: 1 << 20, autoClose: false })) {
          hash.update(chunk as Buffer);
          size += (chunk as Buffer).byteLength;
        }
        await fh.sync();
      } finally {
        await fh.close();
      }
      const digest = `sha256:${hash.digest('hex')}` as Digest;
      this.commit(tmp, digest, size);
      return { digest, size };
    } catch (e) {
      await rm(tmp, { force: true });
      throw ioError(e, 'storing a blob');
    }
  }

  /**
   * Keeps blobs in the store while an operation relies on them before a
   * manifest references them: a pull that has counted a blob as present (or
   * is fetching it), an import, a create. Every removal path goes through
   * removeIfUnreferenced, which passes over pinned blobs. Returns the release,
   * which is idempotent. Pins live in memory: one daemon holds the store.
   *
   * A removal that meets a pinned, unreferenced blob is deferred, not
   * dropped: at its last release the blob is removed if nothing references
   * it by then (so deleting A while B's pull holds their shared layer removes
   * it once B's pull fails, and never once B's manifest names it). A pinned
   * blob that no removal asked for stays when released (a cancelled pull's
   * finished layers are kept for the next try; `kiln prune` removes them).
   */
  pin(digests: Iterable<Digest>): () => void {
    const mine = [...digests];
    for (const d of mine) this.pins.set(d, (this.pins.get(d) ?? 0) + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const due: Digest[] = [];
      for (const d of mine) {
        const n = (this.pins.get(d) ?? 1) - 1;
        if (n > 0) this.pins.set(d, n);
        else {
          this.pins.delete(d);
          if (this.deferred.delete(d)) due.push(d);
        }
      }
      if (due.length > 0 && this.db.open) this.removeIfUnreferenced(due);
    };
  }

  isPinned(digest: Digest): boolean {
    return this.pins.has(digest);
  }

  /** Digests among `candidates` that no model references any more. */
  unreferenced(candidates: Iterable<Digest>): Digest[] {
    const q = this.db.prepare('SELECT 1 FROM model_blobs WHERE digest = ? LIMIT 1');
    return [...new Set(candidates)].filter((d) => !q.get(d));
  }

  /**
   * Removes blobs (row first, then file) that no model references and no
   * one has pinned; a pinned one is removed at its last release instead
   * (see pin()). Returns the digests removed now.
   */
  removeIfUnreferenced(candidates: Iterable<Digest>): Digest[] {
    const now: Digest[] = [];
    for (const d of this.unreferenced(candidates)) {
      if (this.pins.has(d)) this.deferred.add(d);
      else now.push(d);
    }
    const gone = this.db.transaction((ds: Digest[]) => {
      const del = this.db.prepare('DELETE FROM blobs WHERE digest = ?');
      for (const d of ds) del.run(d);
      return ds;
    })(now);
    for (const d of gone) rmSync(this.path(d), { force: true });
    return gone;
  }

  /** Every recorded blob, by digest (for verify). */
  list(): BlobInfo[] {
    return this.db.prepare('SELECT digest, size FROM blobs ORDER BY digest').all() as BlobInfo[];
  }

  /**
   * Moves a blob whose bytes do not match its digest out of the store, to
   * `quarantine/` beside `blobs/`, for a human to look at. Its row goes too
   * unless a model still names it (that model then shows as broken until
   * pulled again). Returns where the file went.
   */
  quarantine(digest: Digest): string {
    const dir = join(this.dir, '..', 'quarantine');
    mkdirSync(dir, { recursive: true });
    const dest = join(dir, `${blobFileName(digest)}-${Date.now()}`);
    try {
      renameSync(this.path(digest), dest);
    } catch {
      /* already gone */
    }
    this.db.prepare('DELETE FROM blobs WHERE digest = ? AND digest NOT IN (SELECT digest FROM model_blobs)').run(digest);
    return dest;
  }

  /** Every blob that no model references (for prune). */
  allUnreferenced(): Digest[] {
    const rows = this.db
      .prepare('SELECT digest FROM blobs WHERE digest NOT IN (SELECT digest FROM model_blobs)')
      .all() as { digest: Digest }[];
    return rows.map((r) => r.digest);
  }

  /**
   * Brings files and rows back in line after a crash: temp files are deleted,
   * rows whose file is gone are dropped (unless a model needs them: those are
   * reported), and complete blob files without a row (renamed, then killed
   * before the insert) are recorded.
   */
  recover(): { removedTemp: number; adopted: number; missing: Digest[] } {
    let removedTemp = 0;
    let adopted = 0;
    const files = new Set<string>();
    for (const f of readdirSync(this.dir)) {
      // temp files, and the `.<temp>.partial` a quantizer child writes before renaming to its temp name
      if (f.startsWith(TEMP_PREFIX) || f.startsWith(`.${TEMP_PREFIX}`)) {
        rmSync(join(this.dir, f), { force: true });
        removedTemp++;
        continue;
      }
      files.add(f);
    }
    const rows = this.db.prepare('SELECT digest, size FROM blobs').all() as { digest: Digest; size: number }[];
    const known = new Set(rows.map((r) => blobFileName(r.digest)));
    const missing: Digest[] = [];
    const dropRow = this.db.prepare('DELETE FROM blobs WHERE digest = ? AND digest NOT IN (SELECT digest FROM model_blobs)');
    for (const r of rows) {
      if (!files.has(blobFileName(r.digest))) {
        if (dropRow.run(r.digest).changes === 0) missing.push(r.digest);
      }
    }
    const insert = this.db.prepare('INSERT OR IGNORE INTO blobs (digest, size, created_at) VALUES (?, ?, ?)');
    for (const f of files) {
      if (known.has(f)) continue;
      let digest: Digest;
      try {
        digest = digestFromBlobFileName(f);
      } catch {
        continue; // not ours: leave foreign files alone
      }
      insert.run(digest, statSync(join(this.dir, f)).size, Date.now());
      adopted++;
    }
    return { removedTemp, adopted, missing };
  }
}
