/**
 * A random-weight llama unlike kjv (192 wide, 6 query heads over 2 KV heads,
 * head size 32, 3 layers, FFN 320, an untied output) against llama.cpp: the
 * baseline for the other architectures' oracle tests, which use the same
 * builder and driver.
 */
import { decoderSpec } from '../bench/arch-specs.js';
import { gv } from '../engine/gguf/types.js';
import { archOracle } from './helpers/arch-oracle.js';

archOracle('llama', (nVocab) =>
  decoderSpec('llama', { nEmbd: 192, nHead: 6, nHeadKv: 2, nFf: 320, nLayer: 3, nCtx: 2048 }, nVocab, {
    kv: { 'attention.layer_norm_rms_epsilon': gv.f32(1e-5) },
  }),
);
