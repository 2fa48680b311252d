import { describe, expect, it } from 'vitest';
import { Prng } from './prng.js';

const take = (p: Prng, n: number) => Array.from({ length: n }, () => p.next());

describe('Prng', () => {
  it('gives the same sequence for the same seed', () => {
    expect(take(new Prng(42), 100)).toEqual(take(new Prng(42), 100));
    expect(take(new Prng(2 ** 40 + 3), 10)).toEqual(take(new Prng(2 ** 40 + 3), 10));
  });

  it('gives unrelated sequences for neighbouring seeds, including seeds that differ above 32 bits', () => {
    const a = take(new Prng(1), 50);
    const b = take(new Prng(2), 50);
    expect(a.filter((x, i) => x === b[i])).toEqual([]);
    expect(take(new Prng(5), 5)).not.toEqual(take(new Prng(5 + 2 ** 32), 5));
  });

  it('draws a random seed for -1 and reports it, and that seed replays the stream', () => {
    const p = new Prng(-1);
    expect(p.seed).toBeGreaterThanOrEqual(0);
    const replay = new Prng(p.seed);
    expect(take(p, 20)).toEqual(take(replay, 20));
    expect(new Prng(-1).seed).not.toBe(new Prng(-1).seed);
  });

  it('is uniform on [0, 1): every decile gets about a tenth of 100k draws', () => {
    const p = new Prng(7);
    const bins = new Array(10).fill(0);
    let outside = 0;
    for (let i = 0; i < 100_000; i++) {
      const x = p.next();
      if (!(x >= 0 && x < 1)) outside++;
      else bins[Math.floor(x * 10)]++;
    }
    expect(outside).toBe(0);
    // σ of a bin count is about 95; 5σ bounds.
    for (const b of bins) expect(Math.abs(b - 10_000)).toBeLessThan(500);
  });
});
