/** The random MoE models the oracle tests share. */
import { decoderSpec } from '../../bench/arch-specs.js';
import type { RandomModelSpec } from '../../bench/random-model.js';
import { gv } from '../../engine/gguf/types.js';

/** A small mixtral: llama with 8 experts of 512, 2 per token, 256 wide, 8 query heads over 2 KV heads, 3 layers. */
export function mixtralSpec(nVocab: number, seed = 1): RandomModelSpec {
  return decoderSpec('llama', { nEmbd: 256, nHead: 8, nHeadKv: 2, nFf: 512, nExpert: 8, nExpertUsed: 2, nLayer: 3 }, nVocab, {
    kv: { 'attention.layer_norm_rms_epsilon': gv.f32(1e-5) },
    seed,
  });
}
