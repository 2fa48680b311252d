/**
 * A random-weight qwen3moe against llama.cpp: 8 experts of which each token
 * uses 2 (softmax router, the two weights renormalized), per-head q/k norms,
 * NEOX RoPE, 8 query heads over 2 KV heads, head size 64 on a 256-wide model,
 * experts 384 wide (`expert_feed_forward_length`), 3 layers. 256-wide rows
 * let Q4_K_M use its K-quants on every expert slice.
 *
 * Seed 5 (chosen when kiln's F32 router and expert sums still rounded
 * unlike llama.cpp's and seeds 1 and 3 parted at 6e-3..7e-3). The router is
 * an F32 matrix at every type and the experts go one token at a time through
 * the dot kernels, as llama.cpp's MUL_MAT_ID: the teacher-forced
 * probabilities agree to a few 1e-6 at every type checked.
 */
import { decoderSpec } from '../bench/arch-specs.js';
import { gv } from '../engine/gguf/types.js';
import { archOracle } from './helpers/arch-oracle.js';

archOracle('qwen3moe', (nVocab) =>
  decoderSpec('qwen3moe', { nEmbd: 256, nHead: 8, nHeadKv: 2, headDim: 64, nFf: 768, nFfExp: 384, nExpert: 8, nExpertUsed: 2, nLayer: 3 }, nVocab, {
    kv: { 'rope.freq_base': gv.f32(1000000) },
    seed: 5,
  }),
  { probabilities: { types: ['f32', 'q8_0', 'q4_K_M'], tol: 1e-4 } },
);
