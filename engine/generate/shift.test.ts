import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KJV_F32, KJV_GOLDEN } from '../../test/helpers/fixtures.js';
import { maxDiff, writeOneLayerKjv } from '../../test/helpers/kjv-layers.js';
import { Model } from '../model/model.js';
import { Generator } from './generator.js';
import type { GenerateChunk, GenerateStats } from './types.js';

/**
 * Context shift. The native part is checked exactly on a one-layer cut of
 * kjv: there a cached key or value depends only on its token and position,
 * so after dropping positions and re-rotating the keys that move, the cache
 * must be what evaluating the kept tokens afresh gives, and the next token's
 * logits must match. (With more layers the kept tokens' states still carry
 * the dropped ones, by design.) Then the generator on the whole model.
 */
const golden = (JSON.parse(readFileSync(KJV_GOLDEN, 'utf8')) as { prompts: { prompt_tokens: number[]; generated_tokens: number[] }[] }).prompts;
const dir = mkdtempSync(join(tmpdir(), 'kiln-shift-'));
const ONE_LAYER = join(dir, 'kjv-1-layer.gguf');

beforeAll(() => writeOneLayerKjv(ONE_LAYER));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('NativeLlama.shift', () => {
  it.each([false, true])('drops positions and re-rotates the keys that move (one layer, f16 cache: %s)', async (kvF16) => {
    const m = await Model.load(ONE_LAYER, { nCtx: 128, kvF16 });
    try {
      const [bos, ...rest] = [...golden[7].prompt_tokens, ...golden[7].generated_tokens]; // BOS + 47 tokens
      const dropped = rest.slice(0, 20);
      const kept = rest.slice(20, 40);
      const next = rest[40];
      m.native.truncate(0);
      m.native.eval([bos, ...dropped, ...kept], 0);
      expect(m.native.shift(1, dropped.length)).toBe(1 + kept.length);
      const shifted = m.native.eval([next], 1 + kept.length).slice();
      m.native.truncate(0);
      const fresh = m.native.eval([bos, ...kept, next], 0).slice();
      const scale = Math.max(...Array.from(fresh, Math.abs));
      // f32 cache: rotation rounding only; f16: the moved keys are rounded to binary16 once more
      // measured 2.5e-7 (f32 cache) and 6.3e-5 (f16); with the keys moved but not re-rotated both fail
      expect(maxDiff(shifted, fresh) / scale).toBeLessThan(kvF16 ? 5e-4 : 2e-6);
      console.log(`shift vs fresh, f16 cache ${kvF16}: max |Δlogit| / max |logit| = ${(maxDiff(shifted, fresh) / scale).toExponential(2)}`);
    } finally {
      m.close();
    }
  });

  it('refuses a range outside the cache', async () => {
    const m = await Model.load(ONE_LAYER, { nCtx: 64 });
    try {
      m.native.truncate(0);
      m.native.eval(golden[0].prompt_tokens, 0);
      expect(() => m.native.shift(2, golden[0].prompt_tokens.length)).toThrow(/not inside the cached positions/);
      expect(() => m.native.shift(0, 0)).toThrow(/discard >= 1/);
    } finally {
      m.close();
    }
  });
});

async function run(gen: Generator, prompt: number[], opts: Parameters<Generator['generate']>[1]): Promise<{ text: string; stats: GenerateStats }> {
  const it = gen.generate(prompt, opts);
  const chunks: GenerateChunk[] = [];
  for (;;) {
    const r = await it.next();
    if (r.done) return { text: chunks.map((c) => c.text).join(''), stats: r.value };
    chunks.push(r.value);
  }
}

describe('Generator with shift', () => {
  it('goes on past a full context, keeping num_keep tokens; without shift (or with num_predict -2) it ends with length', async () => {
    const m = await Model.load(KJV_F32, { nCtx: 64 });
    try {
      const gen = new Generator(m);
      const prompt = golden[3].prompt_tokens;
      const noEog = (l: Float32Array) => {
        for (const id of [1996, 1999]) l[id] = -Infinity;
      };
      const opts = { temperature: 0.8, seed: 7, mask: noEog };
      const shifted = await run(gen, prompt, { ...opts, num_predict: 150, shift: true, num_keep: 4 });
      expect(shifted.stats).toMatchObject({ doneReason: 'length', evalCount: 150 });
      expect(shifted.stats.shifts).toBeGreaterThanOrEqual(3);
      expect(shifted.stats.context.slice(0, prompt.length)).toEqual(prompt);
      // the cache kept the first num_keep tokens and never held more than num_ctx
      expect(gen.cachedTokens.slice(0, 4)).toEqual(prompt.slice(0, 4));
      expect(gen.cachedTokens.length).toBeLessThanOrEqual(64);
      expect(shifted.text.length).toBeGreaterThan(100);

      const plain = await run(gen, prompt, { ...opts, num_predict: 150 });
      expect(plain.stats).toMatchObject({ doneReason: 'length', evalCount: 64 - prompt.length + 1 });
      expect(plain.stats.shifts).toBeUndefined();
      const fill = await run(gen, prompt, { ...opts, num_predict: -2, shift: true });
      expect(fill.stats).toMatchObject({ doneReason: 'length', evalCount: 64 - prompt.length + 1 });
    } finally {
      m.close();
    }
  });
});
