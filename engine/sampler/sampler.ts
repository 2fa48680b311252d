/**
 * The sampler chain. For each token, in the order llama.cpp's common sampler
 * applies them (so a request means the same thing here as there):
 *
 *   mask → penalties → top_k → typical_p → top_p → min_p → temperature → dist
 *
 * - mask: the caller's constraint (a grammar, JSON mode): disallowed tokens
 *   get −∞ and never become candidates.
 * - penalties: repeat/presence/frequency over the last repeat_last_n tokens,
 *   on the raw logits (penalties.ts).
 * - top_k, typical_p, top_p, min_p: truncations, judged at temperature 1
 *   (filters.ts). Because the temperature comes after them, it reshapes the
 *   surviving tokens' odds but never changes which tokens survive.
 * - temperature, then one draw from the softmax with the seeded PRNG.
 *
 * temperature ≤ 0 is greedy: the highest logit after mask and penalties
 * (lowest id on a tie); the truncations cannot change that choice and no
 * random number is drawn.
 */
import { KilnError } from '../../common/errors.js';
import { Candidates } from './candidates.js';
import { minP, temperature, topK, topP, typical } from './filters.js';
import { applyPenalties, penaltiesActive } from './penalties.js';
import { Prng } from './prng.js';
import { resolveSamplerOptions, type ResolvedSamplerOptions, type SamplerOptions } from './options.js';

export interface SamplerHooks {
  /** Edits the logits in place before anything else; set a token's logit to -Infinity to forbid it. */
  mask?: (logits: Float32Array) => void;
  /** Per-token form of the same constraint: tokens for which it returns false are forbidden. */
  allowed?: (id: number) => boolean;
  /** Context length, the window of repeat_last_n = -1. */
  nCtx?: number;
}

export class Sampler {
  readonly options: ResolvedSamplerOptions;
  private readonly rng: Prng;
  private readonly window: number;
  private history: number[] = [];

  constructor(opts: SamplerOptions = {}, private readonly hooks: SamplerHooks = {}) {
    this.options = resolveSamplerOptions(opts);
    this.rng = new Prng(this.options.seed);
    const n = this.options.repeat_last_n;
    this.window = n < 0 ? (hooks.nCtx ?? 4096) : Math.floor(n);
  }

  /** The seed in use (the drawn one when the options asked for a random seed). */
  get seed(): number {
    return this.rng.seed;
  }

  /** Records a token of the sequence (prompt or generated) for the penalties. */
  accept(id: number): void {
    if (this.window <= 0) return;
    this.history.push(id);
    if (this.history.length > 2 * this.window + 64) this.history = this.history.slice(-this.window);
  }

  /** Picks the next token. Modifies `logits` (mask and penalties are applied to it in place). */
  sample(logits: Float32Array): number {
    const o = this.options;
    this.hooks.mask?.(logits);
    if (this.hooks.allowed) for (let i = 0; i < logits.length; i++) if (!this.hooks.allowed(i)) logits[i] = -Infinity;
    if (this.window > 0 && penaltiesActive(o)) applyPenalties(logits, this.history.slice(-this.window), o);

    if (o.temperature <= 0) return argmax(logits);

    const c = Candidates.fromLogits(logits);
    if (c.size === 0) throw noCandidates();
    topK(c, o.top_k);
    typical(c, o.typical_p);
    topP(c, o.top_p);
    minP(c, o.min_p);
    temperature(c, o.temperature);
    return draw(c, this.rng.next());
  }
}

function noCandidates(): KilnError {
  return new KilnError('E_BAD_REQUEST', 'the output constraint allows no token here');
}

/** Index of the largest value, the first one on a tie. */
export function argmax(logits: ArrayLike<number>): number {
  let best = -1;
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) {
    if (logits[i] > max) {
      max = logits[i];
      best = i;
    }
  }
  if (best < 0) throw noCandidates();
  return best;
}

/** One draw from the softmax of the candidates with the uniform number u ∈ [0, 1). */
export function draw(c: Candidates, u: number): number {
  c.softmax();
  let cum = 0;
  for (let i = 0; i < c.size; i++) {
    cum += c.probs[i];
    if (u < cum) return c.ids[i];
  }
  return c.ids[c.size - 1]; // u within rounding of 1
}
