/**
 * A random-weight mixtral against llama.cpp: `general.architecture` llama
 * with `llama.expert_count` 8 and 2 experts per token (softmax router, the
 * two weights renormalized, each expert `feed_forward_length` wide), 6 query
 * heads over 2 KV heads of 32 on a 192-wide model... see the shape below.
 */
import { decoderSpec } from '../bench/arch-specs.js';
import { gv } from '../engine/gguf/types.js';
import { archOracle } from './helpers/arch-oracle.js';

archOracle('mixtral', (nVocab) =>
  decoderSpec('llama', { nEmbd: 256, nHead: 8, nHeadKv: 2, nFf: 512, nExpert: 8, nExpertUsed: 2, nLayer: 3 }, nVocab, {
    kv: { 'attention.layer_norm_rms_epsilon': gv.f32(1e-5) },
  }),
);
