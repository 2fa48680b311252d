import { describe, expect, it } from 'vitest';
import { isKilnError } from '../../common/errors.js';
import { Sampler } from './sampler.js';
import { SAMPLER_DEFAULTS, resolveSamplerOptions, type SamplerOptions } from './options.js';

/** Logits whose softmax is `probs`. */
const logitsOf = (probs: number[]) => Float32Array.from(probs, (p) => (p > 0 ? Math.log(p) : -Infinity));

/** Token frequencies over n draws from a fresh copy of the logits each time. */
function histogram(s: Sampler, logits: Float32Array, n: number): number[] {
  const h = new Array(logits.length).fill(0);
  for (let i = 0; i < n; i++) h[s.sample(logits.slice())]++;
  return h;
}

const OFF: SamplerOptions = { temperature: 1, top_k: 0, top_p: 1, min_p: 0, typical_p: 1, repeat_penalty: 1, seed: 1 };
const P = [0.05, 0.1, 0.5, 0.15, 0.2];

describe('sampler options', () => {
  it("uses Ollama's defaults and treats null as default", () => {
    expect(resolveSamplerOptions({})).toEqual({
      temperature: 0.8, top_k: 40, top_p: 0.9, min_p: 0, typical_p: 1,
      repeat_penalty: 1.1, repeat_last_n: 64, presence_penalty: 0, frequency_penalty: 0, seed: -1,
    });
    expect(resolveSamplerOptions({ temperature: null as never, top_k: 5 })).toEqual({ ...SAMPLER_DEFAULTS, top_k: 5 });
  });
});

describe('Sampler', () => {
  it('is greedy at temperature 0: the highest logit, lowest id on a tie, whatever the seed', () => {
    for (const seed of [1, 2, 3]) expect(new Sampler({ temperature: 0, seed }).sample(logitsOf(P))).toBe(2);
    expect(new Sampler({ temperature: 0 }).sample(Float32Array.from([1, 3, 3, 2]))).toBe(1);
  });

  it('draws from the softmax at temperature 1 with every truncation off', () => {
    const h = histogram(new Sampler(OFF), logitsOf(P), 20_000);
    P.forEach((p, i) => expect(Math.abs(h[i] / 20_000 - p)).toBeLessThan(0.015));
  });

  it('repeats a sequence exactly for the same seed and differs for another', () => {
    const run = (seed: number) => {
      const s = new Sampler({ seed, temperature: 1.5, top_k: 0, top_p: 1 });
      return Array.from({ length: 64 }, () => s.sample(logitsOf(P)));
    };
    expect(run(1234)).toEqual(run(1234));
    expect(run(1234)).not.toEqual(run(4321));
  });

  it('concentrates on the top token at low temperature and spreads at high temperature', () => {
    const cold = histogram(new Sampler({ ...OFF, temperature: 0.25 }), logitsOf(P), 5000);
    const hot = histogram(new Sampler({ ...OFF, temperature: 3 }), logitsOf(P), 5000);
    expect(cold[2] / 5000).toBeGreaterThan(0.95);
    expect(hot[2] / 5000).toBeLessThan(0.4);
    expect(hot[0]).toBeGreaterThan(cold[0]);
  });

  it('never draws outside top_k, top_p, min_p or typical_p', () => {
    const only = (opts: SamplerOptions) => histogram(new Sampler({ ...OFF, ...opts }), logitsOf(P), 2000).flatMap((n, i) => (n > 0 ? [i] : []));
    expect(only({ top_k: 2 })).toEqual([2, 4]);
    expect(only({ top_p: 0.75 })).toEqual([2, 3, 4]); // 0.5 + 0.2 = 0.7 < 0.75, + 0.15 reaches it
    expect(only({ min_p: 0.35 })).toEqual([2, 4]); // floor 0.175
    expect(only({ typical_p: 0.3 }).length).toBeLessThan(5);
  });

  it('applies the truncations before the temperature: a high temperature cannot revive a cut token', () => {
    const h = histogram(new Sampler({ ...OFF, top_k: 2, temperature: 50 }), logitsOf(P), 2000);
    expect(h[0] + h[1] + h[3]).toBe(0);
    expect(Math.abs(h[2] - h[4])).toBeLessThan(200); // nearly flat between the two survivors
  });

  it('repeat_penalty divides a seen positive logit and multiplies a seen negative one', () => {
    const s = new Sampler({ temperature: 0, repeat_penalty: 2, repeat_last_n: 64 });
    s.accept(0);
    s.accept(1);
    const l = Float32Array.from([4, -1, 3]);
    expect(s.sample(l)).toBe(2); // 4/2 = 2 < 3
    expect(Array.from(l)).toEqual([2, -2, 3]);
  });

  it('presence and frequency penalties subtract once per seen token and once per occurrence', () => {
    const s = new Sampler({ temperature: 0, repeat_penalty: 1, presence_penalty: 0.5, frequency_penalty: 0.25 });
    for (const t of [0, 0, 0, 1]) s.accept(t);
    const l = Float32Array.from([3, 3, 2.5]);
    s.sample(l);
    expect(Array.from(l)).toEqual([3 - 0.5 - 0.75, 3 - 0.5 - 0.25, 2.5]);
  });

  it('penalises only the last repeat_last_n tokens, and nothing at repeat_last_n 0', () => {
    const s = new Sampler({ temperature: 0, repeat_penalty: 10, repeat_last_n: 2 });
    for (const t of [0, 1, 1]) s.accept(t);
    expect(s.sample(Float32Array.from([5, 4.9]))).toBe(0); // 0 left the window
    const off = new Sampler({ temperature: 0, repeat_penalty: 10, repeat_last_n: 0 });
    off.accept(0);
    expect(off.sample(Float32Array.from([5, 4.9]))).toBe(0);
  });

  it('takes the whole context as the window at repeat_last_n -1', () => {
    const s = new Sampler({ temperature: 0, repeat_penalty: 10, repeat_last_n: -1 }, { nCtx: 1000 });
    s.accept(0);
    for (let i = 0; i < 500; i++) s.accept(2);
    expect(s.sample(Float32Array.from([5, 4.9, -100]))).toBe(1);
  });

  it('honours the mask callback and the allowed() predicate, greedy or not', () => {
    const mask = (l: Float32Array) => {
      l[2] = -Infinity;
    };
    expect(new Sampler({ temperature: 0 }, { mask }).sample(logitsOf(P))).toBe(4);
    const h = histogram(new Sampler(OFF, { allowed: (id) => id % 2 === 1 }), logitsOf(P), 1000);
    expect(h[0] + h[2] + h[4]).toBe(0);
  });

  it('refuses a mask that forbids every token', () => {
    const s = new Sampler(OFF, { allowed: () => false });
    let err: unknown;
    try {
      s.sample(logitsOf(P));
    } catch (e) {
      err = e;
    }
    expect(isKilnError(err, 'E_BAD_REQUEST')).toBe(true);
  });
});
