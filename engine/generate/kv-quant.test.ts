/**
 * A quantized KV cache through the paths that move cache rows: context shift
 * (keys dequantized, re-rotated and quantized again), kvSave / kvLoad
 * between sequences, the prompt cache cutting an entry whose key and value
 * rows differ in size, and batched decoding of several sequences.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KJV_F32, KJV_GOLDEN } from '../../test/helpers/fixtures.js';
import { maxDiff, writeOneLayerKjv } from '../../test/helpers/kjv-layers.js';
import { gv } from '../gguf/types.js';
import type { KvTypes } from '../../common/kv-cache.js';
import { Model } from '../model/model.js';
import { PromptCache } from './prompt-cache.js';
import { decoderSpec } from '../../bench/arch-specs.js';
import { vocabSize, writeRandomModel } from '../../bench/random-model.js';

const golden = (JSON.parse(readFileSync(KJV_GOLDEN, 'utf8')) as { prompts: { prompt_tokens: number[]; generated_tokens: number[] }[] }).prompts;
const dir = mkdtempSync(join(tmpdir(), 'kiln-kvq-'));
const ONE_LAYER = join(dir, 'kjv-1-layer.gguf');
const TOKENS = [...golden[7].prompt_tokens, ...golden[7].generated_tokens]; // BOS + 47

beforeAll(() => writeOneLayerKjv(ONE_LAYER));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const QUANT: KvTypes[] = [
  { k: 'q8_0', v: 'q8_0' },
  { k: 'q4_0', v: 'q4_0' },
  { k: 'q8_0', v: 'q4_0' },
];

describe('context shift with a quantized cache (one layer: a key depends only on its token and position)', () => {
  it.each(QUANT)('K $k, V $v: the shifted cache continues as the kept tokens evaluated afresh, within the quantization step', async (kv) => {
    const m = await Model.load(ONE_LAYER, { nCtx: 128, kvTypes: kv });
    const f16 = await Model.load(ONE_LAYER, { nCtx: 128 });
    try {
      const [bos, ...rest] = TOKENS;
      const dropped = rest.slice(0, 20), kept = rest.slice(20, 40), next = rest[40];
      m.native.truncate(0);
      m.native.eval([bos, ...dropped, ...kept], 0);
      expect(m.native.shift(1, dropped.length)).toBe(1 + kept.length);
      const shifted = m.native.eval([next], 1 + kept.length).slice();
      m.native.truncate(0);
      const fresh = m.native.eval([bos, ...kept, next], 0).slice();
      f16.native.truncate(0);
      const exact = f16.native.eval([bos, ...kept, next], 0).slice();
      // the requantized keys differ from freshly quantized ones by about one quantization step, so the
      // shift may cost what the cache type costs anyway (fresh vs f16), not more; with the keys not
      // re-rotated the difference is of the order of the logits themselves
      const scale = Math.max(...Array.from(fresh, Math.abs));
      const shiftErr = maxDiff(shifted, fresh) / scale, typeErr = maxDiff(fresh, exact) / scale;
      console.log(`shift vs fresh, ${kv.k}/${kv.v}: ${shiftErr.toExponential(2)} (the cache type vs f16: ${typeErr.toExponential(2)})`);
      expect(shiftErr).toBeLessThan(Math.max(2 * typeErr, 1e-3));
    } finally {
      m.close();
      f16.close();
    }
  });
});

describe('moving quantized rows', () => {
  let m: Model;
  const kv: KvTypes = { k: 'q8_0', v: 'q4_0' };
  beforeAll(async () => {
    m = await Model.load(KJV_F32, { nCtx: 128, nSeq: 3, kvTypes: kv });
  });
  afterAll(() => m?.close());

  it('kvSave holds each layer as n key rows then n value rows of their own sizes, and kvLoad into another sequence continues identically', () => {
    const prompt = golden[0].prompt_tokens;
    const n = prompt.length;
    m.native.truncate(0, 0);
    m.native.decode(Int32Array.from(prompt), Int32Array.from(prompt, (_, i) => i), new Int32Array(n), Int32Array.of(n - 1));
    const bytes = m.native.kvSave(0, 0, n);
    expect(bytes.byteLength).toBe(m.hp.nLayer * n * (m.kvRowBytes.k + m.kvRowBytes.v));
    expect(m.kvRowBytes.k).not.toBe(m.kvRowBytes.v);
    m.native.truncate(0, 1);
    m.native.kvLoad(1, 0, n, new Uint8Array(bytes));
    const next = golden[0].generated_tokens[0];
    const a = m.native.decode(Int32Array.of(next), Int32Array.of(n), Int32Array.of(0), Int32Array.of(0)).slice();
    const b = m.native.decode(Int32Array.of(next), Int32Array.of(n), Int32Array.of(1), Int32Array.of(0)).slice();
    expect(maxDiff(a, b)).toBe(0);
  });

  it('the prompt cache cuts an entry to a shorter prefix row by row of each size', () => {
    const cache = new PromptCache(64 << 20, m.hp.nLayer, m.kvRowBytes);
    const all = TOKENS.slice(0, 40);
    const cut = 25;
    m.native.truncate(0, 0);
    m.native.decode(Int32Array.from(all), Int32Array.from(all, (_, i) => i), new Int32Array(all.length), Int32Array.of(all.length - 1));
    cache.store(all, () => m.native.kvSave(0, 0, all.length));
    const hit = cache.lookup([...all.slice(0, cut), 1, 2, 3], 100)!;
    expect(hit.n).toBe(cut);
    // the cut entry is what saving the first `cut` positions gives
    expect(Buffer.from(hit.bytes).equals(Buffer.from(m.native.kvSave(0, 0, cut)))).toBe(true);
    // (an equal-halves cut, as without kvRow, would not be)
    const blind = new PromptCache(64 << 20, m.hp.nLayer);
    blind.store(all, () => m.native.kvSave(0, 0, all.length));
    expect(Buffer.from(blind.lookup(all.slice(0, cut), cut)!.bytes).equals(Buffer.from(m.native.kvSave(0, 0, cut)))).toBe(false);
  });

  it('three sequences decoded in one batch give the logits each gets alone', () => {
    const prompts = [golden[1].prompt_tokens, golden[2].prompt_tokens, golden[3].prompt_tokens];
    const alone = prompts.map((p) => {
      m.native.truncate(0, 0);
      return m.native.decode(Int32Array.from(p), Int32Array.from(p, (_, i) => i), new Int32Array(p.length), Int32Array.of(p.length - 1)).slice();
    });
    for (let s = 0; s < 3; s++) m.native.truncate(0, s);
    const tokens = prompts.flat();
    const pos = prompts.flatMap((p) => p.map((_, i) => i));
    const seq = prompts.flatMap((p, s) => p.map(() => s));
    let end = 0;
    const outs = prompts.map((p) => (end += p.length) - 1);
    const together = m.native.decode(Int32Array.from(tokens), Int32Array.from(pos), Int32Array.from(seq), Int32Array.from(outs));
    const V = m.hp.nVocab;
    for (let s = 0; s < 3; s++) expect(maxDiff(together.subarray(s * V, (s + 1) * V), alone[s])).toBeLessThan(1e-4);
  });
});

describe('where a quantized cache cannot be', () => {
  it('a model llama.cpp runs without flash attention (gemma2) keeps an f16 cache, and says so', async () => {
    const path = join(dir, 'gemma2.gguf');
    await writeRandomModel(path, decoderSpec('gemma2', { nEmbd: 128, nHead: 4, nHeadKv: 2, headDim: 32, nFf: 256, nLayer: 2, nCtx: 4096 }, await vocabSize(), {
      kv: { 'attention.sliding_window': gv.u32(8), attn_logit_softcapping: gv.f32(2), final_logit_softcapping: gv.f32(15) },
    }));
    const m = await Model.load(path, { nCtx: 64, kvTypes: { k: 'q8_0', v: 'q8_0' } });
    try {
      expect(m.kvTypes).toEqual({ k: 'f16', v: 'f16' });
      expect(m.native.eval([1, 2, 3], 0).length).toBe(m.hp.nVocab);
    } finally {
      m.close();
    }
  });

  it('the native context refuses a quantized cache it cannot hold with a clear error', async () => {
    const m = await Model.load(ONE_LAYER, { nCtx: 64 });
    try {
      const { NativeLlama } = await import('../../kernels/index.js');
      const { mapFile } = await import('../../kernels/index.js');
      const { llamaLayout } = await import('../model/hparams.js');
      const layout = llamaLayout(m.file, { nCtx: 64 });
      const map = mapFile(ONE_LAYER);
      try {
        expect(() => new NativeLlama(map, { ...layout.hp, kvCache: 'f32', kvTypeK: 'q8_0' }, layout.weights)).toThrow(/a quantized KV cache needs kv_cache f16/);
        expect(() => new NativeLlama(map, { ...layout.hp, kvTypeV: 'q5_1' as never }, layout.weights)).toThrow(/params\.kvTypeV must be 'f16', 'q8_0' or 'q4_0'; got 'q5_1'/);
        expect(() => new NativeLlama(map, { ...layout.hp, attnUnfused: true, kvTypeK: 'q4_0' }, layout.weights)).toThrow(/needs flash attention/);
      } finally {
        map.unmap();
      }
    } finally {
      m.close();
    }
  });
});
