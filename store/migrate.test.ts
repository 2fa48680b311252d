import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { isKilnError } from '../common/errors.js';
import { cleanup, tempHome } from '../test/helpers/daemon.js';
import { openDatabase } from './db.js';
import { loadMigrations, migrate } from './migrate.js';

function dirWith(files: Record<string, string>): string {
  const dir = join(tempHome('kiln-mig-'), 'm');
  mkdirSync(dir);
  for (const [f, sql] of Object.entries(files)) writeFileSync(join(dir, f), sql);
  return dir;
}

describe('migrations', () => {
  it('applies pending files in order and records the version', () => {
    const db = new Database(':memory:');
    const ms = loadMigrations(dirWith({ '0002_b.sql': 'INSERT INTO t VALUES (2);', '0001_a.sql': 'CREATE TABLE t (x); INSERT INTO t VALUES (1);' }));
    expect(migrate(db, ms)).toEqual({ from: 0, to: 2 });
    expect(db.prepare('SELECT x FROM t ORDER BY rowid').all()).toEqual([{ x: 1 }, { x: 2 }]);
    expect(db.pragma('user_version', { simple: true })).toBe(2);
    expect(migrate(db, ms)).toEqual({ from: 2, to: 2 }); // idempotent
  });

  it('rolls back a failing migration whole, leaving the version at the last good one', () => {
    const db = new Database(':memory:');
    const ms = loadMigrations(dirWith({ '0001_a.sql': 'CREATE TABLE t (x);', '0002_b.sql': 'INSERT INTO t VALUES (1); INSERT INTO nope VALUES (2);' }));
    let err: unknown;
    try {
      migrate(db, ms);
    } catch (e) {
      err = e;
    }
    expect(isKilnError(err, 'E_MIGRATION')).toBe(true);
    expect((err as Error).message).toContain('0002_b');
    expect(db.pragma('user_version', { simple: true })).toBe(1);
    expect(db.prepare('SELECT count(*) n FROM t').get()).toEqual({ n: 0 });
  });

  it('refuses a database written by a newer kiln', () => {
    const db = new Database(':memory:');
    db.pragma('user_version = 99');
    let err: unknown;
    try {
      migrate(db, loadMigrations(dirWith({ '0001_a.sql': 'CREATE TABLE t (x);' })));
    } catch (e) {
      err = e;
    }
    expect(isKilnError(err, 'E_DB_TOO_NEW')).toBe(true);
    expect((err as Error).message).toMatch(/schema version 99 .* knows only 1/);
  });

  it('rejects gaps and badly named files', () => {
    expect(() => loadMigrations(dirWith({ '0001_a.sql': '', '0003_c.sql': '' }))).toThrow(/without gaps/);
    expect(() => loadMigrations(dirWith({ '1_a.sql': '' }))).toThrow(/NNNN_name/);
  });

  it('opens the real store database in WAL mode with the shipped migrations', () => {
    const home = tempHome();
    const db = openDatabase(join(home, 'kiln.db'));
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(db.pragma('user_version', { simple: true })).toBeGreaterThanOrEqual(1);
    const tables = (db.prepare("SELECT name FROM sqlite_master WHERE type='table'").all() as { name: string }[]).map((t) => t.name);
    expect(tables).toEqual(expect.arrayContaining(['blobs', 'models', 'model_blobs', 'settings']));
    db.close();
    cleanup(home);
  });
});
