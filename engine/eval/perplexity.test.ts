import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KJV_F32, KJV_GOLDEN, KJV_HELDOUT } from '../../test/helpers/fixtures.js';
import { Model } from '../model/model.js';
import { perplexity } from './perplexity.js';
import { windows } from './windows.js';

const heldout = (JSON.parse(readFileSync(KJV_GOLDEN, 'utf8')) as {
  heldout: { n_tokens: number; mean_nll: number; perplexity: number; chunks: { start: number; n_tokens: number; mean_nll: number }[] };
}).heldout;

describe('windows', () => {
  it('cuts n_ctx − 1 token chunks, each after BOS, the last one shorter', () => {
    const ws = windows([1, 2, 3, 4, 5, 6, 7], 4, 99);
    expect(ws.map((w) => w.input)).toEqual([[99, 1, 2, 3], [99, 4, 5, 6], [99, 7]]);
    expect(ws.map((w) => w.targets)).toEqual([[1, 2, 3], [4, 5, 6], [7]]);
  });

  it('without a BOS, takes n_ctx-token chunks and leaves each first token unscored', () => {
    const ws = windows([1, 2, 3, 4, 5, 6, 7], 3, undefined);
    expect(ws.map((w) => [w.input, w.targets])).toEqual([[[1, 2, 3], [2, 3]], [[4, 5, 6], [5, 6]]]);
  });
});

describe('perplexity', () => {
  let model: Model;
  beforeAll(async () => {
    model = await Model.load(KJV_F32, { nCtx: 256, kvF16: false });
  });
  afterAll(() => model?.close());

  it("of kjv-f32 on heldout.txt equals llama.cpp's 76.5830, chunk by chunk", async () => {
    const r = await perplexity(model, readFileSync(KJV_HELDOUT, 'utf8'));
    console.log(`kjv-f32 heldout: mean NLL ${r.meanNll.toFixed(6)}, perplexity ${r.perplexity.toFixed(4)} (llama.cpp ${heldout.perplexity.toFixed(4)})`);
    expect(r.tokens).toBe(heldout.n_tokens);
    expect(r.chunks.map((c) => [c.start, c.nTokens])).toEqual(heldout.chunks.map((c) => [c.start, c.n_tokens]));
    // The issue asks for 1%; kiln's f32 pass lands within 1e-5 nats of llama.cpp's.
    expect(Math.abs(r.perplexity / heldout.perplexity - 1)).toBeLessThan(0.01);
    expect(Math.abs(r.meanNll - heldout.mean_nll)).toBeLessThan(1e-4);
    r.chunks.forEach((c, i) => expect(Math.abs(c.meanNll - heldout.chunks[i].mean_nll)).toBeLessThan(1e-4));
  });

  it('refuses a window larger than the loaded context', async () => {
    await expect(perplexity(model, 'In the beginning', { nCtx: 512 })).rejects.toThrow(/more than the 256 tokens/);
  });
});
