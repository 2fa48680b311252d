/**
 * Wire types that more than the daemon uses: registry/ emits these progress
 * lines and the CLI reads them. daemon/api/types.ts re-exports them with the
 * rest of the REST surface; this file is a leaf (it imports nothing of kiln).
 */

/** One NDJSON line of create/pull/push progress. */
export interface ProgressResponse {
  status: string;
  digest?: string;
  total?: number;
  completed?: number;
}

/** A line of /api/verify: per-blob progress, then `success` with the totals. */
export interface VerifyProgress extends ProgressResponse {
  checked?: number;
  corrupt?: { digest: string; models: string[]; quarantined?: string }[];
}

/** POST /api/prune — kiln only (`kiln prune`): remove blobs no model references and stale partial downloads. */
export interface PruneResponse {
  removed: string[];
  freed_bytes: number;
  partial_downloads: number;
}
