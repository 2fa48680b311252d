import Database from 'better-sqlite3';
import { join } from 'node:path';
import { packageRoot } from '../common/paths.js';
import { loadMigrations, migrate } from './migrate.js';

export type DB = Database.Database;

/** Opens (creating if needed) the store database in WAL mode and brings its schema up to date. */
export function openDatabase(path: string): DB {
  const db = new Database(path);
  try {
    db.pragma('journal_mode = WAL');
    // FULL: a model row must never outlive a crash while its blob rename did not.
    db.pragma('synchronous = FULL');
    db.pragma('foreign_keys = ON');
    db.pragma('busy_timeout = 5000');
    migrate(db, loadMigrations(join(packageRoot(), 'migrations')));
    return db;
  } catch (e) {
    db.close();
    throw e;
  }
}
