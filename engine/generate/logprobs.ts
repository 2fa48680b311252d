/**
 * Log-probabilities of generated tokens: the model's own, the log-softmax of
 * the raw logits, read before the sampler touches them (mask, penalties,
 * truncations and temperature change what is drawn, not what the model said).
 * Sums run in double precision over the whole vocabulary.
 */

/** A token's log-probability, and the most likely tokens at its position when asked for. */
export interface TokenLogprob {
  id: number;
  logprob: number;
  /** The `top` most likely tokens, most likely first (ties: lower id first); absent when none were asked for. */
  top?: { id: number; logprob: number }[];
}

/** The log-softmax of one step's logits, taken before sampling; `pick` reads a token's entry afterwards. */
export class StepLogprobs {
  private readonly lse: number;
  private readonly top?: { id: number; logprob: number }[];
  private readonly raw: Float32Array;

  constructor(logits: Float32Array, topN: number) {
    // a copy: the sampler edits the logits in place
    this.raw = logits.slice();
    let max = -Infinity;
    for (let i = 0; i < logits.length; i++) if (logits[i] > max) max = logits[i];
    let sum = 0;
    for (let i = 0; i < logits.length; i++) sum += Math.exp(logits[i] - max);
    this.lse = max + Math.log(sum);
    if (topN > 0) this.top = topTokens(this.raw, topN).map((id) => ({ id, logprob: this.raw[id] - this.lse }));
  }

  pick(id: number): TokenLogprob {
    return { id, logprob: this.raw[id] - this.lse, ...(this.top ? { top: this.top } : {}) };
  }
}

/** Ids of the n largest values, largest first (the lower id first on a tie). */
export function topTokens(values: ArrayLike<number>, n: number): number[] {
  const ids: number[] = [];
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (ids.length === n && !(v > values[ids[n - 1]])) continue;
    let k = Math.min(ids.length, n - 1);
    ids[k] = i;
    while (k > 0 && values[ids[k - 1]] < v) {
      ids[k] = ids[k - 1];
      ids[k - 1] = i;
      k--;
    }
  }
  return ids;
}
