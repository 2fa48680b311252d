/**
 * A random-weight gpt-oss against llama.cpp (its openai-moe graph): 4 layers
 * of 8 query heads over 2 KV heads of 64 on a 320-wide model (q is 512 wide,
 * wider than the model, as in the real one), q/k/v/o biases, per-head
 * attention sinks, a sliding window of 8 on the even layers (the prompts are
 * 24 tokens), NEOX RoPE with YaRN (factor 32 over an original context of
 * 4096, base 150000), and 8 experts of 256 of which each token uses 2, chosen
 * by a biased router with softmax over the chosen two, each expert with its
 * biases and the clamped SwiGLU.
 *
 * F32, F16 and Q8_0 written by kiln; MXFP4 by llama.cpp's own quantizer
 * (file type MXFP4_MOE: the 3-D expert tensors in MXFP4, every other matrix
 * Q8_0). Q8_0's teacher-forced probabilities must equal llama.cpp's within
 * 1e-4 (4e-6 measured): an attention sink folded in with other rounding than
 * llama.cpp's flash attention shows there (4e-2) long before a greedy token
 * parts.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gptOssSpec } from '../bench/arch-specs.js';
import { llamaQuantizeAsync } from '../bench/llama-quantizer.js';
import { vocabSize, writeRandomModel } from '../bench/random-model.js';
import { readGGUFFileSync } from '../engine/gguf/reader.js';
import { ggmlTypeName } from '../engine/gguf/types.js';
import { Model } from '../engine/model/model.js';
import { archOracle } from './helpers/arch-oracle.js';
import { cleanup, tempHome } from './helpers/daemon.js';
import { describeReport, expectGreedyParity, heldoutPrompts } from './helpers/decoder-oracle.js';
import { load, oracle } from './helpers/llama-cpp.js';

const spec = (nVocab: number) =>
  gptOssSpec({ nEmbd: 320, nHead: 8, nHeadKv: 2, headDim: 64, nFf: 256, nFfExp: 256, nExpert: 8, nExpertUsed: 2, nLayer: 4 }, nVocab, {
    window: 8,
    yarnFactor: 32,
    yarnOrigCtx: 4096,
    seed: 1,
  });

archOracle('gpt-oss', spec, { types: ['f32', 'f16', 'q8_0'], probabilities: { types: ['q8_0'], tol: 1e-4 } });

/** llama.cpp's file type MXFP4_MOE. */
const MXFP4_MOE = 38;

describe('gpt-oss quantized by llama.cpp to MXFP4_MOE', () => {
  let dir: string;
  const path = (n: string) => join(dir, `gpt-oss-${n}.gguf`);

  beforeAll(async () => {
    dir = tempHome('kiln-gpt-oss-mxfp4-');
    await writeRandomModel(path('F32'), spec(await vocabSize()));
    await llamaQuantizeAsync(path('F32'), path('MXFP4'), MXFP4_MOE, { threads: 2 });
  }, 120_000);

  afterAll(async () => {
    if (dir) cleanup(dir);
    await (await oracle()).dispose();
  });

  it("MXFP4 experts: 8 prompts × 32 tokens equal llama.cpp's, parting only at near-ties", async () => {
    const file = readGGUFFileSync(path('MXFP4'));
    const type = (n: string) => ggmlTypeName(file.tensors.find((t) => t.name === n)!.type);
    expect(type('blk.1.ffn_up_exps.weight')).toBe('MXFP4');
    expect(type('blk.1.attn_q.weight')).toBe('Q8_0');
    const model = await Model.load(path('MXFP4'), { nCtx: 128 });
    const theirs = await load(path('MXFP4'), 128);
    try {
      const r = await expectGreedyParity(model, theirs, heldoutPrompts(model, 8, 24), 32);
      console.log(`\nkiln vs llama.cpp, random gpt-oss quantized by llama.cpp (greedy tokens):\n${describeReport('MXFP4_MOE', r)}`);
      expect(r.whole, 'continuations equal to the last token').toBeGreaterThanOrEqual(4);
    } finally {
      model.close();
      await theirs.dispose();
    }
  });
});
