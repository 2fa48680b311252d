/**
 * A random-weight qwen3 against llama.cpp: per-head RMSNorm of q and k
 * before NEOX RoPE, no q/k/v biases, and a head size (80, from
 * qwen3.attention.key_length) that is not n_embd / n_head (512 / 8 = 64), so
 * the q projection is wider than the model (640). 8 query heads over 2 KV
 * heads, 3 layers, FFN 768: unlike kjv (256 wide, head size 32) and unlike
 * the phi3 test. 512-wide rows let Q4_K_M use its K-quants.
 */
import { decoderSpec } from '../bench/arch-specs.js';
import { gv } from '../engine/gguf/types.js';
import { archOracle } from './helpers/arch-oracle.js';

// q/k norm weights far from 1 (decoderSpec's default spread), so a missing or misplaced norm changes the scores.
// kiln rounds every op as llama.cpp's x86 builds do, so the teacher-forced probabilities agree to ~1e-5 at every
// type (7e-6 to 9e-6 measured); each of these put them 1e-4 to 2e-2 apart: RMSNorm's squares summed exactly (the
// q/k norms), RoPE's products rounded apart instead of fused, SiLU with another expf (F32's 1.3e-4), F16 matrices
// against unrounded activations (F16's 1.2e-3), Q4_K/Q5_0 sums in another order (Q4_K_M's 2e-2).
archOracle(
  'qwen3',
  (nVocab) =>
    decoderSpec('qwen3', { nEmbd: 512, nHead: 8, nHeadKv: 2, headDim: 80, nFf: 768, nLayer: 3 }, nVocab, {
      kv: { 'rope.freq_base': gv.f32(1000000) },
    }),
  { probabilities: { types: ['f32', 'f16', 'q8_0', 'q4_K_M'], tol: 1e-4 } },
);
