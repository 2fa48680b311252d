/**
 * `kiln pull` / POST /api/pull: the manifest (Q4_K_M default-tag rule when the
 * tag is missing), every blob it names through the shared downloader, then the
 * manifest bytes as they came (their sha256 is the model's ID). Progress is
 * Ollama's NDJSON sequence.
 */
import { KilnError } from '../common/errors.js';
import type { ProgressResponse } from '../common/wire.js';
import { abortError, describeError, discard, readLimited, type RegistryClient } from './client.js';
import { clientFor, MANIFEST_ACCEPT, repoOf, tagOf, type RegistryContext } from './context.js';
import { MANIFEST_LIMITS, parseManifest, sha256Digest, type Descriptor } from '../common/manifest.js';
import { defaultTagCandidates, parseModelName, type ModelName } from '../common/model-name.js';

export interface PullOptions {
  insecure?: boolean;
  signal?: AbortSignal;
}

/** GET a manifest's raw bytes; undefined when the registry does not have that tag. */
export async function fetchManifest(client: RegistryClient, repo: string, ref: string, signal?: AbortSignal): Promise<Buffer | undefined> {
  const res = await client.send(`/v2/${repo}/manifests/${encodeURIComponent(ref)}`, { headers: { accept: MANIFEST_ACCEPT }, signal });
  if (res.status === 404) {
    discard(res.body);
    return undefined;
  }
  if (res.status === 401 || res.status === 403) {
    const why = await describeError(res);
    throw new KilnError(
      'E_UNAUTHORIZED',
      `${client.host} refused access to ${repo}:${ref} (${res.status} ${why}): check the credentials for ${client.host} in $KILN_HOME/auth.json or ~/.docker/config.json`,
    );
  }
  if (res.status !== 200) {
    const why = await describeError(res);
    throw new KilnError('E_REGISTRY', `${client.host}: GET manifest ${repo}:${ref}: ${res.status} ${why}`);
  }
  const declared = Number(res.headers['content-length'] ?? NaN);
  if (declared > MANIFEST_LIMITS.maxBytes) {
    discard(res.body);
    throw new KilnError('E_REGISTRY', `${client.host}: manifest ${repo}:${ref} is ${declared} bytes, more than the ${MANIFEST_LIMITS.maxBytes}-byte limit`);
  }
  const bytes = await readLimited(res.body, MANIFEST_LIMITS.maxBytes, `manifest ${repo}:${ref}`);
  const named = res.headers['docker-content-digest'];
  if (typeof named === 'string' && /^sha256:/.test(named) && named !== sha256Digest(bytes)) {
    throw new KilnError('E_DIGEST_MISMATCH', `${client.host}: manifest ${repo}:${ref} does not hash to the digest the registry names (${named})`);
  }
  return bytes;
}

/** The first candidate tag the registry has (DESIGN §2), with its manifest bytes. */
async function resolveManifest(client: RegistryClient, name: ModelName, typed: string, signal?: AbortSignal): Promise<{ name: ModelName; bytes: Buffer }> {
  for (const cand of defaultTagCandidates(name)) {
    const bytes = await fetchManifest(client, repoOf(cand), tagOf(cand), signal);
    if (bytes) return { name: cand, bytes };
  }
  // Ollama's wording; clients show it as is.
  throw new KilnError('E_MODEL_NOT_FOUND', `pull model manifest: file does not exist (${typed})`);
}

/** Runs `work` over items with at most `limit` at once; the first failure stops the rest. */
async function eachLimited<T>(items: T[], limit: number, work: (item: T, signal: AbortSignal) => Promise<void>, outer?: AbortSignal): Promise<void> {
  const ac = new AbortController();
  const onAbort = () => ac.abort(outer?.reason);
  outer?.addEventListener('abort', onAbort, { once: true });
  let next = 0;
  let failure: unknown;
  const run = async () => {
    while (failure === undefined && next < items.length) {
      const item = items[next++];
      try {
        await work(item, ac.signal);
      } catch (e) {
        if (failure === undefined) {
          failure = e;
          ac.abort(e);
        }
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(limit, items.length) }, run));
  } finally {
    outer?.removeEventListener('abort', onAbort);
  }
  if (failure !== undefined) throw failure;
}

export async function pullModel(ctx: RegistryContext, typed: string, opts: PullOptions, emit: (p: ProgressResponse) => void): Promise<void> {
  const name = parseModelName(typed);
  const { signal } = opts;
  emit({ status: 'pulling manifest' });
  const client = clientFor(ctx, name.host, opts.insecure === true);
  const found = await resolveManifest(client, name, typed, signal);
  const manifest = parseManifest(found.bytes);
  const repo = repoOf(found.name);
  const blobs: Descriptor[] = [...manifest.layers, manifest.config];
  // One transfer per digest even when a manifest names a blob twice.
  const unique = [...new Map(blobs.map((d) => [d.digest, d])).values()];
  for (const d of unique) {
    if (blobs.some((o) => o.digest === d.digest && o.size !== d.size)) {
      throw new KilnError('E_REGISTRY', `manifest ${repo}:${tagOf(found.name)} names blob ${d.digest} with two sizes`);
    }
  }

  const unpin = ctx.downloader.pin(unique.map((d) => d.digest));
  try {
    await fetchAll(ctx, client, repo, unique, emit, signal);
    if (signal?.aborted) throw abortError(signal);
    // Every blob was checked against its sha256 and size as it was committed.
    emit({ status: 'verifying sha256 digest' });
    emit({ status: 'writing manifest' });
    const { released } = ctx.store.models.put(found.name, found.bytes);
    ctx.store.blobs.removeIfUnreferenced(released);
    ctx.store.remotes.record(found.name.host, repo, unique.map((d) => d.digest));
  } finally {
    unpin();
  }
  emit({ status: 'success' });
}

async function fetchAll(
  ctx: RegistryContext,
  client: RegistryClient,
  repo: string,
  unique: Descriptor[],
  emit: (p: ProgressResponse) => void,
  signal?: AbortSignal,
): Promise<void> {
  // Layers come down side by side (a model is one large blob and a few small
  // ones); each large blob is itself split into parallel parts.
  await eachLimited(
    unique,
    3,
    async (d, sig) => {
      const status = `pulling ${d.digest.slice(7, 19)}`;
      let lastAt = 0;
      let lastN = -1;
      const report = (n: number) => {
        const now = Date.now();
        if (n === lastN) return;
        if (n === d.size || n === 0 || now - lastAt >= 100) {
          lastAt = now;
          lastN = n;
          emit({ status, digest: d.digest, total: d.size, completed: n });
        }
      };
      await ctx.downloader.fetch(client, repo, d, report, sig);
      report(d.size);
    },
    signal,
  );
}
