/**
 * gemma2 / gemma3 beyond the oracle tests (test/oracle-gemma*.test.ts): the
 * settings llamaLayout derives from the metadata where a file leaves keys out
 * (llama.cpp's defaults), and the prompt-batch attention path (attn_batch,
 * taken from 64 tokens on an f16 cache and for any batch on an f32 one),
 * whose sliding window and soft-cap the oracle's short prompts never reach:
 * a long prompt evaluated in one batch must give the logits that evaluating
 * it token by token (the per-row kernel) gives.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { vocabSize, writeRandomModel, type RandomModelSpec } from '../../bench/random-model.js';
import { decoderSpec } from '../../bench/arch-specs.js';
import { readGGUFFile, readGGUFFileSync } from '../gguf/reader.js';
import { gv, type GGUFValue } from '../gguf/types.js';
import { llamaLayout } from './hparams.js';
import { Model } from './model.js';

const dir = mkdtempSync(join(tmpdir(), 'kiln-gemma-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const D = 64, H = 4, HKV = 2, HD = 32, FF = 128;

function spec(arch: 'gemma2' | 'gemma3', nVocab: number, layers: number, kv: Record<string, GGUFValue>): RandomModelSpec {
  const prefixed = Object.fromEntries(Object.entries(kv).map(([k, v]) => [k.replace(`${arch}.`, ''), v]));
  return decoderSpec(arch, { nEmbd: D, nHead: H, nHeadKv: HKV, headDim: HD, nFf: FF, nLayer: layers, nCtx: 8192 }, nVocab, {
    kv: prefixed,
    qkGain: 3,
    qkNormSpread: 0.1,
    embdSigma: 0.05,
    outputNorm: { kind: 'const', value: 4 },
  });
}

async function write(name: string, s: RandomModelSpec): Promise<string> {
  return writeRandomModel(join(dir, `${name}.gguf`), s);
}

describe('gemma settings from the metadata', () => {
  it('gemma2 without the optional keys takes llama.cpp’s defaults', async () => {
    const { hp } = llamaLayout(await readGGUFFile(await write('g2-defaults', spec('gemma2', await vocabSize(), 2, {}))));
    expect(hp).toMatchObject({
      ropeNeox: true,
      ffnGelu: true,
      embdScale: Math.fround(8),
      attnQScale: Math.fround(1 / Math.sqrt(HD)),
      attnSoftcap: 50,
      finalSoftcap: 30,
      nSwa: 4096,
      swaPattern: 2,
      ropeBaseSwa: 10000,
      attnUnfused: true,
    });
  });

  it('gemma3 without sliding_window has no window and no soft-capping; with it, 5 local layers to 1 and a local base of 10000', async () => {
    const nVocab = await vocabSize();
    const plain = llamaLayout(await readGGUFFile(await write('g3-plain', spec('gemma3', nVocab, 2, { 'gemma3.rope.freq_base': gv.f32(1e6) })))).hp;
    expect(plain.nSwa ?? 0).toBe(0);
    expect(plain.attnSoftcap ?? 0).toBe(0);
    expect(plain.finalSoftcap).toBe(0);
    expect(plain.attnUnfused ?? false).toBe(false);
    const swa = llamaLayout(
      await readGGUFFile(await write('g3-swa', spec('gemma3', nVocab, 2, { 'gemma3.rope.freq_base': gv.f32(1e6), 'gemma3.attention.sliding_window': gv.u32(512) }))),
    ).hp;
    expect(swa).toMatchObject({ nSwa: 512, swaPattern: 6, ropeBase: 1e6, ropeBaseSwa: 10000, ropeFreqScaleSwa: 1 });
  });

  it('the 27B shapes scale q by 1/√(n_embd/n_head), as llama.cpp recognizes them by layer count', async () => {
    const { hp } = llamaLayout(await readGGUFFile(await write('g2-46', spec('gemma2', await vocabSize(), 46, { 'gemma2.attention.key_length': gv.u32(HD) }))));
    expect(hp.attnQScale).toBe(Math.fround(1 / Math.fround(Math.sqrt(D / H))));
  });

  it('refuses a per-layer sliding_window_pattern array, which llama.cpp does not read either', async () => {
    const path = await write(
      'g3-array',
      spec('gemma3', await vocabSize(), 2, {
        'gemma3.attention.sliding_window': gv.u32(8),
        'gemma3.attention.sliding_window_pattern': gv.array(7, [true, false]),
      }),
    );
    expect(() => llamaLayout(readGGUFFileSync(path))).toThrow(/sliding_window_pattern array is not supported/);
  });
});

describe('gemma prompt batches: sliding window and soft-cap in attn_batch', () => {
  it.each([
    ['gemma2', { 'gemma2.attention.sliding_window': gv.u32(8), 'gemma2.attn_logit_softcapping': gv.f32(2) }],
    ['gemma3', { 'gemma3.attention.sliding_window': gv.u32(8), 'gemma3.attention.sliding_window_pattern': gv.u32(2) }],
  ] as const)('%s: a 100-token prompt in one batch gives the logits of token-by-token evaluation (f32 cache)', async (arch, kv) => {
    const nVocab = await vocabSize();
    const m = await Model.load(await write(`${arch}-batch`, spec(arch, nVocab, 4, kv)), { nCtx: 128, kvF16: false });
    try {
      const toks = Array.from({ length: 100 }, (_, i) => (i * 131 + 7) % nVocab);
      const batch = m.native.eval(toks, 0, true).slice();
      m.native.truncate(0);
      let maxRel = 0;
      for (let t = 0; t < toks.length; t++) {
        const one = m.native.eval([toks[t]], t);
        const row = batch.subarray(t * nVocab, (t + 1) * nVocab);
        let diff = 0, scale = 0;
        for (let i = 0; i < nVocab; i++) {
          diff = Math.max(diff, Math.abs(row[i] - one[i]));
          scale = Math.max(scale, Math.abs(one[i]));
        }
        maxRel = Math.max(maxRel, diff / scale);
      }
      // measured ~2e-4 (the batched matmuls round differently); a batch that ignores the window gives ~1.3
      expect(maxRel).toBeLessThan(2e-3);
    } finally {
      m.close();
    }
  });
});
