/**
 * The download tables (migrations/0002_downloads.sql): partial blobs and
 * their parts' progress, and blobs committed before their data was synced.
 * registry/ (download.ts, transfer.ts) decides what to fetch and when to checkpoint; the SQL
 * is here.
 *
 * Part checkpoints go through a second connection to the same database with
 * `synchronous = NORMAL`: in WAL mode its commits survive a killed process
 * (which is what `written` promises) without an fsync each. With FULL, ten
 * fsyncs a second queue behind the writeback of the blob being downloaded
 * and stall the event loop (measured: about 1 s per GiB pulled).
 */
import Database from 'better-sqlite3';
import type { Digest } from '../common/digest.js';
import type { DB } from './db.js';

/** A partial download as recorded. */
export interface PartialBlob {
  size: number;
  partSize: number;
  /** The boot whose page cache holds the `written` bytes. */
  bootId: string;
}

/** One part's progress: `written` bytes are in the file (page cache), `synced` ones survived an fdatasync. */
export interface PartProgress {
  idx: number;
  written: number;
  synced: number;
}

export class DownloadTables {
  private side: DB | undefined;

  constructor(private readonly db: DB) {}

  partial(digest: Digest): PartialBlob | undefined {
    const row = this.db.prepare('SELECT size, part_size, boot_id FROM partial_blobs WHERE digest = ?').get(digest) as
      | { size: number; part_size: number; boot_id: string }
      | undefined;
    return row && { size: row.size, partSize: row.part_size, bootId: row.boot_id };
  }

  parts(digest: Digest): PartProgress[] {
    return this.db.prepare('SELECT idx, written, synced FROM partial_parts WHERE digest = ? ORDER BY idx').all(digest) as PartProgress[];
  }

  /**
   * Claims a resumed download for this boot. When its `written` figures are
   * not to be trusted (another boot's page cache), they fall back to `synced`.
   */
  resume(digest: Digest, bootId: string, trustWritten: boolean): void {
    this.db.transaction(() => {
      if (!trustWritten) this.db.prepare('UPDATE partial_parts SET written = synced WHERE digest = ?').run(digest);
      this.db.prepare('UPDATE partial_blobs SET boot_id = ?, updated_at = ? WHERE digest = ?').run(bootId, Date.now(), digest);
    })();
  }

  /** Records a download starting from nothing, with `parts` parts at zero. */
  begin(digest: Digest, size: number, partSize: number, parts: number, bootId: string): void {
    this.db.transaction(() => {
      this.db.prepare('DELETE FROM partial_blobs WHERE digest = ?').run(digest);
      this.db.prepare('INSERT INTO partial_blobs (digest, size, part_size, boot_id, updated_at) VALUES (?, ?, ?, ?, ?)').run(digest, size, partSize, bootId, Date.now());
      const ins = this.db.prepare('INSERT INTO partial_parts (digest, idx, written, synced) VALUES (?, ?, 0, 0)');
      for (let idx = 0; idx < parts; idx++) ins.run(digest, idx);
    })();
  }

  /** Drops a partial download's rows (its parts go with it). */
  forget(digest: Digest): void {
    this.db.prepare('DELETE FROM partial_blobs WHERE digest = ?').run(digest);
  }

  partialDigests(): Digest[] {
    return (this.db.prepare('SELECT digest FROM partial_blobs').all() as { digest: Digest }[]).map((r) => r.digest);
  }

  /** Saves parts' `written` in one commit on the checkpoint connection. */
  saveWritten(digest: Digest, parts: readonly { idx: number; written: number }[]): void {
    if (!parts.length) return;
    const side = this.checkpointDb();
    const set = side.prepare('UPDATE partial_parts SET written = ? WHERE digest = ? AND idx = ?');
    side.transaction(() => parts.forEach((p) => set.run(p.written, digest, p.idx)))();
  }

  /** Raises parts' `synced` to what an fdatasync just made durable (`written[i]` for part i). */
  saveSynced(digest: Digest, written: readonly number[]): void {
    const set = this.db.prepare('UPDATE partial_parts SET synced = ? WHERE digest = ? AND idx = ? AND synced < ?');
    this.db.transaction(() => written.forEach((w, idx) => set.run(w, digest, idx, w)))();
  }

  /**
   * For BlobStore.adopt's transaction: the blob is in the store but its data
   * not yet synced, and its partial state is gone.
   */
  markCommitted(digest: Digest, bootId: string): void {
    this.db.prepare('INSERT OR REPLACE INTO unsynced_blobs (digest, boot_id) VALUES (?, ?)').run(digest, bootId);
    this.forget(digest);
  }

  /** The blob's data is synced: drop its row (only if it is this boot's; a no-op once the store is closed). */
  markSynced(digest: Digest, bootId?: string): void {
    if (!this.db.open) return;
    if (bootId === undefined) this.db.prepare('DELETE FROM unsynced_blobs WHERE digest = ?').run(digest);
    else this.db.prepare('DELETE FROM unsynced_blobs WHERE digest = ? AND boot_id = ?').run(digest, bootId);
  }

  unsynced(): { digest: Digest; bootId: string }[] {
    return (this.db.prepare('SELECT digest, boot_id FROM unsynced_blobs').all() as { digest: Digest; boot_id: string }[]).map((r) => ({
      digest: r.digest,
      bootId: r.boot_id,
    }));
  }

  private checkpointDb(): DB {
    if (!this.side?.open) {
      this.side = new Database(this.db.name);
      this.side.pragma('journal_mode = WAL');
      this.side.pragma('synchronous = NORMAL');
      this.side.pragma('busy_timeout = 5000');
    }
    return this.side;
  }

  /** Closes the checkpoint connection (reopened when needed). */
  closeCheckpoints(): void {
    this.side?.close();
    this.side = undefined;
  }
}
