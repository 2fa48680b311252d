import { describe, expect, it } from 'vitest';
import { Candidates } from './candidates.js';
import { minP, temperature, topK, topP, typical } from './filters.js';

/** Candidates whose softmax is exactly `probs` (logits = ln p), ids 0..n-1 in the given order. */
function fromProbs(probs: number[]): Candidates {
  return Candidates.of(probs.map((p, i) => [i, Math.log(p)]));
}
const ids = (c: Candidates) => c.idList();

describe('topK', () => {
  it('keeps the k highest logits in descending order', () => {
    const c = Candidates.of([[0, 1], [1, 5], [2, 3], [3, 4], [4, 2]]);
    topK(c, 3);
    expect(ids(c)).toEqual([1, 3, 2]);
  });

  it('keeps everything for k ≤ 0 and k beyond the size', () => {
    const c = fromProbs([0.2, 0.3, 0.5]);
    topK(c, 0);
    expect(c.size).toBe(3);
    topK(c, 10);
    expect(ids(c)).toEqual([2, 1, 0]);
  });

  it('selects the same top 40 of a large vocabulary through the heap as a full sort, ties by lower id', () => {
    const n = 5000;
    const logits = Array.from({ length: n }, (_, i) => Math.round(Math.sin(i * 12.9898) * 43758.5453) % 50);
    const c = Candidates.fromLogits(logits);
    topK(c, 40);
    const expected = logits.map((l, i) => [l, i]).sort((a, b) => b[0] - a[0] || a[1] - b[1]).slice(0, 40).map((x) => x[1]);
    expect(ids(c)).toEqual(expected);
  });
});

describe('topP', () => {
  it('keeps the smallest most-likely set whose mass reaches p', () => {
    const c = fromProbs([0.1, 0.4, 0.2, 0.3]);
    topP(c, 0.65);
    expect(ids(c)).toEqual([1, 3]); // 0.4 + 0.3 = 0.7 ≥ 0.65
    const d = fromProbs([0.1, 0.4, 0.2, 0.3]);
    topP(d, 0.71);
    expect(ids(d)).toEqual([1, 3, 2]);
  });

  it('always keeps the most likely token, and keeps all at p = 1', () => {
    const c = fromProbs([0.1, 0.9]);
    topP(c, 0.01);
    expect(ids(c)).toEqual([1]);
    const d = fromProbs([0.1, 0.9]);
    topP(d, 1);
    expect(d.size).toBe(2);
  });
});

describe('minP', () => {
  it('drops tokens below p times the top probability', () => {
    const c = fromProbs([0.5, 0.3, 0.15, 0.05]);
    minP(c, 0.25); // floor 0.125
    expect(ids(c)).toEqual([0, 1, 2]);
    const d = fromProbs([0.5, 0.3, 0.15, 0.05]);
    minP(d, 0.7); // floor 0.35
    expect(ids(d)).toEqual([0]);
  });

  it('keeps all at p = 0', () => {
    const c = fromProbs([0.999, 0.001]);
    minP(c, 0);
    expect(c.size).toBe(2);
  });
});

describe('typical', () => {
  it('keeps the tokens whose surprisal is nearest the entropy until the mass passes p', () => {
    // Entropy of [0.5, 0.25, 0.125, 0.125] is 1.2130 nats; surprisals 0.693, 1.386, 2.079, 2.079:
    // distances 0.520, 0.173, 0.866, 0.866 → order 1, 0, 2, 3.
    const c = fromProbs([0.5, 0.25, 0.125, 0.125]);
    typical(c, 0.5);
    expect(ids(c)).toEqual([1, 0]); // 0.25, then 0.75 > 0.5
    const d = fromProbs([0.5, 0.25, 0.125, 0.125]);
    typical(d, 0.2);
    expect(ids(d)).toEqual([1]);
  });

  it('can drop the most likely token, unlike top_p', () => {
    // H = 1.0985; surprisals 1.0788, 1.1087, 1.1087: the 0.33 tokens are the typical ones.
    const flat = fromProbs([0.34, 0.33, 0.33]);
    typical(flat, 0.3);
    expect(ids(flat)).toEqual([1]);
  });

  it('keeps all at p = 1', () => {
    const c = fromProbs([0.5, 0.5]);
    typical(c, 1);
    expect(c.size).toBe(2);
  });
});

describe('temperature', () => {
  it('sharpens below 1 and flattens above 1 without reordering', () => {
    const cold = fromProbs([0.6, 0.4]);
    temperature(cold, 0.5);
    cold.softmax();
    expect(cold.probs[0]).toBeCloseTo(0.36 / 0.52, 12);
    const hot = fromProbs([0.6, 0.4]);
    temperature(hot, 2);
    hot.softmax();
    expect(hot.probs[0]).toBeCloseTo(Math.sqrt(0.6) / (Math.sqrt(0.6) + Math.sqrt(0.4)), 12);
  });
});
