import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type Database from 'better-sqlite3';
import { KilnError } from '../common/errors.js';

export interface Migration {
  id: number;
  name: string;
  sql: string;
}

const FILE = /^(\d{4})_([a-z0-9_]+)\.sql$/;

/**
 * Reads migrations/NNNN_name.sql. Ids must run 1, 2, 3… with no gap or
 * duplicate: a gap would make `user_version` ambiguous about what was applied.
 */
export function loadMigrations(dir: string): Migration[] {
  const found: Migration[] = [];
  for (const f of readdirSync(dir).sort()) {
    if (!f.endsWith('.sql')) continue;
    const m = FILE.exec(f);
    if (!m) throw new KilnError('E_MIGRATION', `migration file name '${f}' is not NNNN_name.sql`);
    found.push({ id: Number(m[1]), name: m[2], sql: readFileSync(join(dir, f), 'utf8') });
  }
  found.forEach((m, i) => {
    if (m.id !== i + 1) throw new KilnError('E_MIGRATION', `migrations must be numbered 1..n without gaps; found ${m.id} at position ${i + 1}`);
  });
  return found;
}

/**
 * Applies the pending migrations in order, each in its own transaction together
 * with the `PRAGMA user_version` bump, so a crash leaves the database at a
 * migration boundary. A database written by a newer kiln is refused, not guessed at.
 */
export function migrate(db: Database.Database, migrations: Migration[]): { from: number; to: number } {
  const from = db.pragma('user_version', { simple: true }) as number;
  if (from > migrations.length) {
    throw new KilnError(
      'E_DB_TOO_NEW',
      `the database ${db.name} is at schema version ${from} but this kiln knows only ${migrations.length}: it was written by a newer kiln; upgrade kiln or use another KILN_HOME`,
    );
  }
  for (const m of migrations.slice(from)) {
    const apply = db.transaction(() => {
      db.exec(m.sql);
      db.pragma(`user_version = ${m.id}`);
    });
    try {
      apply();
    } catch (e) {
      throw new KilnError('E_MIGRATION', `migration ${String(m.id).padStart(4, '0')}_${m.name} failed: ${(e as Error).message}`, { cause: e });
    }
  }
  return { from, to: migrations.length };
}
