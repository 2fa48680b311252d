/**
 * The truncation steps of the sampler chain and the temperature. Each one
 * narrows a Candidates set in place, always keeping at least one token (the
 * most likely one survives every step). Thresholds are evaluated on the
 * probabilities at temperature 1, because the temperature comes last in the
 * chain (see sampler.ts).
 */
import type { Candidates } from './candidates.js';

/** Keeps the k most likely; k ≤ 0 keeps all. */
export function topK(c: Candidates, k: number): void {
  if (k <= 0) return;
  c.sortDesc(Math.max(1, Math.floor(k)));
}

/**
 * Locally typical sampling: rank tokens by how far their surprisal −ln p is
 * from the distribution's entropy, and keep the closest ones until their
 * probabilities sum past p. The result is in typicality order, not logit order.
 */
export function typical(c: Candidates, p: number): void {
  if (p >= 1 || c.size <= 1) return;
  c.softmax();
  let entropy = 0;
  for (let i = 0; i < c.size; i++) if (c.probs[i] > 0) entropy -= c.probs[i] * Math.log(c.probs[i]);
  const dist = new Float64Array(c.size);
  for (let i = 0; i < c.size; i++) dist[i] = Math.abs(-Math.log(c.probs[i]) - entropy);
  const order = Int32Array.from({ length: c.size }, (_, i) => i).sort((a, b) => dist[a] - dist[b] || c.ids[a] - c.ids[b]);
  let cum = 0;
  let keep = order.length;
  for (let i = 0; i < order.length; i++) {
    cum += c.probs[order[i]];
    // Strictly past p, as the typical-sampling reference does; top_p below stops at ≥ p.
    if (cum > p) {
      keep = i + 1;
      break;
    }
  }
  c.permute(order.subarray(0, keep));
  c.size = keep;
}

/** Nucleus: the most likely tokens until their probabilities reach p; p ≥ 1 keeps all. */
export function topP(c: Candidates, p: number): void {
  if (p >= 1 || c.size <= 1) return;
  c.sortDesc();
  c.softmax();
  let cum = 0;
  for (let i = 0; i < c.size; i++) {
    cum += c.probs[i];
    if (cum >= p) {
      c.size = i + 1;
      return;
    }
  }
}

/**
 * Drops tokens whose probability is below p × the most likely token's,
 * compared in logit space (logit ≥ max + ln p) so no softmax is needed.
 */
export function minP(c: Candidates, p: number): void {
  if (p <= 0 || c.size <= 1) return;
  let max = -Infinity;
  for (let i = 0; i < c.size; i++) if (c.logits[i] > max) max = c.logits[i];
  const floor = max + Math.log(p);
  c.filter((i) => c.logits[i] >= floor);
}

/** Divides the logits by t (t > 0; greedy decoding never gets here). */
export function temperature(c: Candidates, t: number): void {
  if (t === 1) return;
  for (let i = 0; i < c.size; i++) c.logits[i] /= t;
}
