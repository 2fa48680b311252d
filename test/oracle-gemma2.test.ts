/**
 * A random-weight gemma2 against llama.cpp: 160 wide, 4 query heads of 48
 * over 2 KV heads (so q is 192 wide, not n_embd), 4 layers alternating a
 * sliding window of 8 with global attention, FFN 384 (GEGLU), post-attention
 * and post-FFN norms, embeddings scaled by √160 and tied to the output, and
 * soft-capping small enough to bite on this model (attention 2, final 8).
 * The prompts (24 tokens) are longer than the window.
 */
import { gv } from '../engine/gguf/types.js';
import { archOracle, fill } from './helpers/arch-oracle.js';

const D = 160, H = 4, HKV = 2, HD = 48, FF = 384, L = 4;

archOracle('gemma2', (nVocab) => ({
  arch: 'gemma2',
  kv: {
    'gemma2.context_length': gv.u32(8192),
    'gemma2.embedding_length': gv.u32(D),
    'gemma2.block_count': gv.u32(L),
    'gemma2.feed_forward_length': gv.u32(FF),
    'gemma2.attention.head_count': gv.u32(H),
    'gemma2.attention.head_count_kv': gv.u32(HKV),
    'gemma2.attention.key_length': gv.u32(HD),
    'gemma2.attention.value_length': gv.u32(HD),
    'gemma2.attention.layer_norm_rms_epsilon': gv.f32(1e-6),
    'gemma2.attention.sliding_window': gv.u32(8),
    'gemma2.attn_logit_softcapping': gv.f32(2),
    'gemma2.final_logit_softcapping': gv.f32(8),
  },
  tensors: [
    { name: 'token_embd.weight', dims: [D, nVocab], fill: { kind: 'uniform', sigma: 0.3 } },
    ...Array.from({ length: L }, (_, l) => [
      { name: `blk.${l}.attn_norm.weight`, dims: [D], fill: fill.norm() },
      { name: `blk.${l}.attn_q.weight`, dims: [D, H * HD], fill: fill.matrix(2) },
      { name: `blk.${l}.attn_k.weight`, dims: [D, HKV * HD], fill: fill.matrix(2) },
      { name: `blk.${l}.attn_v.weight`, dims: [D, HKV * HD], fill: fill.matrix() },
      { name: `blk.${l}.attn_output.weight`, dims: [H * HD, D], fill: fill.matrix() },
      { name: `blk.${l}.post_attention_norm.weight`, dims: [D], fill: fill.norm() },
      { name: `blk.${l}.ffn_norm.weight`, dims: [D], fill: fill.norm() },
      { name: `blk.${l}.ffn_gate.weight`, dims: [D, FF], fill: fill.matrix() },
      { name: `blk.${l}.ffn_up.weight`, dims: [D, FF], fill: fill.matrix() },
      { name: `blk.${l}.ffn_down.weight`, dims: [FF, D], fill: fill.matrix() },
      { name: `blk.${l}.post_ffw_norm.weight`, dims: [D], fill: fill.norm() },
    ]).flat(),
    { name: 'output_norm.weight', dims: [D], fill: fill.norm() },
  ],
}), { promptLength: 24 });
