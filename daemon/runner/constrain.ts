import type { Grammar } from '../../engine/grammar/grammar.js';
import { GrammarMask, VocabIndex } from '../../engine/grammar/token-mask.js';
import type { Model } from '../../engine/model/model.js';

const indexes = new Map<string, VocabIndex>();

/** The vocabulary index of a model file, built on the first constrained request (all slots share it). */
function indexOf(model: Model): VocabIndex {
  let ix = indexes.get(model.path);
  if (!ix) {
    const tok = model.tokenizer;
    const bytes = Array.from({ length: tok.vocabSize }, (_, i) => tok.tokenToBytes(i));
    const eog = Array.from({ length: tok.vocabSize }, (_, i) => i).filter((i) => tok.isEog(i));
    ix = new VocabIndex(bytes, eog);
    indexes.set(model.path, ix);
  }
  return ix;
}

/**
 * The hooks for a request's grammar (its `format`, or the tool calls it
 * requires): `mask` forbids every token that could
 * not continue valid output, and `onSample` advances the grammar by each
 * token the generation goes on from (per request, so requests batched
 * together on one model each follow their own output).
 */
export function grammarConstraint(model: Model, grammar: Grammar): { mask: (logits: Float32Array) => void; onSample: (token: number) => void } {
  const gm = new GrammarMask(indexOf(model), grammar);
  return { mask: (logits) => gm.apply(logits), onSample: (token) => gm.accept(token) };
}
