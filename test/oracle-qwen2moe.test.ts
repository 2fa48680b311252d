/**
 * A random-weight qwen2moe against llama.cpp: 8 experts of which each token
 * uses 2 (softmax router, the weights NOT renormalized, as llama.cpp's
 * qwen2moe graph), plus the shared expert (a dense SwiGLU 512 wide) scaled by
 * the sigmoid of its own one-row gate; q/k/v biases, NEOX RoPE, 4 query heads
 * over 2 KV heads of 64 on a 256-wide model, experts 256 wide, 4 layers.
 *
 * Seed 9 (chosen when seeds 1-8 parted from llama.cpp beyond the near-tie
 * rules). It parted at Q4_K_M too (token by token, 1e-2 |Δp|) while kiln's
 * F32 router summed unlike llama.cpp's vec_dot_f32 for a single token: the
 * router's logits differed in their last bits and flipped near-tied experts.
 * Now the teacher-forced probabilities agree to a few 1e-6 at every type.
 */
import { decoderSpec } from '../bench/arch-specs.js';
import { archOracle } from './helpers/arch-oracle.js';

archOracle('qwen2moe', (nVocab) =>
  decoderSpec('qwen2moe', { nEmbd: 256, nHead: 4, nHeadKv: 2, nFf: 1024, nFfExp: 256, nFfShexp: 512, nExpert: 8, nExpertUsed: 2, nLayer: 4 }, nVocab, {
    seed: 9,
  }),
  { probabilities: { types: ['f32', 'q8_0', 'q4_K_M'], tol: 1e-4 } },
);
