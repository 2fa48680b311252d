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
 * Reports every batch the model evaluates to `watcher` (set per request).
 * The engine's mask hook only sees logits, not the token sampled from them;
 * but each sampled token is evaluated, alone, before the next sample, so
 * watching the forward pass tells the grammar what was chosen.
 */
export function watchEvals(model: Model): { watcher?: (tokens: ArrayLike<number>) => void } {
  const w: { watcher?: (tokens: ArrayLike<number>) => void } = {};
  const native = model.native;
  const evalFn = native.eval.bind(native);
  native.eval = (tokens, pos0, allLogits, out) => {
    w.watcher?.(tokens);
    return evalFn(tokens, pos0, allLogits, out);
  };
  return w;
}

/**
 * The mask hook for a request's grammar (its `format`, or the tool calls it
 * requires): the grammar starts at the first sample (after the prompt),
 * advances on each token evaluated after it, and forbids every token that
 * could not continue valid output.
 */
export function grammarMask(model: Model, grammar: Grammar, evals: { watcher?: (tokens: ArrayLike<number>) => void }): (logits: Float32Array) => void {
  const gm = new GrammarMask(indexOf(model), grammar);
  let sampling = false;
  evals.watcher = (tokens) => {
    if (sampling && tokens.length === 1) gm.accept(tokens[0]);
  };
  return (logits) => {
    sampling = true;
    gm.apply(logits);
  };
}
