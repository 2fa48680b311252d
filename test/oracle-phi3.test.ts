/**
 * A random-weight phi3 (Phi-3, 3.5, 4) against llama.cpp: q, k and v in one
 * attn_qkv matrix, ffn_up holding the gate's rows and then up's (no
 * ffn_gate), q scaled by 1/√head_dim before attention, and LongRoPE: the
 * rope_factors_long or rope_factors_short divisors, chosen by context length
 * as llama.cpp chooses them, with RoPE's cos and sin scaled by
 * phi3.rope.scaling.attn_factor.
 *
 * Shape: 320 wide, 5 query heads of 64 sharing one KV head, a partial
 * rotary dimension (48 of 64, as in Phi-4-mini), FFN 576 (ffn_up 1152 rows),
 * 3 layers; unlike kjv and the qwen3 test. A sliding window (16) shorter
 * than the prompts (24) is in the metadata: llama.cpp disables Phi SWA, and
 * kiln ignores it likewise.
 *
 * Three suites, each loading both sides with the same context:
 *   - context 128 over an original context of 64: the long factors;
 *   - context 128 under an original context of 1024: the short ones;
 *   - context 128 under an original context of 200: llama.cpp pads its
 *     context to 256 before comparing, so the long ones (F32 only).
 */
import { gv } from '../engine/gguf/types.js';
import { archOracle, fill } from './helpers/arch-oracle.js';

const D = 320, H = 5, HKV = 1, HD = 64, NROT = 48, FF = 576, L = 3;

/** Long factors grow across the pairs (as in the real ones); short ones stay near 1. */
const longFactors = Float32Array.from({ length: NROT / 2 }, (_, i) => 1 + 0.75 * i);
const shortFactors = Float32Array.from({ length: NROT / 2 }, (_, i) => 1 + 0.03 * i);

const phi3 = (origCtx: number) => (nVocab: number) => ({
  arch: 'phi3',
  kv: {
    // llama.cpp sets attributes of Phi-3's own special tokens (</s>, ...) when general.name contains "phi3",
    // and kjv's borrowed vocabulary has none of them
    'general.name': gv.str('random-p-3'),
    'phi3.context_length': gv.u32(4096),
    'phi3.rope.scaling.original_context_length': gv.u32(origCtx),
    'phi3.rope.scaling.attn_factor': gv.f32(1.1902381),
    'phi3.embedding_length': gv.u32(D),
    'phi3.block_count': gv.u32(L),
    'phi3.feed_forward_length': gv.u32(FF),
    'phi3.attention.head_count': gv.u32(H),
    'phi3.attention.head_count_kv': gv.u32(HKV),
    'phi3.rope.dimension_count': gv.u32(NROT),
    'phi3.rope.freq_base': gv.f32(10000),
    'phi3.attention.layer_norm_rms_epsilon': gv.f32(1e-5),
    'phi3.attention.sliding_window': gv.u32(16),
  },
  tensors: [
    { name: 'token_embd.weight', dims: [D, nVocab], fill: { kind: 'uniform' as const, sigma: 1 } },
    { name: 'rope_factors_long.weight', dims: [NROT / 2], fill: { kind: 'values' as const, values: longFactors } },
    { name: 'rope_factors_short.weight', dims: [NROT / 2], fill: { kind: 'values' as const, values: shortFactors } },
    ...Array.from({ length: L }, (_, l) => [
      { name: `blk.${l}.attn_norm.weight`, dims: [D], fill: fill.norm() },
      { name: `blk.${l}.attn_qkv.weight`, dims: [D, H * HD + 2 * HKV * HD], fill: fill.matrix() },
      { name: `blk.${l}.attn_output.weight`, dims: [H * HD, D], fill: fill.matrix() },
      { name: `blk.${l}.ffn_norm.weight`, dims: [D], fill: fill.norm() },
      { name: `blk.${l}.ffn_up.weight`, dims: [D, 2 * FF], fill: fill.matrix() },
      { name: `blk.${l}.ffn_down.weight`, dims: [FF, D], fill: fill.matrix() },
    ]).flat(),
    { name: 'output_norm.weight', dims: [D], fill: fill.norm() },
    { name: 'output.weight', dims: [D, nVocab], fill: fill.matrix(3) },
  ],
});

archOracle('phi3-long', phi3(64), { nCtx: 128 });
archOracle('phi3-short', phi3(1024), { nCtx: 128 });
archOracle('phi3-padded', phi3(200), { nCtx: 128, types: ['f32'] });
