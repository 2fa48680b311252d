/**
 * Stored responses of OpenAI's Responses API (migrations/0004_responses.sql).
 * The daemon's openai/responses.ts decides what to keep; the SQL is here.
 * Values are opaque JSON text to this table.
 */
import type { DB } from './db.js';

export interface StoredResponse {
  id: string;
  /** The response object, as JSON text. */
  response: string;
  /** The conversation before its output, as JSON text of input items. */
  input: string;
}

export class ResponseTable {
  constructor(private readonly db: DB) {}

  /** Keeps a response until `expiresAt` (ms); drops expired ones on the way. */
  put(r: StoredResponse, now: number, expiresAt: number): void {
    this.db.transaction(() => {
      this.db.prepare('DELETE FROM responses WHERE expires_at <= ?').run(now);
      this.db
        .prepare('INSERT INTO responses (id, created_at, expires_at, response, input) VALUES (?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET response = excluded.response, input = excluded.input, expires_at = excluded.expires_at')
        .run(r.id, now, expiresAt, r.response, r.input);
    })();
  }

  /** The response, unless it is unknown or expired. */
  get(id: string, now: number): StoredResponse | undefined {
    return this.db.prepare('SELECT id, response, input FROM responses WHERE id = ? AND expires_at > ?').get(id, now) as StoredResponse | undefined;
  }

  /** True when a (live) response was deleted. */
  delete(id: string, now: number): boolean {
    return this.db.prepare('DELETE FROM responses WHERE id = ? AND expires_at > ?').run(id, now).changes > 0;
  }
}
