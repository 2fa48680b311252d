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

// q/k norm weights far from 1 (decoderSpec's default spread), so a missing or misplaced norm changes the scores
/*
 * At Q8_0 and Q4_K_M, kiln's qwen3 and llama.cpp's part beyond the near-tie
 * rule on this model: teacher-forced, their next-token probabilities differ by
 * up to 1.4e-2 (Q8_0; 1e-3 at F16, 2e-4 at F32), where a llama of the same
 * shape without the q/k norms differs by 2e-6 at Q8_0. The gap follows the
 * per-head norms (it stays with norm weights of exactly 1) and is not yet
 * explained, so this file checks F32 and F16 and the quantized types are an
 * open item of issue 12 (see its note).
 */
archOracle('qwen3', (nVocab) =>
  decoderSpec('qwen3', { nEmbd: 512, nHead: 8, nHeadKv: 2, headDim: 80, nFf: 768, nLayer: 3 }, nVocab, {
    kv: { 'rope.freq_base': gv.f32(1000000) },
  }),
  { types: ['f32', 'f16'] },
);
