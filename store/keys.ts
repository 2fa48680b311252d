/** The API key table (migrations/0003_api_keys.sql): hashes only, never a key. */
import type { DB } from './db.js';

export type KeyScope = 'inference' | 'admin';

export interface KeyRecord {
  id: string;
  name: string;
  scope: KeyScope;
  createdAt: number;
  lastUsedAt: number | null;
  revokedAt: number | null;
}

/** What authentication compares against: an active key's hash and what it may do. */
export interface ActiveKey {
  id: string;
  scope: KeyScope;
  hash: string;
}

interface Row {
  id: string;
  name: string;
  scope: KeyScope;
  created_at: number;
  last_used_at: number | null;
  revoked_at: number | null;
}

export class ApiKeys {
  constructor(private readonly db: DB) {}

  add(id: string, name: string, scope: KeyScope, hash: string, now = Date.now()): void {
    this.db.prepare('INSERT INTO api_keys (id, name, scope, hash, created_at) VALUES (?, ?, ?, ?, ?)').run(id, name, scope, hash, now);
  }

  /** Every key, revoked ones included, oldest first. */
  list(): KeyRecord[] {
    const rows = this.db.prepare('SELECT id, name, scope, created_at, last_used_at, revoked_at FROM api_keys ORDER BY created_at, id').all() as Row[];
    return rows.map((r) => ({ id: r.id, name: r.name, scope: r.scope, createdAt: r.created_at, lastUsedAt: r.last_used_at, revokedAt: r.revoked_at }));
  }

  /** The keys that are not revoked. */
  active(): ActiveKey[] {
    return this.db.prepare('SELECT id, scope, hash FROM api_keys WHERE revoked_at IS NULL').all() as ActiveKey[];
  }

  activeCount(): number {
    return (this.db.prepare('SELECT COUNT(*) AS n FROM api_keys WHERE revoked_at IS NULL').get() as { n: number }).n;
  }

  /** Revokes the active keys whose id or name is `which`; returns the ids revoked. */
  revoke(which: string, now = Date.now()): string[] {
    return this.db.transaction(() => {
      const ids = (this.db.prepare('SELECT id FROM api_keys WHERE revoked_at IS NULL AND (id = ? OR (name = ? AND name <> \'\'))').all(which, which) as { id: string }[]).map((r) => r.id);
      const upd = this.db.prepare('UPDATE api_keys SET revoked_at = ? WHERE id = ?');
      for (const id of ids) upd.run(now, id);
      return ids;
    })();
  }

  touch(id: string, now = Date.now()): void {
    this.db.prepare('UPDATE api_keys SET last_used_at = ? WHERE id = ?').run(now, id);
  }
}
