import { readFileSync } from 'node:fs';
import type { ModelDetails } from '../api/types.js';
import type { Digest } from '../../common/digest.js';
import type { BlobStore } from '../../store/blobs.js';

/**
 * The config blob of a model, as Ollama writes it (its ConfigV2 JSON): the
 * model's format, family and size/quantization labels, so that /api/tags can
 * answer without opening the GGUF.
 */
export interface ModelConfig {
  model_format?: string;
  model_family?: string;
  model_families?: string[] | null;
  model_type?: string;
  file_type?: string;
  architecture?: string;
  os?: string;
  rootfs?: { type: string; diff_ids: string[] };
  [k: string]: unknown;
}

const cache = new Map<string, ModelConfig>();

/** Reads a config blob (small JSON; cached by digest since blobs never change). */
export function readModelConfig(blobs: BlobStore, digest: Digest): ModelConfig {
  const hit = cache.get(digest);
  if (hit) return hit;
  let cfg: ModelConfig = {};
  try {
    const v = JSON.parse(readFileSync(blobs.path(digest), 'utf8'));
    if (v && typeof v === 'object' && !Array.isArray(v)) cfg = v as ModelConfig;
  } catch {
    // A config we cannot read shows as empty details rather than hiding the model.
  }
  if (cache.size > 1024) cache.clear();
  cache.set(digest, cfg);
  return cfg;
}

export function detailsOf(cfg: ModelConfig, parent = ''): ModelDetails {
  return {
    parent_model: parent,
    format: cfg.model_format ?? 'gguf',
    family: cfg.model_family ?? '',
    families: cfg.model_families ?? (cfg.model_family ? [cfg.model_family] : null),
    parameter_size: cfg.model_type ?? '',
    quantization_level: cfg.file_type ?? '',
  };
}
