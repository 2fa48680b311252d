import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KJV_F16, KJV_F32, KJV_HELDOUT } from '../../test/helpers/fixtures.js';
import { Model } from '../model/model.js';
import { klDivergence } from './kl.js';

describe('klDivergence', () => {
  let f32: Model;
  let f16: Model;
  const text = readFileSync(KJV_HELDOUT, 'utf8').slice(0, 1500);
  beforeAll(async () => {
    f32 = await Model.load(KJV_F32, { nCtx: 128, kvF16: false });
    f16 = await Model.load(KJV_F16, { nCtx: 128, kvF16: false });
  });
  afterAll(() => {
    f32?.close();
    f16?.close();
  });

  it('is zero between a model and itself, with full top-1 agreement', async () => {
    const r = await klDivergence(f32, f32, text.slice(0, 500));
    expect(r.meanKl).toBe(0);
    expect(r.maxAbsDp).toBe(0);
    expect(r.top1Agreement).toBe(1);
    expect(r.base.perplexity).toBe(r.other.perplexity);
  });

  it('is small but not zero from f32 to f16 weights, and reports both perplexities', async () => {
    const r = await klDivergence(f32, f16, text);
    console.log(`KL(kjv-f32 ‖ kjv-f16) over ${r.scored} tokens: mean ${r.meanKl.toExponential(2)}, p99 ${r.p99Kl.toExponential(2)}, max ${r.maxKl.toExponential(2)}, top-1 ${(r.top1Agreement * 100).toFixed(1)}%, max |Δp| ${r.maxAbsDp.toExponential(2)}`);
    expect(r.meanKl).toBeGreaterThan(0);
    expect(r.meanKl).toBeLessThan(1e-4);
    expect(r.maxKl).toBeGreaterThanOrEqual(r.p99Kl);
    expect(r.p99Kl).toBeGreaterThanOrEqual(r.medianKl);
    expect(r.top1Agreement).toBeGreaterThan(0.97);
    expect(Math.abs(r.base.meanNll - r.other.meanNll)).toBeLessThan(0.01);
    expect(r.scored).toBe(r.tokens);
  });
});
