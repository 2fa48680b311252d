import { KilnError, modelNotFound } from '../../common/errors.js';
import { defaultTagCandidates, parseModelName, type ModelName } from '../../common/model-name.js';
import type { ModelRecord, Store } from '../../store/index.js';

/** The model name field of a request: `model`, or the legacy `name`. */
export function requestName(body: { model?: unknown; name?: unknown }): string {
  const v = body.model ?? body.name;
  if (typeof v !== 'string' || v === '') throw new KilnError('E_BAD_REQUEST', 'model is required');
  return v;
}

/**
 * Finds a local model by name, applying the Q4_K_M default-tag rule
 * (DESIGN.md §2): a tag that names no quantization also matches
 * `<tag>-q4_K_M`, then `<tag>-instruct-q4_K_M`.
 */
export function findModel(store: Store, typed: string): { name: ModelName; record: ModelRecord } {
  const parsed = parseModelName(typed);
  for (const candidate of defaultTagCandidates(parsed)) {
    const record = store.models.get(candidate);
    if (record) return { name: candidate, record };
  }
  throw modelNotFound(typed);
}
