/**
 * Models as OCI image-layout archives, for machines without a registry:
 *
 *     oci-layout                 {"imageLayoutVersion": "1.0.0"}
 *     blobs/sha256/<hex>         config, layers and the manifest itself
 *     index.json                 {manifests: [{digest, size, mediaType, annotations}]}
 *
 * written and read as a stream (tar-stream), never unpacked to disk as is.
 * The model's name travels in the `org.opencontainers.image.ref.name`
 * annotation (its tag, per the spec) and in `io.kiln.model.name` (the whole
 * name). Import accepts only those entry names, only regular files and
 * folders (no links, devices or anything that could point outside), bounds the
 * JSON entries, and stores every blob through the store's digest check: a blob
 * whose bytes do not match its name is never kept.
 */
import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import { extract, pack, type Header, type Pack } from 'tar-stream';
import { isKilnError, KilnError } from '../common/errors.js';
import type { ProgressResponse } from '../common/wire.js';
import type { Store } from '../store/index.js';
import { isDigest, parseDigest, type Digest } from '../common/digest.js';
import { MANIFEST_LIMITS, MEDIA, parseManifest } from '../common/manifest.js';
import { nameKey, parseModelName, type ModelName } from '../common/model-name.js';

const INDEX_MEDIA = 'application/vnd.oci.image.index.v1+json';
const REF_NAME = 'org.opencontainers.image.ref.name';
const KILN_NAME = 'io.kiln.model.name';
const LAYOUT = JSON.stringify({ imageLayoutVersion: '1.0.0' });

export const ARCHIVE_LIMITS = {
  /** oci-layout and index.json are a few hundred bytes; a hostile one is not. */
  maxJson: 4 * 1024 * 1024,
  maxManifests: 256,
} as const;

function hexOf(d: Digest): string {
  return d.slice('sha256:'.length);
}

async function addEntry(p: Pack, name: string, body: Buffer | { file: string; size: number }): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    if (Buffer.isBuffer(body)) {
      p.entry({ name, size: body.length, mode: 0o644, mtime: new Date(0) }, body, (e) => (e ? reject(e) : resolve()));
      return;
    }
    const sink = p.entry({ name, size: body.size, mode: 0o644, mtime: new Date(0) }, (e) => (e ? reject(e) : resolve()));
    const src = createReadStream(body.file);
    src.on('error', (e) => {
      sink.destroy(e);
      reject(e);
    });
    src.pipe(sink);
  });
}

/**
 * The archive of one model as a byte stream. Entries are written one after
 * the other (tar is sequential); index.json comes last so that a reader has
 * every blob before it learns the names.
 */
export function exportModel(store: Store, name: ModelName, typed: string): Readable {
  const record = store.models.require(name, typed);
  const blobs = [...new Map([record.manifest.config, ...record.manifest.layers].map((d) => [d.digest, d])).values()];
  for (const d of blobs) {
    if (store.blobs.size(d.digest) !== d.size) throw new KilnError('E_BLOB_NOT_FOUND', `blob ${d.digest} of ${typed} is missing or damaged; pull it again`);
  }
  const p = pack();
  (async () => {
    await addEntry(p, 'oci-layout', Buffer.from(LAYOUT));
    p.entry({ name: 'blobs/', type: 'directory', mode: 0o755, mtime: new Date(0) });
    p.entry({ name: 'blobs/sha256/', type: 'directory', mode: 0o755, mtime: new Date(0) });
    for (const d of blobs) {
      await addEntry(p, `blobs/sha256/${hexOf(d.digest)}`, { file: store.blobs.path(d.digest), size: d.size });
    }
    await addEntry(p, `blobs/sha256/${hexOf(record.digest)}`, record.manifestBytes);
    const index = {
      schemaVersion: 2,
      mediaType: INDEX_MEDIA,
      manifests: [
        {
          mediaType: record.manifest.mediaType,
          digest: record.digest,
          size: record.manifestBytes.length,
          annotations: { [REF_NAME]: name.display.slice(name.display.lastIndexOf(':') + 1), [KILN_NAME]: nameKey(name) },
        },
      ],
    };
    await addEntry(p, 'index.json', Buffer.from(JSON.stringify(index)));
    p.finalize();
  })().catch((e) => p.destroy(e as Error));
  // tar-stream's streams are streamx streams: wrap in a Node Readable for Readable.toWeb and pipes.
  return Readable.from(p as unknown as AsyncIterable<Buffer>, { objectMode: false });
}

function bad(msg: string): KilnError {
  return new KilnError('E_BAD_REQUEST', `invalid model archive: ${msg}`);
}

const BLOB_ENTRY = /^blobs\/sha256\/([0-9a-f]{64})$/;
const DIRS = new Set(['blobs/', 'blobs/sha256/', 'blobs', 'blobs/sha256']);

async function readSmall(entry: AsyncIterable<Buffer>, limit: number, what: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of entry) {
    n += c.length;
    if (n > limit) throw bad(`${what} is larger than ${limit} bytes`);
    chunks.push(c);
  }
  return Buffer.concat(chunks);
}

function jsonOf(b: Buffer, what: string): Record<string, unknown> {
  try {
    const v = JSON.parse(b.toString('utf8'));
    if (v && typeof v === 'object' && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch {
    /* fall through */
  }
  throw bad(`${what} is not a JSON object`);
}

export interface ImportOptions {
  /** Store under this name instead of the one in the archive (one-model archives only). */
  name?: string;
  signal?: AbortSignal;
}

/**
 * Reads an archive stream into the store and tags its models. On any failure
 * the blobs this import added and nothing references are removed again.
 */
export async function importArchive(store: Store, source: AsyncIterable<Uint8Array> | Readable, opts: ImportOptions, emit: (p: ProgressResponse) => void): Promise<string[]> {
  const ex = extract();
  const input = typeof (source as Readable).pipe === 'function' ? (source as Readable) : Readable.from(source);
  // tar-stream reports a damaged archive as a plain Error on the extractor;
  // remembered here (apart from the source's own errors) so it can be told
  // apart from a failing store and answered as the client's mistake.
  let sourceError: unknown;
  let tarError: unknown;
  input.on('error', (e) => {
    sourceError = e;
    ex.destroy(e);
  });
  ex.on('error', (e: unknown) => {
    if (e !== sourceError) tarError = e;
  });
  input.pipe(ex as unknown as NodeJS.WritableStream);

  const added: Digest[] = [];
  // Every blob the archive names stays in the store until its manifest is written (see BlobStore.pin).
  const unpins: (() => void)[] = [];
  let layout: Record<string, unknown> | undefined;
  let index: Record<string, unknown> | undefined;
  try {
    for await (const e of ex) {
      const entry = e as unknown as Readable & { header: Header };
      if (opts.signal?.aborted) throw new KilnError('E_CANCELLED', 'import canceled');
      const h = entry.header;
      const name = h.name.replace(/^\.\//, '');
      // A size field tar-stream cannot decode comes back as null, and such an entry never ends.
      if (typeof h.size !== 'number' || !Number.isSafeInteger(h.size) || h.size < 0) throw bad(`entry '${name.slice(0, 200)}' has no valid size`);
      if (h.type === 'directory') {
        if (!DIRS.has(name) && name !== '' && name !== './') throw bad(`unexpected folder '${name.slice(0, 200)}'`);
        entry.resume();
        continue;
      }
      if (h.type !== 'file' && h.type !== 'contiguous-file') throw bad(`entry '${name.slice(0, 200)}' is a ${h.type}; only files and folders are allowed`);
      if (name === 'oci-layout') {
        layout = jsonOf(await readSmall(entry, 4096, 'oci-layout'), 'oci-layout');
      } else if (name === 'index.json') {
        if ((h.size ?? 0) > ARCHIVE_LIMITS.maxJson) throw bad(`index.json is larger than ${ARCHIVE_LIMITS.maxJson} bytes`);
        index = jsonOf(await readSmall(entry, ARCHIVE_LIMITS.maxJson, 'index.json'), 'index.json');
      } else {
        const m = BLOB_ENTRY.exec(name);
        if (!m) throw bad(`unexpected entry '${name.slice(0, 200)}' (path traversal or not an OCI image layout)`);
        const digest = parseDigest(`sha256:${m[1]}`);
        const size = h.size ?? 0;
        unpins.push(store.blobs.pin([digest]));
        if (store.blobs.size(digest) === size) {
          // Drained by iterating, which also ends (with its error) if the archive breaks off inside the entry.
          for await (const _ of entry) void _;
          continue;
        }
        emit({ status: `importing ${m[1].slice(0, 12)}`, digest, total: size, completed: 0 });
        // writeStream hashes as it writes and keeps nothing that does not match the name.
        await store.blobs.writeStream(entry, digest, { signal: opts.signal });
        added.push(digest);
        emit({ status: `importing ${m[1].slice(0, 12)}`, digest, total: size, completed: size });
      }
    }
    if (!layout || layout.imageLayoutVersion !== '1.0.0') throw bad('oci-layout is missing or not version 1.0.0');
    if (!index) throw bad('index.json is missing');
    const manifests = index.manifests;
    if (!Array.isArray(manifests) || manifests.length === 0) throw bad('index.json lists no manifests');
    if (manifests.length > ARCHIVE_LIMITS.maxManifests) throw bad(`index.json lists more than ${ARCHIVE_LIMITS.maxManifests} manifests`);
    if (opts.name && manifests.length !== 1) throw bad('a name can be given only for an archive of one model');

    const plan: { name: ModelName; bytes: Buffer }[] = [];
    for (const [i, raw] of manifests.entries()) {
      const d = raw as { mediaType?: unknown; digest?: unknown; size?: unknown; annotations?: Record<string, unknown> };
      if (!isDigest(d.digest)) throw bad(`manifests[${i}].digest is not a sha256 digest`);
      if (d.mediaType !== MEDIA.dockerManifest && d.mediaType !== MEDIA.ociManifest) throw bad(`manifests[${i}] is a ${String(d.mediaType)}, not an image manifest`);
      const size = store.blobs.size(d.digest);
      if (size === undefined) throw bad(`manifest ${d.digest} is not in the archive`);
      if (size !== d.size || size > MANIFEST_LIMITS.maxBytes) throw bad(`manifest ${d.digest} is ${size} bytes, index.json says ${String(d.size)}`);
      const bytes = await readSmall(createReadStream(store.blobs.path(d.digest)) as AsyncIterable<Buffer>, MANIFEST_LIMITS.maxBytes, 'manifest');
      parseManifest(bytes);
      const typed = opts.name ?? (typeof d.annotations?.[KILN_NAME] === 'string' ? (d.annotations[KILN_NAME] as string) : undefined) ?? (typeof d.annotations?.[REF_NAME] === 'string' ? `imported:${d.annotations[REF_NAME] as string}` : undefined);
      if (!typed) throw bad(`manifests[${i}] has no name: give one (kiln import FILE NAME)`);
      plan.push({ name: parseModelName(typed), bytes });
    }
    emit({ status: 'writing manifest' });
    const names: string[] = [];
    for (const p of plan) {
      const { released } = store.models.put(p.name, p.bytes);
      store.blobs.removeIfUnreferenced(released);
      names.push(p.name.display);
    }
    emit({ status: 'success' });
    return names;
  } catch (e) {
    // The store's write of an entry that broke off fails too (E_INTERNAL): the archive is the cause.
    if (tarError !== undefined && !(isKilnError(e) && e.httpStatus < 500)) throw bad(`not a readable tar archive: ${(tarError as Error).message ?? String(tarError)}`);
    throw e;
  } finally {
    ex.destroy();
    // The manifest blobs (kiln keeps manifests in its database), strays, and
    // everything after a failure: whatever this import added and no model uses.
    // (Pinned still, so they go when the pins are released just below.)
    store.blobs.removeIfUnreferenced(added);
    for (const unpin of unpins) unpin();
  }
}
