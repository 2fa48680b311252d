import { describe, expect, it } from 'vitest';
import type { GGUFFile } from '../gguf/reader.js';
import { gv } from '../gguf/types.js';
import { readGGUFFileSync } from '../gguf/reader.js';
import { KJV_F32 } from '../../test/helpers/fixtures.js';
import { MIXES, parseMix, planQuantization, useMoreBits, type MixName, type PlanOptions } from './policy.js';

/** A tensor directory shaped like a llama model (no data: the plan reads names and dims only). */
function llamaShape(o: { layers: number; embd: number; ff: number; heads: number; kvHeads: number; vocab: number; tied?: boolean }): GGUFFile {
  const hd = o.embd / o.heads;
  const t: { name: string; dims: number[] }[] = [{ name: 'token_embd.weight', dims: [o.embd, o.vocab] }];
  for (let i = 0; i < o.layers; i++) {
    t.push(
      { name: `blk.${i}.attn_norm.weight`, dims: [o.embd] },
      { name: `blk.${i}.attn_q.weight`, dims: [o.embd, o.embd] },
      { name: `blk.${i}.attn_k.weight`, dims: [o.embd, hd * o.kvHeads] },
      { name: `blk.${i}.attn_v.weight`, dims: [o.embd, hd * o.kvHeads] },
      { name: `blk.${i}.attn_output.weight`, dims: [o.embd, o.embd] },
      { name: `blk.${i}.ffn_norm.weight`, dims: [o.embd] },
      { name: `blk.${i}.ffn_gate.weight`, dims: [o.embd, o.ff] },
      { name: `blk.${i}.ffn_up.weight`, dims: [o.embd, o.ff] },
      { name: `blk.${i}.ffn_down.weight`, dims: [o.ff, o.embd] },
    );
  }
  t.push({ name: 'output_norm.weight', dims: [o.embd] });
  if (!o.tied) t.push({ name: 'output.weight', dims: [o.embd, o.vocab] });
  const kv = new Map([
    ['general.architecture', gv.str('llama')],
    ['llama.block_count', gv.u32(o.layers)],
    ['llama.attention.head_count', gv.u32(o.heads)],
    ['llama.attention.head_count_kv', gv.u32(o.kvHeads)],
  ]);
  return {
    version: 3,
    kv,
    tensors: t.map((x) => ({ ...x, type: 1, offset: 0, absOffset: 0, byteSize: 0 })),
    alignment: 32,
    headerSize: 0,
    dataOffset: 0,
    fileSize: 0,
  } as unknown as GGUFFile;
}

/** The same directory with another architecture name and tensor list (type F16, or the given one). */
function withTensors(f: GGUFFile, arch: string, tensors: { name: string; dims: number[] }[], type = 1): GGUFFile {
  const kv = new Map(f.kv);
  kv.set('general.architecture', gv.str(arch));
  for (const [k, v] of f.kv) if (k.startsWith('llama.')) kv.set(`${arch}.${k.slice('llama.'.length)}`, v);
  return { ...f, kv, tensors: tensors.map((x) => ({ ...x, type: x.dims.length === 1 ? 0 : type, offset: 0, absOffset: 0, byteSize: 0 })) } as GGUFFile;
}

const LLAMA3_8B = { layers: 32, embd: 4096, ff: 14336, heads: 32, kvHeads: 8, vocab: 128256 };

function counts(file: GGUFFile, mix: MixName, opts: PlanOptions = {}): Record<string, number> {
  const names: Record<number, string> = {
    0: 'f32', 1: 'f16', 2: 'q4_0', 6: 'q5_0', 7: 'q5_1', 8: 'q8_0', 10: 'q2_K', 11: 'q3_K', 12: 'q4_K', 13: 'q5_K', 14: 'q6_K', 16: 'iq2_xxs', 17: 'iq2_xs', 18: 'iq3_xxs', 19: 'iq1_s', 21: 'iq3_s', 22: 'iq2_s',
    20: 'iq4_nl', 23: 'iq4_xs', 30: 'bf16',
  };
  const out: Record<string, number> = {};
  for (const p of planQuantization(file, mix, opts)) out[names[p.to === 1 && p.dims.length === 1 ? 0 : p.to]] = (out[names[p.to === 1 && p.dims.length === 1 ? 0 : p.to]] ?? 0) + 1;
  return out;
}

describe('quantization mix policy', () => {
  it('picks the tensor types llama.cpp picks for Llama-3-8B', () => {
    // llama.cpp's loader reports these counts for Meta-Llama-3-8B at each mix
    // (norms are 1-D and stay as they are: 65 of them).
    const f = llamaShape(LLAMA3_8B);
    expect(counts(f, 'q4_K_M')).toEqual({ f32: 65, q4_K: 193, q6_K: 33 });
    expect(counts(f, 'q5_K_M')).toEqual({ f32: 65, q5_K: 193, q6_K: 33 });
    expect(counts(f, 'q8_0')).toEqual({ f32: 65, q8_0: 226 });
    expect(counts(f, 'q6_K')).toEqual({ f32: 65, q6_K: 226 });
    expect(counts(f, 'q4_0')).toEqual({ f32: 65, q4_0: 225, q6_K: 1 });
    expect(counts(f, 'q4_K_S')).toEqual({ f32: 65, q4_K: 217, q5_K: 8, q6_K: 1 });
    expect(counts(f, 'q3_K_M')).toEqual({ f32: 65, q3_K: 129, q4_K: 92, q5_K: 4, q6_K: 1 });
    expect(counts(f, 'q3_K_L')).toEqual({ f32: 65, q3_K: 129, q5_K: 96, q6_K: 1 });
    expect(counts(f, 'q2_K')).toEqual({ f32: 65, q2_K: 129, q3_K: 64, q4_K: 32, q6_K: 1 });
  });

  it("gives IQ4_NL/IQ4_XS llama.cpp's mix: Q5_K attn_v at GQA >= 4, Q5_K ffn_down in the first eighth without an imatrix", () => {
    const f = llamaShape(LLAMA3_8B);
    expect(counts(f, 'iq4_xs')).toEqual({ f32: 65, iq4_xs: 189, q5_K: 36, q6_K: 1 });
    expect(counts(f, 'iq4_nl')).toEqual({ f32: 65, iq4_nl: 189, q5_K: 36, q6_K: 1 });
    expect(counts(f, 'iq4_xs', { imatrix: true })).toEqual({ f32: 65, iq4_xs: 193, q5_K: 32, q6_K: 1 });
    const by = new Map(planQuantization(f, 'iq4_xs').map((p) => [p.name, p.to]));
    expect([0, 1, 2, 3, 4].map((i) => by.get(`blk.${i}.ffn_down.weight`))).toEqual([13, 13, 13, 13, 23]);
    // no GQA: attn_v stays at the base type
    expect(counts(llamaShape({ ...LLAMA3_8B, kvHeads: 32 }), 'iq4_nl')).toEqual({ f32: 65, iq4_nl: 221, q5_K: 4, q6_K: 1 });
    // rows not divisible by 256 fall back from IQ4_XS to IQ4_NL (llama.cpp's fallback)
    const kjv = new Map(planQuantization(readGGUFFileSync(KJV_F32), 'iq4_xs').map((p) => [p.name, p.to]));
    expect(kjv.get('blk.0.ffn_down.weight')).toBe(20);
    expect(kjv.get('blk.0.ffn_up.weight')).toBe(23);
  });

  it("gives the IQ3/IQ2 file types llama.cpp's mixes (worked out from its rules for Llama-3-8B)", () => {
    const f = llamaShape(LLAMA3_8B);
    expect(counts(f, 'iq3_s')).toEqual({ f32: 65, iq3_s: 193, q4_K: 32, q6_K: 1 });
    expect(counts(f, 'iq3_m')).toEqual({ f32: 65, iq3_s: 157, q4_K: 68, q6_K: 1 });
    expect(counts(f, 'iq3_xs', { imatrix: true })).toEqual({ f32: 65, iq3_s: 81, iq3_xxs: 112, q4_K: 32, q6_K: 1 });
    expect(counts(f, 'iq3_xxs', { imatrix: true })).toEqual({ f32: 65, iq3_xxs: 96, iq3_s: 33, iq2_s: 64, q4_K: 32, q5_K: 1 });
    // without an imatrix IQ3_XXS keeps ffn_down at Q3_K/Q4_K (and would still need one for attn_q/attn_k)
    expect(counts(f, 'iq3_xxs')).toEqual({ f32: 65, iq3_xxs: 64, iq3_s: 33, iq2_s: 64, q3_K: 28, q4_K: 36, q5_K: 1 });
    expect(counts(f, 'iq2_xxs', { imatrix: true })).toEqual({ f32: 65, iq2_xxs: 188, q2_K: 5, q4_K: 32, q5_K: 1 });
    expect(counts(f, 'iq2_xs', { imatrix: true })).toEqual({ f32: 65, iq2_xs: 188, q2_K: 5, q4_K: 32, q5_K: 1 });
    expect(counts(f, 'iq2_s', { imatrix: true })).toEqual({ f32: 65, iq2_xs: 156, iq3_s: 37, q4_K: 32, q5_K: 1 });
    expect(counts(f, 'iq2_m', { imatrix: true })).toEqual({ f32: 65, iq2_s: 156, iq3_s: 37, q4_K: 32, q5_K: 1 });
    expect(counts(f, 'iq1_s', { imatrix: true })).toEqual({ f32: 65, iq1_s: 156, iq2_xxs: 32, q2_K: 5, q4_K: 32, q5_K: 1 });
    // no GQA: attn_v at Q2_K (IQ2_XXS) or IQ3_S (IQ2_M)
    expect(counts(llamaShape({ ...LLAMA3_8B, kvHeads: 32 }), 'iq2_xxs', { imatrix: true })).toEqual({ f32: 65, iq2_xxs: 188, q2_K: 37, q5_K: 1 });
    expect(counts(llamaShape({ ...LLAMA3_8B, kvHeads: 32 }), 'iq2_m', { imatrix: true })).toEqual({ f32: 65, iq2_s: 156, iq3_s: 69, q5_K: 1 });
  });

  it('protects attn_v and ffn_down in the use_more_bits layers for Q4_K_M', () => {
    const plan = planQuantization(llamaShape(LLAMA3_8B), 'q4_K_M');
    const six = plan.filter((p) => p.to === 14).map((p) => p.name);
    const layers = [0, 1, 2, 3, 6, 9, 12, 15, 18, 21, 24, 27, 28, 29, 30, 31];
    expect(six.sort()).toEqual(['output.weight', ...layers.flatMap((i) => [`blk.${i}.attn_v.weight`, `blk.${i}.ffn_down.weight`])].sort());
    expect(layers.every((i) => useMoreBits(i, 32))).toBe(true);
    expect(plan.find((p) => p.name === 'token_embd.weight')!.to).toBe(12);
  });

  it('quantizes a tied embedding like the output', () => {
    const plan = planQuantization(llamaShape({ ...LLAMA3_8B, tied: true }), 'q4_K_M');
    expect(plan.find((p) => p.name === 'token_embd.weight')!.to).toBe(14);
  });

  it('falls back to 32-blocks for rows not divisible by 256 (the kjv model: ffn_down rows of 704)', () => {
    const plan = planQuantization(readGGUFFileSync(KJV_F32), 'q4_K_M');
    const by = new Map(plan.map((p) => [p.name, p.to]));
    // n_layer 6: use_more_bits is true for layers 2 and 5
    expect([0, 1, 2, 3, 4, 5].map((i) => by.get(`blk.${i}.ffn_down.weight`))).toEqual([6, 6, 8, 6, 6, 8]); // Q5_0 / Q8_0
    expect([0, 1, 2, 3, 4, 5].map((i) => by.get(`blk.${i}.attn_v.weight`))).toEqual([12, 12, 14, 12, 12, 14]);
    expect(by.get('output.weight')).toBe(14);
    expect(by.get('blk.0.attn_norm.weight')).toBe(0);
  });

  it("treats phi3's fused attn_qkv as attn_v, as llama.cpp's quantizer does (Phi-3-mini at Q4_K_M)", () => {
    // llama.cpp's quantizer puts attn_qkv in the attn_v category (counted in n_attention_wv, Q6_K in the
    // use_more_bits layers); its later attn_qkv-only rule (Q5_K at Q4_K_M) is never reached
    const L = 32, E = 3072, FF = 8192, V = 32064;
    const t: { name: string; dims: number[] }[] = [
      { name: 'token_embd.weight', dims: [E, V] },
      { name: 'rope_factors_long.weight', dims: [48] },
      { name: 'rope_factors_short.weight', dims: [48] },
    ];
    for (let i = 0; i < L; i++) {
      t.push(
        { name: `blk.${i}.attn_norm.weight`, dims: [E] },
        { name: `blk.${i}.attn_qkv.weight`, dims: [E, 3 * E] },
        { name: `blk.${i}.attn_output.weight`, dims: [E, E] },
        { name: `blk.${i}.ffn_norm.weight`, dims: [E] },
        { name: `blk.${i}.ffn_up.weight`, dims: [E, 2 * FF] },
        { name: `blk.${i}.ffn_down.weight`, dims: [FF, E] },
      );
    }
    t.push({ name: 'output_norm.weight', dims: [E] }, { name: 'output.weight', dims: [E, V] });
    const f = withTensors(llamaShape({ layers: L, embd: E, ff: FF, heads: 32, kvHeads: 32, vocab: V }), 'phi3', t);
    expect(counts(f, 'q4_K_M')).toEqual({ f32: 67, q4_K: 97, q6_K: 33 });
    const by = new Map(planQuantization(f, 'q4_K_M').map((p) => [p.name, p.to]));
    const more = Array.from({ length: L }, (_, i) => i).filter((i) => useMoreBits(i, L));
    expect(Array.from({ length: L }, (_, i) => by.get(`blk.${i}.attn_qkv.weight`))).toEqual(
      Array.from({ length: L }, (_, i) => (more.includes(i) ? 14 : 12)),
    );
    expect(by.get('rope_factors_long.weight')).toBe(0);
  });

  it("keeps qwen3's per-head q/k norms in F32", () => {
    const base = llamaShape({ layers: 4, embd: 1024, ff: 3072, heads: 16, kvHeads: 8, vocab: 1000 });
    const t = [...base.tensors.map((x) => ({ name: x.name, dims: x.dims }))];
    for (let i = 0; i < 4; i++) t.push({ name: `blk.${i}.attn_q_norm.weight`, dims: [128] }, { name: `blk.${i}.attn_k_norm.weight`, dims: [128] });
    const plan = planQuantization(withTensors(base, 'qwen3', t, 0), 'q4_K_M');
    const norms = plan.filter((p) => /attn_[qk]_norm/.test(p.name));
    expect(norms.length).toBe(8);
    expect(norms.every((p) => p.to === 0)).toBe(true);
  });

  it('records the file types llama.cpp uses', () => {
    expect(MIXES.q4_K_M.fileType).toBe(15);
    expect(MIXES.q8_0.fileType).toBe(7);
    expect(MIXES.iq4_nl.fileType).toBe(25);
    expect(MIXES.iq4_xs.fileType).toBe(30);
    expect([MIXES.iq3_xxs, MIXES.iq3_xs, MIXES.iq3_s, MIXES.iq3_m].map((m) => m.fileType)).toEqual([23, 22, 26, 27]);
    expect([MIXES.iq2_xxs, MIXES.iq2_xs, MIXES.iq2_s, MIXES.iq2_m].map((m) => m.fileType)).toEqual([19, 20, 28, 29]);
    expect(MIXES.iq1_s.fileType).toBe(24);
    expect(parseMix('Q4_K_M')).toBe('q4_K_M');
    expect(() => parseMix('q9_K')).toThrow(/unsupported quantization type/);
  });
});
