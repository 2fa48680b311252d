import { createHash } from 'node:crypto';
import { KilnError } from './errors.js';
import { parseDigest, type Digest } from './digest.js';

/** Media types of the Ollama registry protocol (OCI distribution v2 as Ollama uses it). */
export const MEDIA = {
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  config: 'application/vnd.docker.container.image.v1+json',
  model: 'application/vnd.ollama.image.model',
  adapter: 'application/vnd.ollama.image.adapter',
  projector: 'application/vnd.ollama.image.projector',
  template: 'application/vnd.ollama.image.template',
  system: 'application/vnd.ollama.image.system',
  params: 'application/vnd.ollama.image.params',
  messages: 'application/vnd.ollama.image.messages',
  license: 'application/vnd.ollama.image.license',
  /** kiln's own: the quality report of a quantized model (JSON, `kiln create --quantize TYPE --report`). */
  quality: 'application/vnd.kiln.quality+json',
} as const;

export interface Descriptor {
  mediaType: string;
  digest: Digest;
  size: number;
  /** Ollama records where a layer came from (a file path or a model); kept as given. */
  from?: string;
}

export interface Manifest {
  schemaVersion: 2;
  mediaType: string;
  config: Descriptor;
  layers: Descriptor[];
}

/**
 * Limits that a real model never reaches and a hostile registry would: a
 * manifest is a few KB, with a handful of layers.
 */
export const MANIFEST_LIMITS = { maxBytes: 4 * 1024 * 1024, maxLayers: 1024 } as const;

const MEDIA_TYPE = /^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$/;

function bad(msg: string): KilnError {
  return new KilnError('E_BAD_REQUEST', `invalid manifest: ${msg}`);
}

function descriptor(v: unknown, where: string): Descriptor {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw bad(`${where} is not an object`);
  const o = v as Record<string, unknown>;
  if (typeof o.mediaType !== 'string' || !MEDIA_TYPE.test(o.mediaType)) throw bad(`${where}.mediaType is missing or malformed`);
  if (typeof o.digest !== 'string') throw bad(`${where}.digest is missing`);
  const digest = parseDigest(o.digest);
  if (typeof o.size !== 'number' || !Number.isSafeInteger(o.size) || o.size < 0) throw bad(`${where}.size is not a non-negative integer`);
  const d: Descriptor = { mediaType: o.mediaType, digest, size: o.size };
  if (typeof o.from === 'string') d.from = o.from;
  return d;
}

/** Parses and validates manifest bytes; every digest is checked before anything can use it. */
export function parseManifest(bytes: Uint8Array): Manifest {
  if (bytes.byteLength > MANIFEST_LIMITS.maxBytes) {
    throw bad(`${bytes.byteLength} bytes is larger than the ${MANIFEST_LIMITS.maxBytes}-byte limit`);
  }
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'));
  } catch {
    throw bad('not JSON');
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw bad('not an object');
  const o = v as Record<string, unknown>;
  if (o.schemaVersion !== 2) throw bad(`schemaVersion ${String(o.schemaVersion)} is not 2`);
  const mediaType = typeof o.mediaType === 'string' ? o.mediaType : MEDIA.dockerManifest;
  if (mediaType !== MEDIA.dockerManifest && mediaType !== MEDIA.ociManifest) throw bad(`unsupported mediaType ${mediaType}`);
  if (!Array.isArray(o.layers)) throw bad('layers is not an array');
  if (o.layers.length > MANIFEST_LIMITS.maxLayers) throw bad(`${o.layers.length} layers is more than the ${MANIFEST_LIMITS.maxLayers} allowed`);
  return {
    schemaVersion: 2,
    mediaType,
    config: descriptor(o.config, 'config'),
    layers: o.layers.map((l, i) => descriptor(l, `layers[${i}]`)),
  };
}

/** Serialises a manifest the way kiln writes and pushes it (compact JSON, field order fixed). */
export function encodeManifest(m: Manifest): Buffer {
  const desc = (d: Descriptor) => ({ mediaType: d.mediaType, digest: d.digest, size: d.size, ...(d.from !== undefined ? { from: d.from } : {}) });
  return Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: m.mediaType, config: desc(m.config), layers: m.layers.map(desc) }));
}

export function sha256Digest(bytes: Uint8Array): Digest {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}` as Digest;
}

/** Total bytes of a model on disk as Ollama counts it: config plus layers. */
export function manifestSize(m: Manifest): number {
  return m.config.size + m.layers.reduce((s, l) => s + l.size, 0);
}
