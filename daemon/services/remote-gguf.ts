/**
 * A registry's quantizations of a model, read without pulling them: the tags
 * the registry lists for the repository (GET /v2/<repo>/tags/list), each tag's
 * manifest, and the GGUF header of its model layer, fetched with HTTP Range
 * requests on the blob (first 1 MiB, then as far as the header reaches). The
 * weights are never downloaded.
 */
import type { Dispatcher } from 'undici';
import { KilnError } from '../../common/errors.js';
import { MEDIA, parseManifest, type Descriptor } from '../../common/manifest.js';
import { GGUFHeaderParser, NeedMore, type GGUFFile } from '../../engine/gguf/parser.js';
import { MAX_HEADER_WINDOW } from '../../engine/gguf/reader.js';
import { describeError, discard, readLimited, type RegistryClient } from '../../registry/client.js';
import { fetchManifest } from '../../registry/pull.js';

/** Tags read at most per repository (a registry may list hundreds). */
export const MAX_REMOTE_TAGS = 32;
const FIRST_WINDOW = 1 << 20;

/** The tags a registry lists for a repository; an empty list when it lists none (404, or no tag listing). */
export async function listTags(client: RegistryClient, repo: string, signal?: AbortSignal): Promise<string[]> {
  const res = await client.send(`/v2/${repo}/tags/list?n=${MAX_REMOTE_TAGS * 4}`, { signal });
  if (res.status === 404) {
    discard(res.body);
    return [];
  }
  if (res.status !== 200) throw new KilnError('E_REGISTRY', `${client.host}: GET tags of ${repo}: ${res.status} ${await describeError(res)}`);
  let doc: { tags?: unknown };
  try {
    doc = JSON.parse((await readLimited(res.body, 1 << 20, `tags of ${repo}`)).toString('utf8')) as { tags?: unknown };
  } catch (e) {
    if (e instanceof KilnError) throw e;
    throw new KilnError('E_REGISTRY', `${client.host}: the tag list of ${repo} is not JSON`);
  }
  const tags = Array.isArray(doc.tags) ? doc.tags.filter((t): t is string => typeof t === 'string') : [];
  return tags.slice(0, MAX_REMOTE_TAGS);
}

/** The model layer a tag's manifest names; undefined when the registry has no such tag or it has no model layer. */
export async function remoteModelLayer(client: RegistryClient, repo: string, tag: string, signal?: AbortSignal): Promise<Descriptor | undefined> {
  const bytes = await fetchManifest(client, repo, tag, signal);
  if (!bytes) return undefined;
  return parseManifest(bytes).layers.find((l) => l.mediaType === MEDIA.model);
}

/** Up to `n` bytes of a body, then the rest is dropped (a server that ignored the Range header sends the whole blob). */
async function readPrefix(body: Dispatcher.ResponseData['body'], n: number): Promise<Uint8Array> {
  const out = new Uint8Array(n);
  let have = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    const take = Math.min(chunk.length, n - have);
    out.set(chunk.subarray(0, take), have);
    have += take;
    if (have >= n) break;
  }
  if (have < n) throw new KilnError('E_REGISTRY', `blob ended at byte ${have} of the ${n} asked for`);
  body.destroy();
  return out;
}

/** Bytes [0, end) of a blob by a Range request. */
async function blobPrefix(client: RegistryClient, repo: string, digest: string, end: number, signal?: AbortSignal): Promise<Uint8Array> {
  const res = await client.send(`/v2/${repo}/blobs/${digest}`, { headers: { range: `bytes=0-${end - 1}` }, signal });
  if (res.status !== 206 && res.status !== 200) {
    throw new KilnError('E_REGISTRY', `${client.host}: GET blob ${digest.slice(0, 19)} of ${repo}: ${res.status} ${await describeError(res)}`);
  }
  return readPrefix(res.body, end);
}

/** The GGUF header of a registry blob of `size` bytes, read by ranges; the tensor data is never fetched. */
export async function remoteGGUFHeader(client: RegistryClient, repo: string, layer: Descriptor, signal?: AbortSignal): Promise<GGUFFile> {
  let end = Math.min(layer.size, FIRST_WINDOW);
  for (;;) {
    const buf = await blobPrefix(client, repo, layer.digest, end, signal);
    const p = new GGUFHeaderParser(layer.size);
    p.feed(0, buf);
    try {
      return p.run();
    } catch (e) {
      if (!(e instanceof NeedMore)) throw e;
      const next = Math.min(layer.size, Math.max(e.want, e.end, 4 * end));
      if (next <= end || next > MAX_HEADER_WINDOW) throw new KilnError('E_GGUF_UNSUPPORTED', `the GGUF header of ${repo}@${layer.digest.slice(0, 19)} reaches past ${MAX_HEADER_WINDOW} bytes`);
      end = next;
    }
  }
}
