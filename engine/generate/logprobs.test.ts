import { describe, expect, it } from 'vitest';
import { StepLogprobs, topTokens } from './logprobs.js';

describe('log-probabilities of a step', () => {
  it('are the log-softmax of the logits as they were before the sampler edited them', () => {
    const logits = Float32Array.from([1, 3, 2, 3, -Infinity]);
    const step = new StepLogprobs(logits, 3);
    logits.fill(-Infinity); // what a mask or penalty does in place
    const lse = Math.log(Math.exp(1) + 2 * Math.exp(3) + Math.exp(2));
    const lp = step.pick(2);
    expect(lp.logprob).toBeCloseTo(2 - lse, 12);
    // most likely first, the lower id first on a tie
    expect(lp.top!.map((t) => t.id)).toEqual([1, 3, 2]);
    expect(lp.top![0].logprob).toBeCloseTo(3 - lse, 12);
    expect(new StepLogprobs(Float32Array.from([0, 0]), 0).pick(1)).toEqual({ id: 1, logprob: -Math.log(2) });
  });

  it('topTokens keeps the n largest in order', () => {
    const v = Array.from({ length: 1000 }, (_, i) => Math.sin(i * 7.3));
    const want = v.map((x, i) => [x, i] as const).sort((a, b) => b[0] - a[0] || a[1] - b[1]).slice(0, 20).map(([, i]) => i);
    expect(topTokens(v, 20)).toEqual(want);
    expect(topTokens([5], 3)).toEqual([0]);
  });
});
