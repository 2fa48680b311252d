/**
 * A random-weight gemma3 (text) against llama.cpp: 224 wide, 8 query heads
 * of 32 over 2 KV heads (q 256 wide), 6 layers — five with a sliding window
 * of 8 and RoPE base 10000 (llama.cpp's default for them: the file names no
 * `rope.freq_base_swa`), then one global layer with base 1e6 and linear RoPE
 * scaling ×8 — per-head q/k RMSNorm, GEGLU 448 wide, post-attention and
 * post-FFN norms, embeddings scaled by √224 and tied to the output, no
 * soft-capping. The prompts (24 tokens) are longer than the window.
 */
import { gv } from '../engine/gguf/types.js';
import { archOracle, fill } from './helpers/arch-oracle.js';

const D = 224, H = 8, HKV = 2, HD = 32, FF = 448, L = 6;

archOracle('gemma3', (nVocab) => ({
  arch: 'gemma3',
  kv: {
    'gemma3.context_length': gv.u32(32768),
    'gemma3.embedding_length': gv.u32(D),
    'gemma3.block_count': gv.u32(L),
    'gemma3.feed_forward_length': gv.u32(FF),
    'gemma3.attention.head_count': gv.u32(H),
    'gemma3.attention.head_count_kv': gv.u32(HKV),
    'gemma3.attention.key_length': gv.u32(HD),
    'gemma3.attention.value_length': gv.u32(HD),
    'gemma3.attention.layer_norm_rms_epsilon': gv.f32(1e-6),
    'gemma3.attention.sliding_window': gv.u32(8),
    'gemma3.rope.freq_base': gv.f32(1e6),
    'gemma3.rope.scaling.type': gv.str('linear'),
    'gemma3.rope.scaling.factor': gv.f32(8),
  },
  tensors: [
    // small, so the scaled embedding does not drown the layers' normed outputs in the residual
    { name: 'token_embd.weight', dims: [D, nVocab], fill: { kind: 'uniform', sigma: 0.04 } },
    ...Array.from({ length: L }, (_, l) => [
      { name: `blk.${l}.attn_norm.weight`, dims: [D], fill: fill.norm() },
      { name: `blk.${l}.attn_q.weight`, dims: [D, H * HD], fill: fill.matrix() },
      { name: `blk.${l}.attn_k.weight`, dims: [D, HKV * HD], fill: fill.matrix() },
      { name: `blk.${l}.attn_v.weight`, dims: [D, HKV * HD], fill: fill.matrix() },
      { name: `blk.${l}.attn_q_norm.weight`, dims: [HD], fill: fill.norm(0.5) },
      { name: `blk.${l}.attn_k_norm.weight`, dims: [HD], fill: fill.norm(0.5) },
      { name: `blk.${l}.attn_output.weight`, dims: [H * HD, D], fill: fill.matrix() },
      { name: `blk.${l}.post_attention_norm.weight`, dims: [D], fill: fill.norm() },
      { name: `blk.${l}.ffn_norm.weight`, dims: [D], fill: fill.norm() },
      { name: `blk.${l}.ffn_gate.weight`, dims: [D, FF], fill: fill.matrix() },
      { name: `blk.${l}.ffn_up.weight`, dims: [D, FF], fill: fill.matrix() },
      { name: `blk.${l}.ffn_down.weight`, dims: [FF, D], fill: fill.matrix() },
      { name: `blk.${l}.post_ffw_norm.weight`, dims: [D], fill: fill.norm() },
    ]).flat(),
    // sharpens the tied output's small logits, so fewer continuations part at near-ties
    { name: 'output_norm.weight', dims: [D], fill: { kind: 'const', value: 4 } },
  ],
}), { promptLength: 24 });
