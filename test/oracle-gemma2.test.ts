/**
 * A random-weight gemma2 against llama.cpp: 160 wide, 4 query heads of 48
 * over 2 KV heads (so q is 192 wide, not n_embd), 4 layers alternating a
 * sliding window of 8 with global attention, FFN 384 (GEGLU), post-attention
 * and post-FFN norms, embeddings scaled by √160 and tied to the output, an
 * attention logit cap of 2 (small enough to bite on this model) and a
 * `query_pre_attn_scalar` unlike head_dim (llama.cpp does not read it). The
 * prompts (24 tokens) are longer than the window.
 *
 * The final logit cap (15, about these logits' largest: output_norm is 8)
 * cannot change a greedy token (tanh is monotonic), so the next-token
 * distributions over the prompt are compared too.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decoderSpec } from '../bench/arch-specs.js';
import { vocabSize, writeRandomModel, type RandomModelSpec } from '../bench/random-model.js';
import { gv } from '../engine/gguf/types.js';
import { Model } from '../engine/model/model.js';
import { archOracle } from './helpers/arch-oracle.js';
import { cleanup, tempHome } from './helpers/daemon.js';
import { heldoutPrompts, withSequence } from './helpers/decoder-oracle.js';
import { distributions, load } from './helpers/llama-cpp.js';

const spec = (nVocab: number): RandomModelSpec =>
  decoderSpec('gemma2', { nEmbd: 160, nHead: 4, nHeadKv: 2, headDim: 48, nFf: 384, nLayer: 4, nCtx: 8192 }, nVocab, {
    kv: {
      'attention.sliding_window': gv.u32(8),
      'attention.query_pre_attn_scalar': gv.u32(64),
      attn_logit_softcapping: gv.f32(2),
      final_logit_softcapping: gv.f32(15),
    },
    qkGain: 2,
    // small, so the scaled embedding does not drown the layers' normed outputs in the residual
    embdSigma: 0.04,
    outputNorm: { kind: 'const', value: 8 },
  });

describe('gemma2: final logit soft-capping', () => {
  let dir: string;
  let path: string;
  beforeAll(async () => {
    dir = tempHome('kiln-gemma2-cap-');
    path = await writeRandomModel(join(dir, 'gemma2.gguf'), spec(await vocabSize()));
  });
  afterAll(() => cleanup(dir)); // the llama.cpp instance is archOracle's to dispose, after its own tests

  it('next-token distributions over a prompt equal llama.cpp’s (F32)', async () => {
    const model = await Model.load(path, { nCtx: 64 });
    const theirs = await load(path, 64);
    try {
      const nVocab = model.hp.nVocab;
      const [prompt] = heldoutPrompts(model, 1, 24);
      const logits = model.native.eval(prompt, 0, true);
      const ref = await withSequence(() => distributions(theirs, prompt, nVocab));
      let maxDp = 0;
      for (let t = 0; t < prompt.length; t++) {
        const row = logits.subarray(t * nVocab, (t + 1) * nVocab);
        let mx = -Infinity;
        for (const x of row) mx = Math.max(mx, x);
        let sum = 0;
        for (const x of row) sum += Math.exp(x - mx);
        for (let i = 0; i < nVocab; i++) maxDp = Math.max(maxDp, Math.abs(Math.exp(row[i] - mx) / sum - ref[t][i]));
      }
      expect(maxDp).toBeLessThan(1e-3);
    } finally {
      model.close();
      await theirs.dispose();
    }
  });
});

archOracle('gemma2', spec, { promptLength: 24 });
