/**
 * `kiln push` / POST /api/push: every blob the registry lacks is uploaded
 * (mounted from another repository of the same registry when kiln knows one
 * that has it; otherwise one PUT, or PATCH chunks for large blobs), then the
 * manifest bytes exactly as stored, so the model keeps its ID.
 *
 * Upload protocol (OCI distribution): `POST /v2/<repo>/blobs/uploads/`
 * → 202 + Location; monolithic `PUT <location>?digest=…` with the bytes, or
 * `PATCH <location>` per chunk with `Content-Range: <start>-<end>` (each answer
 * carries the next Location) and a final empty `PUT …?digest=`. A mount is
 * `POST …/uploads/?mount=<digest>&from=<repo>`: 201 when it worked, 202 (a
 * plain upload session) when it did not.
 */
import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import { KilnError } from '../common/errors.js';
import type { ProgressResponse } from '../common/wire.js';
import { backoff, describeError, discard, isTransient, sleep, type RegistryClient, type RegistryResponse } from './client.js';
import { clientFor, repoOf, tagOf, type RegistryContext } from './context.js';
import type { Descriptor } from '../common/manifest.js';
import { parseModelName } from '../common/model-name.js';

export interface PushOptions {
  insecure?: boolean;
  signal?: AbortSignal;
  /**
   * Checks a layer's stored bytes before anything is sent (the daemon passes a
   * GGUF header check for model layers): a file that would not load is never
   * pushed. Throws to refuse.
   */
  checkLayer?: (desc: Descriptor, path: string) => Promise<void>;
}

function location(res: RegistryResponse, base: URL): URL {
  const loc = res.headers.location;
  const s = Array.isArray(loc) ? loc[0] : loc;
  if (!s) throw new KilnError('E_REGISTRY', `registry answered ${res.status} without a Location`);
  return new URL(s, base);
}

async function expect(res: RegistryResponse, ok: number[], what: string, host: string): Promise<void> {
  if (ok.includes(res.status)) return;
  const why = await describeError(res);
  const code = res.status === 401 || res.status === 403 ? 'E_UNAUTHORIZED' : 'E_REGISTRY';
  throw new KilnError(code, `${host}: ${what}: ${res.status} ${why}`);
}

/** A file range as a stream that reports how far it has been read. */
function fileBody(path: string, start: number, end: number, onBytes: (n: number) => void): Readable {
  const s = createReadStream(path, { start, end: end - 1, highWaterMark: 1 << 20 });
  s.on('data', (c) => onBytes((c as Buffer).length));
  return s;
}

interface BlobUpload {
  ctx: RegistryContext;
  client: RegistryClient;
  repo: string;
  desc: Descriptor;
  report: (n: number) => void;
  signal?: AbortSignal;
}

async function uploadOnce(u: BlobUpload): Promise<void> {
  const { ctx, client, repo, desc, signal } = u;
  const host = client.host;
  const head = await client.send(`/v2/${repo}/blobs/${desc.digest}`, { method: 'HEAD', signal });
  discard(head.body);
  if (head.status === 200) return;

  // Always ask for a mount: with `from` when kiln knows a repository of this
  // registry that has the blob; without it, a registry that can find the blob
  // itself (OCI 1.1) mounts it, and any other answers 202 with the upload
  // session the plain POST would have opened, so the try costs nothing.
  const from = ctx.store.remotes.mountSource(host, repo, desc.digest);
  const q = new URLSearchParams({ mount: desc.digest, ...(from ? { from } : {}) });
  const started = await client.send(`/v2/${repo}/blobs/uploads/?${q}`, { method: 'POST', retry: true, signal });
  if (started.status === 201) {
    discard(started.body);
    return;
  }
  await expect(started, [202], from ? `mount ${desc.digest} from ${from}` : `start upload of ${desc.digest}`, host);
  discard(started.body);
  let loc = location(started, started.url);
  if (from) ctx.store.remotes.forget(host, from, desc.digest); // that source no longer has it

  const file = ctx.store.blobs.path(desc.digest);
  const chunk = ctx.config.pushChunkSize;
  let sent = 0;
  const progress = (base: number) => (n: number) => {
    sent = Math.max(sent, base + n);
    u.report(sent);
  };
  if (desc.size <= chunk) {
    const url = new URL(loc);
    url.searchParams.set('digest', desc.digest);
    let read = 0;
    const res = await client.send(url, {
      method: 'PUT',
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(desc.size) },
      body: () => {
        read = 0;
        return fileBody(file, 0, desc.size, (n) => progress(0)((read += n)));
      },
      signal,
    });
    await expect(res, [201], `upload ${desc.digest}`, host);
    discard(res.body);
    return;
  }
  for (let start = 0; start < desc.size; start += chunk) {
    const end = Math.min(desc.size, start + chunk);
    let read = 0;
    const res = await client.send(loc, {
      method: 'PATCH',
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(end - start), 'content-range': `${start}-${end - 1}` },
      body: () => {
        read = 0;
        return fileBody(file, start, end, (n) => progress(start)((read += n)));
      },
      signal,
    });
    await expect(res, [202], `upload ${desc.digest} bytes ${start}-${end - 1}`, host);
    discard(res.body);
    loc = location(res, loc);
  }
  const done = new URL(loc);
  done.searchParams.set('digest', desc.digest);
  const res = await client.send(done, { method: 'PUT', headers: { 'content-length': '0' }, body: () => Buffer.alloc(0), signal });
  await expect(res, [201], `finish upload of ${desc.digest}`, host);
  discard(res.body);
}

/** One blob, retried whole (a fresh upload session) on network failures and 5xx. */
async function pushBlob(u: BlobUpload): Promise<void> {
  for (let failures = 0; ; ) {
    try {
      await uploadOnce(u);
      u.report(u.desc.size);
      u.ctx.store.remotes.record(u.client.host, u.repo, [u.desc.digest]);
      return;
    } catch (e) {
      const retryable = isTransient(e) || (e instanceof KilnError && e.code === 'E_REGISTRY' && / 5\d\d /.test(e.message));
      if (u.signal?.aborted || !retryable || failures >= u.ctx.config.retries) throw e;
      failures++;
      u.ctx.log(`push ${u.desc.digest.slice(7, 19)}: ${(e as Error).message}; retrying`);
      await sleep(backoff(u.ctx.config.retryDelayMs, failures), u.signal);
    }
  }
}

export async function pushModel(ctx: RegistryContext, typed: string, opts: PushOptions, emit: (p: ProgressResponse) => void): Promise<void> {
  const name = parseModelName(typed);
  const record = ctx.store.models.require(name, typed);
  emit({ status: 'retrieving manifest' });
  const client = clientFor(ctx, name.host, opts.insecure === true);
  const repo = repoOf(name);
  const blobs = [...new Map([...record.manifest.layers, record.manifest.config].map((d) => [d.digest, d])).values()];
  for (const desc of blobs) {
    if (!ctx.store.blobs.has(desc.digest)) throw new KilnError('E_BLOB_NOT_FOUND', `blob ${desc.digest} of ${typed} is missing from the store; pull or create the model again`);
    await opts.checkLayer?.(desc, ctx.store.blobs.path(desc.digest));
  }
  for (const desc of blobs) {
    const status = `pushing ${desc.digest.slice(7, 19)}`;
    let lastAt = 0;
    let lastN = 0;
    emit({ status, digest: desc.digest, total: desc.size, completed: 0 });
    const report = (n: number) => {
      const now = Date.now();
      if (n === lastN) return;
      if (n === desc.size || now - lastAt >= 100) {
        lastN = n;
        lastAt = now;
        emit({ status, digest: desc.digest, total: desc.size, completed: n });
      }
    };
    await pushBlob({ ctx, client, repo, desc, report, signal: opts.signal });
  }
  emit({ status: 'pushing manifest' });
  const res = await client.send(`/v2/${repo}/manifests/${encodeURIComponent(tagOf(name))}`, {
    method: 'PUT',
    headers: { 'content-type': record.manifest.mediaType },
    body: () => record.manifestBytes,
    retry: true,
    signal: opts.signal,
  });
  await expect(res, [201], `PUT manifest ${repo}:${tagOf(name)}`, client.host);
  discard(res.body);
  emit({ status: 'success' });
}
