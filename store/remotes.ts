/** Which registry repositories are known to hold which blobs (a later push can mount them). */
import type { Digest } from '../common/digest.js';
import type { DB } from './db.js';

export class RemoteBlobs {
  constructor(private readonly db: DB) {}

  record(host: string, repo: string, digests: readonly Digest[]): void {
    const ins = this.db.prepare(
      'INSERT INTO remote_blobs (host, repo, digest, seen_at) VALUES (?, ?, ?, ?) ON CONFLICT(host, digest, repo) DO UPDATE SET seen_at = excluded.seen_at',
    );
    const now = Date.now();
    this.db.transaction(() => digests.forEach((d) => ins.run(host.toLowerCase(), repo, d, now)))();
  }

  /** Another repository of the same registry known to hold `digest`, for a cross-repo mount. */
  mountSource(host: string, repo: string, digest: Digest): string | undefined {
    const r = this.db
      .prepare('SELECT repo FROM remote_blobs WHERE host = ? AND digest = ? AND repo <> ? ORDER BY seen_at DESC LIMIT 1')
      .get(host.toLowerCase(), digest, repo) as { repo: string } | undefined;
    return r?.repo;
  }

  forget(host: string, repo: string, digest: Digest): void {
    this.db.prepare('DELETE FROM remote_blobs WHERE host = ? AND repo = ? AND digest = ?').run(host.toLowerCase(), repo, digest);
  }
}
