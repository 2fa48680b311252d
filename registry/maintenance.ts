/**
 * `kiln verify` and `kiln prune`: the store checked against its own digests,
 * and emptied of what no model needs.
 */
import type { PruneResponse, VerifyProgress } from '../common/wire.js';
import type { RegistryContext } from './context.js';
import { hashFile } from './prefix-hash.js';

/**
 * Re-hashes every blob. One that does not match its digest is moved to
 * `$KILN_MODELS/quarantine/` (never deleted: it is evidence) and reported with
 * the models that named it, which show as broken until pulled again.
 */
export async function verifyStore(ctx: RegistryContext, emit: (p: VerifyProgress) => void, signal?: AbortSignal): Promise<void> {
  const { store } = ctx;
  const rows = store.blobs.list();
  const corrupt: NonNullable<VerifyProgress['corrupt']> = [];
  let checked = 0;
  for (const { digest, size } of rows) {
    if (signal?.aborted) break;
    if (ctx.downloader.isPinned(digest)) continue; // a pull is about to use it; it was verified as it arrived
    const status = `verifying ${digest.slice(7, 19)}`;
    let done = 0;
    let last = 0;
    emit({ status, digest, total: size, completed: 0 });
    let hex: string | undefined;
    try {
      hex = await hashFile(store.blobs.path(digest), (n) => {
        done += n;
        if (Date.now() - last >= 200) {
          last = Date.now();
          emit({ status, digest, total: size, completed: done });
        }
      });
    } catch {
      hex = undefined; // missing or unreadable: as bad as a wrong hash
    }
    checked++;
    if (`sha256:${hex}` !== digest || done !== size) {
      const models = store.models.namesUsing(digest);
      const moved = hex === undefined ? undefined : store.blobs.quarantine(digest);
      corrupt.push({ digest, models, quarantined: moved });
      ctx.log(`verify: blob ${digest} does not match its digest${moved ? `; moved to ${moved}` : ' (missing)'}`);
    }
    emit({ status, digest, total: size, completed: size });
  }
  emit({ status: 'success', checked, corrupt });
}

/**
 * Removes blobs that no model references (except those a running pull is
 * about to tag) and partial downloads that are not running.
 */
export function pruneStore(ctx: RegistryContext): PruneResponse {
  const { store } = ctx;
  const candidates = store.blobs.allUnreferenced().filter((d) => !ctx.downloader.isPinned(d));
  let freed = 0;
  for (const d of candidates) freed += store.blobs.size(d) ?? 0;
  const removed = store.blobs.removeIfUnreferenced(candidates);
  const partial = ctx.downloader.prunePartials();
  // Files in quarantine/ stay: a human decides about evidence.
  return { removed, freed_bytes: freed + partial.bytes, partial_downloads: partial.removed.length };
}
