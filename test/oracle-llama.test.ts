/**
 * A random-weight llama unlike kjv (192 wide, 6 query heads over 2 KV heads,
 * head size 32, 3 layers, FFN 320, an untied output) against llama.cpp: the
 * baseline for the other architectures' oracle tests, which use the same
 * builder and driver.
 */
import { gv } from '../engine/gguf/types.js';
import { archOracle, fill } from './helpers/arch-oracle.js';

const D = 192, H = 6, HKV = 2, HD = 32, FF = 320, L = 3;

archOracle('llama', (nVocab) => ({
  arch: 'llama',
  kv: {
    'llama.context_length': gv.u32(2048),
    'llama.embedding_length': gv.u32(D),
    'llama.block_count': gv.u32(L),
    'llama.feed_forward_length': gv.u32(FF),
    'llama.attention.head_count': gv.u32(H),
    'llama.attention.head_count_kv': gv.u32(HKV),
    'llama.rope.dimension_count': gv.u32(HD),
    'llama.rope.freq_base': gv.f32(10000),
    'llama.attention.layer_norm_rms_epsilon': gv.f32(1e-5),
  },
  tensors: [
    { name: 'token_embd.weight', dims: [D, nVocab], fill: { kind: 'uniform', sigma: 1 } },
    ...Array.from({ length: L }, (_, l) => [
      { name: `blk.${l}.attn_norm.weight`, dims: [D], fill: fill.norm() },
      { name: `blk.${l}.attn_q.weight`, dims: [D, H * HD], fill: fill.matrix() },
      { name: `blk.${l}.attn_k.weight`, dims: [D, HKV * HD], fill: fill.matrix() },
      { name: `blk.${l}.attn_v.weight`, dims: [D, HKV * HD], fill: fill.matrix() },
      { name: `blk.${l}.attn_output.weight`, dims: [H * HD, D], fill: fill.matrix() },
      { name: `blk.${l}.ffn_norm.weight`, dims: [D], fill: fill.norm() },
      { name: `blk.${l}.ffn_gate.weight`, dims: [D, FF], fill: fill.matrix() },
      { name: `blk.${l}.ffn_up.weight`, dims: [D, FF], fill: fill.matrix() },
      { name: `blk.${l}.ffn_down.weight`, dims: [FF, D], fill: fill.matrix() },
    ]).flat(),
    { name: 'output_norm.weight', dims: [D], fill: fill.norm() },
    { name: 'output.weight', dims: [D, nVocab], fill: fill.matrix(3) },
  ],
}));
