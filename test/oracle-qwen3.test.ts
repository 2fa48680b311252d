/**
 * A random-weight qwen3 against llama.cpp: per-head RMSNorm of q and k
 * before NEOX RoPE, no q/k/v biases, and a head size (80, from
 * qwen3.attention.key_length) that is not n_embd / n_head (512 / 8 = 64), so
 * the q projection is wider than the model (640). 8 query heads over 2 KV
 * heads, 3 layers, FFN 768: unlike kjv (256 wide, head size 32) and unlike
 * the phi3 test. 512-wide rows let Q4_K_M use its K-quants.
 */
import { gv } from '../engine/gguf/types.js';
import { archOracle, fill } from './helpers/arch-oracle.js';

const D = 512, H = 8, HKV = 2, HD = 80, FF = 768, L = 3;

archOracle('qwen3', (nVocab) => ({
  arch: 'qwen3',
  kv: {
    'qwen3.context_length': gv.u32(4096),
    'qwen3.embedding_length': gv.u32(D),
    'qwen3.block_count': gv.u32(L),
    'qwen3.feed_forward_length': gv.u32(FF),
    'qwen3.attention.head_count': gv.u32(H),
    'qwen3.attention.head_count_kv': gv.u32(HKV),
    'qwen3.attention.key_length': gv.u32(HD),
    'qwen3.attention.value_length': gv.u32(HD),
    'qwen3.rope.freq_base': gv.f32(1000000),
    'qwen3.attention.layer_norm_rms_epsilon': gv.f32(1e-6),
  },
  tensors: [
    { name: 'token_embd.weight', dims: [D, nVocab], fill: { kind: 'uniform', sigma: 1 } },
    ...Array.from({ length: L }, (_, l) => [
      { name: `blk.${l}.attn_norm.weight`, dims: [D], fill: fill.norm() },
      { name: `blk.${l}.attn_q.weight`, dims: [D, H * HD], fill: fill.matrix() },
      { name: `blk.${l}.attn_k.weight`, dims: [D, HKV * HD], fill: fill.matrix() },
      { name: `blk.${l}.attn_v.weight`, dims: [D, HKV * HD], fill: fill.matrix() },
      // q/k norm weights far from 1, so a missing or misplaced norm changes the scores
      { name: `blk.${l}.attn_q_norm.weight`, dims: [HD], fill: fill.norm(0.9) },
      { name: `blk.${l}.attn_k_norm.weight`, dims: [HD], fill: fill.norm(0.9) },
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
