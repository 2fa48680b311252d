/**
 * `kiln import-ollama [DIR]`: adopts the models of an Ollama store
 * (`manifests/<host>/<namespace>/<model>/<tag>` + `blobs/sha256-<hex>`, the
 * same layout and manifest format as kiln's) without downloading anything.
 * Blobs are hard-linked into kiln's store where the filesystem allows (no
 * second copy on disk), else copied. Every blob is hashed before kiln trusts
 * it, every path part is validated like a model name, and nothing but regular
 * files is followed: the folder may belong to another user or be damaged.
 */
import { randomBytes } from 'node:crypto';
import { createReadStream, linkSync, lstatSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { KilnError } from '../common/errors.js';
import type { ProgressResponse } from '../common/wire.js';
import type { RegistryContext } from './context.js';
import { blobFileName, type Digest } from '../common/digest.js';
import { MANIFEST_LIMITS, parseManifest, type Descriptor } from '../common/manifest.js';
import { parseModelName, type ModelName } from '../common/model-name.js';
import { hashFile } from './prefix-hash.js';

function dirs(path: string): string[] {
  try {
    return readdirSync(path, { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .map((d) => d.name);
  } catch {
    return [];
  }
}

/** Every `host/namespace/model/tag` manifest file, by walking (Ollama may have written mixed case). */
function findManifests(root: string): { rel: string; file: string }[] {
  const out: { rel: string; file: string }[] = [];
  const base = join(root, 'manifests');
  for (const host of dirs(base))
    for (const ns of dirs(join(base, host)))
      for (const model of dirs(join(base, host, ns))) {
        let tags: string[] = [];
        try {
          tags = readdirSync(join(base, host, ns, model), { withFileTypes: true })
            .filter((d) => d.isFile())
            .map((d) => d.name);
        } catch {
          /* unreadable: skip */
        }
        for (const tag of tags) out.push({ rel: `${host}/${ns}/${model}:${tag}`, file: join(base, host, ns, model, tag) });
      }
  return out;
}

/** Brings one blob of the Ollama store into kiln's, linked if possible; verified either way. */
async function adoptBlob(ctx: RegistryContext, root: string, d: Descriptor): Promise<'present' | 'linked' | 'copied'> {
  const { store } = ctx;
  if (store.blobs.size(d.digest) === d.size) return 'present';
  const src = join(root, 'blobs', blobFileName(d.digest));
  let st;
  try {
    st = lstatSync(src);
  } catch {
    throw new KilnError('E_BLOB_NOT_FOUND', `blob ${d.digest} is missing from ${join(root, 'blobs')}`);
  }
  if (!st.isFile()) throw new KilnError('E_BAD_REQUEST', `${src} is not a regular file`);
  if (st.size !== d.size) throw new KilnError('E_DIGEST_MISMATCH', `${src} is ${st.size} bytes but its manifest says ${d.size}`);
  // `.tmp-` names are what BlobStore.recover() cleans up after a crash.
  const tmp = join(store.blobs.dir, `.tmp-${randomBytes(8).toString('hex')}`);
  try {
    linkSync(src, tmp);
  } catch {
    // Another filesystem or no permission to link: copy (writeStream hashes and syncs).
    await store.blobs.writeStream(createReadStream(src), d.digest);
    return 'copied';
  }
  try {
    if (`sha256:${await hashFile(tmp)}` !== d.digest) throw new KilnError('E_DIGEST_MISMATCH', `${src} does not hash to ${d.digest}`);
    // The data is Ollama's, already on disk: nothing of ours to sync but the name.
    store.blobs.adopt(tmp, d.digest, d.size);
  } finally {
    rmSync(tmp, { force: true });
  }
  return 'linked';
}

/**
 * Imports every model found under `root`. A model that cannot be imported
 * (bad name, missing or damaged blob) is reported and skipped; the others
 * still come in.
 */
export async function importOllama(ctx: RegistryContext, root: string, emit: (p: ProgressResponse) => void, signal?: AbortSignal): Promise<{ imported: string[]; skipped: string[] }> {
  const found = findManifests(root);
  if (found.length === 0) throw new KilnError('E_NOT_FOUND', `no Ollama models under ${root} (expected ${join(root, 'manifests')}/<host>/<namespace>/<model>/<tag>)`);
  const imported: string[] = [];
  const skipped: string[] = [];
  for (const { rel, file } of found) {
    if (signal?.aborted) throw new KilnError('E_CANCELLED', 'import canceled');
    let name: ModelName;
    try {
      name = parseModelName(rel);
    } catch {
      skipped.push(rel);
      emit({ status: `skipping ${rel.slice(0, 200)}: not a valid model name` });
      continue;
    }
    emit({ status: `importing ${name.display}` });
    const added: Digest[] = [];
    let unpin = () => {};
    try {
      const st = lstatSync(file);
      if (!st.isFile() || st.size > MANIFEST_LIMITS.maxBytes) throw new KilnError('E_BAD_REQUEST', `${file} is not a manifest file`);
      const bytes = readFileSync(file);
      const manifest = parseManifest(bytes);
      const blobs = [...new Map([manifest.config, ...manifest.layers].map((d) => [d.digest, d])).values()];
      unpin = ctx.downloader.pin(blobs.map((d) => d.digest)); // not pruned before the manifest names them
      for (const d of blobs) {
        const how = await adoptBlob(ctx, root, d);
        if (how !== 'present') added.push(d.digest);
        emit({ status: `${how === 'present' ? 'using existing' : how} ${d.digest.slice(7, 19)}`, digest: d.digest, total: d.size, completed: d.size });
      }
      const { released } = ctx.store.models.put(name, bytes);
      ctx.store.blobs.removeIfUnreferenced(released);
      imported.push(name.display);
    } catch (e) {
      skipped.push(name.display);
      emit({ status: `skipping ${name.display}: ${(e as Error).message}` });
      unpin();
      ctx.store.blobs.removeIfUnreferenced(added);
    } finally {
      unpin();
    }
  }
  emit({ status: 'success' });
  return { imported, skipped };
}
