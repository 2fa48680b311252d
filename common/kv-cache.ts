/**
 * The element types a KV cache can hold (Ollama's OLLAMA_KV_CACHE_TYPE
 * values, llama.cpp's -ctk / -ctv), their sizes, and how the settings,
 * Modelfile parameters and request options that choose them combine.
 */
import { KilnError } from './errors.js';

/** The KV cache element types (settings/settings.ts offers them as KILN_KV_CACHE_TYPE's choices). */
export const KV_CACHE_TYPES = ['f16', 'q8_0', 'q4_0'] as const;
export type KvCacheType = (typeof KV_CACHE_TYPES)[number];

/** The key and the value types of one cache. */
export interface KvTypes {
  k: KvCacheType;
  v: KvCacheType;
}

export const KV_F16: KvTypes = { k: 'f16', v: 'f16' };

/** Bytes of n values (n a multiple of 32 for the block types): f16 2 each, q8_0 34 per 32, q4_0 18 per 32. */
export function kvTypeBytes(t: KvCacheType | 'f32', n: number): number {
  switch (t) {
    case 'f32':
      return 4 * n;
    case 'f16':
      return 2 * n;
    case 'q8_0':
      return (Math.ceil(n / 32) * 34);
    case 'q4_0':
      return (Math.ceil(n / 32) * 18);
  }
}

export function isQuantized(t: KvTypes): boolean {
  return t.k !== 'f16' || t.v !== 'f16';
}

/** `q8_0`, or `q8_0/q4_0` when K and V differ. */
export function kvTypesName(t: KvTypes): string {
  return t.k === t.v ? t.k : `${t.k}/${t.v}`;
}

/** One cache type named by a request option or a Modelfile PARAMETER; anything else is a 400 naming it. */
export function parseKvCacheType(key: string, v: unknown): KvCacheType {
  const s = typeof v === 'string' ? v.trim().toLowerCase() : v;
  if (typeof s === 'string' && (KV_CACHE_TYPES as readonly string[]).includes(s)) return s as KvCacheType;
  throw new KilnError('E_BAD_REQUEST', `option ${key}: ${JSON.stringify(v)} is not a KV cache type (${KV_CACHE_TYPES.join(', ')})`);
}

/**
 * The cache types of one load: kv_cache_type_k / kv_cache_type_v, then
 * kv_cache_type for both, from the merged options (Modelfile PARAMETERs under
 * the request's options), then the daemon's defaults (KILN_KV_CACHE_TYPE...).
 */
export function kvTypesOf(merged: Record<string, unknown>, defaults: KvTypes): KvTypes {
  const present = (k: string) => merged[k] !== undefined && merged[k] !== null;
  const both = present('kv_cache_type') ? parseKvCacheType('kv_cache_type', merged.kv_cache_type) : undefined;
  return {
    k: present('kv_cache_type_k') ? parseKvCacheType('kv_cache_type_k', merged.kv_cache_type_k) : both ?? defaults.k,
    v: present('kv_cache_type_v') ? parseKvCacheType('kv_cache_type_v', merged.kv_cache_type_v) : both ?? defaults.v,
  };
}
