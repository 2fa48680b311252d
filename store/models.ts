import { KilnError, modelNotFound } from '../common/errors.js';
import type { Digest } from '../common/digest.js';
import { encodeManifest, manifestSize, parseManifest, sha256Digest, type Manifest } from '../common/manifest.js';
import { displayName, nameKey, type ModelName } from '../common/model-name.js';
import type { BlobStore } from './blobs.js';
import type { DB } from './db.js';

export interface ModelRecord {
  /** Canonical key: host/namespace/model:tag, lower case. */
  key: string;
  /** The short name Ollama shows: `model:tag`, `ns/model:tag` or the full form. */
  name: string;
  manifest: Manifest;
  manifestBytes: Buffer;
  /** sha256 of the manifest bytes: the model's ID. */
  digest: Digest;
  size: number;
  modifiedAt: Date;
}

interface Row {
  name: string;
  display: string;
  manifest: Buffer;
  manifest_digest: Digest;
  modified_at: number;
}

function toRecord(r: Row): ModelRecord {
  const manifest = parseManifest(r.manifest);
  return {
    key: r.name,
    name: r.display,
    manifest,
    manifestBytes: r.manifest,
    digest: r.manifest_digest,
    size: manifestSize(manifest),
    modifiedAt: new Date(r.modified_at),
  };
}

/**
 * Manifests by name. A manifest is accepted only when every blob it names is
 * already complete in the blob store, and it is written with its blob
 * references in one transaction: no manifest ever points at a missing blob.
 */
export class ModelStore {
  constructor(
    private readonly db: DB,
    private readonly blobs: BlobStore,
  ) {}

  get(name: ModelName): ModelRecord | undefined {
    const row = this.db.prepare('SELECT * FROM models WHERE name = ?').get(nameKey(name)) as Row | undefined;
    return row ? toRecord(row) : undefined;
  }

  require(name: ModelName, asTyped?: string): ModelRecord {
    const m = this.get(name);
    if (!m) throw modelNotFound(asTyped ?? displayName(name));
    return m;
  }

  list(): ModelRecord[] {
    const rows = this.db.prepare('SELECT * FROM models ORDER BY modified_at DESC, name').all() as Row[];
    return rows.map(toRecord);
  }

  /** Stores a manifest under a name (replacing what the name had); returns the record and digests no longer referenced. */
  put(name: ModelName, manifestBytes: Buffer): { record: ModelRecord; released: Digest[] } {
    const manifest = parseManifest(manifestBytes);
    const refs = [manifest.config, ...manifest.layers];
    for (const d of refs) {
      const size = this.blobs.size(d.digest);
      if (size === undefined) throw new KilnError('E_BLOB_NOT_FOUND', `manifest references blob ${d.digest}, which is not in the store`);
      if (size !== d.size) throw new KilnError('E_DIGEST_MISMATCH', `blob ${d.digest} is ${size} bytes but the manifest says ${d.size}`);
    }
    const key = nameKey(name);
    const digest = sha256Digest(manifestBytes);
    const released = this.db.transaction(() => {
      const before = this.db.prepare('SELECT digest FROM model_blobs WHERE model = ?').all(key) as { digest: Digest }[];
      this.db.prepare('DELETE FROM models WHERE name = ?').run(key);
      this.db
        .prepare('INSERT INTO models (name, display, manifest, manifest_digest, modified_at) VALUES (?, ?, ?, ?, ?)')
        .run(key, displayName(name), manifestBytes, digest, Date.now());
      const ins = this.db.prepare('INSERT INTO model_blobs (model, position, digest, media_type, size) VALUES (?, ?, ?, ?, ?)');
      refs.forEach((d, i) => ins.run(key, i, d.digest, d.mediaType, d.size));
      return before.map((b) => b.digest);
    })();
    return { record: this.get(name)!, released: this.blobs.unreferenced(released) };
  }

  /** Builds, encodes and stores a manifest. */
  putManifest(name: ModelName, manifest: Manifest): { record: ModelRecord; released: Digest[] } {
    return this.put(name, encodeManifest(manifest));
  }

  /** Deletes a model; blobs only it referenced are removed from disk. */
  delete(name: ModelName, asTyped?: string): void {
    const key = nameKey(name);
    const digests = this.db.transaction(() => {
      const refs = this.db.prepare('SELECT digest FROM model_blobs WHERE model = ?').all(key) as { digest: Digest }[];
      const { changes } = this.db.prepare('DELETE FROM models WHERE name = ?').run(key);
      if (changes === 0) throw modelNotFound(asTyped ?? displayName(name));
      return refs.map((r) => r.digest);
    })();
    this.blobs.removeIfUnreferenced(digests);
  }

  /** Copies a model's manifest to a new name (blobs are shared, not duplicated). */
  copy(src: ModelName, dst: ModelName, srcTyped?: string): ModelRecord {
    const from = this.require(src, srcTyped);
    const { record, released } = this.put(dst, from.manifestBytes);
    this.blobs.removeIfUnreferenced(released);
    return record;
  }

  /** The names (as displayed) of the models whose manifest names `digest`. */
  namesUsing(digest: Digest): string[] {
    return (
      this.db.prepare('SELECT DISTINCT m.display FROM model_blobs b JOIN models m ON m.name = b.model WHERE b.digest = ?').all(digest) as { display: string }[]
    ).map((r) => r.display);
  }

  /** Models whose manifest names a blob that is missing on disk (after outside damage). */
  broken(): string[] {
    return this.list()
      .filter((m) => [m.manifest.config, ...m.manifest.layers].some((d) => !this.blobs.has(d.digest)))
      .map((m) => m.name);
  }
}
