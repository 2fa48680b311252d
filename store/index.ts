import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { BlobStore } from './blobs.js';
import { openDatabase, type DB } from './db.js';
import { DownloadTables } from './downloads.js';
import { ModelStore } from './models.js';
import { RemoteBlobs } from './remotes.js';
import { ApiKeys } from './keys.js';

export { BlobStore } from './blobs.js';
export { ModelStore, type ModelRecord } from './models.js';
export { DownloadTables, type PartialBlob, type PartProgress } from './downloads.js';
export { RemoteBlobs } from './remotes.js';
export { ApiKeys, type ActiveKey, type KeyRecord, type KeyScope } from './keys.js';

/** The store: one SQLite database plus the blob folder. All of kiln's SQL is in this folder. */
export class Store {
  readonly db: DB;
  readonly blobs: BlobStore;
  readonly models: ModelStore;
  readonly downloads: DownloadTables;
  readonly remotes: RemoteBlobs;
  readonly keys: ApiKeys;

  constructor(dbPath: string, modelsDir: string) {
    mkdirSync(modelsDir, { recursive: true });
    this.db = openDatabase(dbPath);
    this.blobs = new BlobStore(this.db, join(modelsDir, 'blobs'));
    this.models = new ModelStore(this.db, this.blobs);
    this.downloads = new DownloadTables(this.db);
    this.remotes = new RemoteBlobs(this.db);
    this.keys = new ApiKeys(this.db);
  }

  getSetting(key: string): string | undefined {
    const r = this.db.prepare('SELECT value FROM settings WHERE key = ?').get(key) as { value: string } | undefined;
    return r?.value;
  }

  setSetting(key: string, value: string): void {
    this.db.prepare('INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value').run(key, value);
  }

  close(): void {
    this.downloads.closeCheckpoints();
    if (this.db.open) this.db.close();
  }
}
