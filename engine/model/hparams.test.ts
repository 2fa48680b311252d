/**
 * llamaLayout: which architectures kiln runs and how each one's GGUF maps to
 * the native forward pass's parameters and weights (qwen3's q/k norms,
 * phi3's fused tensors and LongRoPE factor choice). The numerics are proven
 * against llama.cpp in test/oracle-*.test.ts; this checks the mapping and
 * the errors.
 */
import { describe, expect, it } from 'vitest';
import type { GGUFFile } from '../gguf/reader.js';
import { gv, type GGUFValue } from '../gguf/types.js';
import { gptOssSpec } from '../../bench/arch-specs.js';
import { llamaLayout, llamaCppSeqCtx, supportedArchitectures } from './hparams.js';

/** A tensor directory with metadata (no data: the layout reads names, dims and offsets only). */
function file(arch: string, kv: Record<string, GGUFValue>, tensors: [string, number[]][]): GGUFFile {
  let off = 0;
  return {
    version: 3,
    kv: new Map<string, GGUFValue>([['general.architecture', gv.str(arch)], ...Object.entries(kv)]),
    tensors: tensors.map(([name, dims]) => {
      const t = { name, dims, type: 0, offset: off, absOffset: off, byteSize: dims.reduce((a, b) => a * b, 4) };
      off += t.byteSize;
      return t;
    }),
    alignment: 32,
    headerSize: 0,
    dataOffset: 0,
    fileSize: off,
  } as unknown as GGUFFile;
}

const D = 64, H = 4, HKV = 2, HD = 24, FF = 96, V = 100;

function qwen3(drop: string[] = []): GGUFFile {
  const t: [string, number[]][] = [['token_embd.weight', [D, V]], ['output_norm.weight', [D]]];
  for (let i = 0; i < 2; i++) {
    const b = `blk.${i}.`;
    t.push([`${b}attn_norm.weight`, [D]], [`${b}attn_q.weight`, [D, H * HD]], [`${b}attn_k.weight`, [D, HKV * HD]], [`${b}attn_v.weight`, [D, HKV * HD]]);
    t.push([`${b}attn_q_norm.weight`, [HD]], [`${b}attn_k_norm.weight`, [HD]], [`${b}attn_output.weight`, [H * HD, D]]);
    t.push([`${b}ffn_norm.weight`, [D]], [`${b}ffn_gate.weight`, [D, FF]], [`${b}ffn_up.weight`, [D, FF]], [`${b}ffn_down.weight`, [FF, D]]);
  }
  return file(
    'qwen3',
    {
      'qwen3.block_count': gv.u32(2),
      'qwen3.embedding_length': gv.u32(D),
      'qwen3.attention.head_count': gv.u32(H),
      'qwen3.attention.head_count_kv': gv.u32(HKV),
      'qwen3.attention.key_length': gv.u32(HD),
      'qwen3.feed_forward_length': gv.u32(FF),
    },
    t.filter(([n]) => !drop.includes(n)),
  );
}

function phi3(kv: Record<string, GGUFValue> = {}, o: { separate?: boolean; factors?: boolean } = {}): GGUFFile {
  const hd = D / H;
  const t: [string, number[]][] = [['token_embd.weight', [D, V]], ['output_norm.weight', [D]], ['output.weight', [D, V]]];
  if (o.factors !== false) t.push(['rope_factors_long.weight', [hd / 2]], ['rope_factors_short.weight', [hd / 2]]);
  for (let i = 0; i < 2; i++) {
    const b = `blk.${i}.`;
    t.push([`${b}attn_norm.weight`, [D]]);
    if (o.separate) t.push([`${b}attn_q.weight`, [D, D]], [`${b}attn_k.weight`, [D, HKV * hd]], [`${b}attn_v.weight`, [D, HKV * hd]]);
    else t.push([`${b}attn_qkv.weight`, [D, D + 2 * HKV * hd]]);
    t.push([`${b}attn_output.weight`, [D, D]], [`${b}ffn_norm.weight`, [D]], [`${b}ffn_up.weight`, [D, 2 * FF]], [`${b}ffn_down.weight`, [FF, D]]);
  }
  return file(
    'phi3',
    {
      'phi3.block_count': gv.u32(2),
      'phi3.embedding_length': gv.u32(D),
      'phi3.attention.head_count': gv.u32(H),
      'phi3.attention.head_count_kv': gv.u32(HKV),
      'phi3.context_length': gv.u32(131072),
      'phi3.rope.scaling.original_context_length': gv.u32(4096),
      'phi3.rope.scaling.attn_factor': gv.f32(1.25),
      'phi3.attention.sliding_window': gv.u32(2047),
      ...kv,
    },
    t,
  );
}

describe('architectures', () => {
  it('runs llama, mistral, qwen2, qwen3, phi3, gemma2, gemma3, qwen2moe, qwen3moe and gpt-oss', () => {
    expect(supportedArchitectures()).toEqual(['llama', 'mistral', 'qwen2', 'qwen3', 'phi3', 'gemma2', 'gemma3', 'qwen2moe', 'qwen3moe', 'gpt-oss']);
  });

  it('refuses an unknown architecture with an error that lists the supported ones', () => {
    expect(() => llamaLayout(file('mamba', {}, [['token_embd.weight', [D, V]]]))).toThrow(
      expect.objectContaining({
        code: 'E_GGUF_UNSUPPORTED',
        message: "model architecture 'mamba' is not supported (kiln runs llama, mistral, qwen2, qwen3, phi3, gemma2, gemma3, qwen2moe, qwen3moe, gpt-oss; embedding models: bert, nomic-bert)",
      }),
    );
  });

  it('refuses an encoder architecture as an embedding model', () => {
    expect(() => llamaLayout(file('nomic-bert', {}, [['token_embd.weight', [D, V]]]))).toThrow(
      expect.objectContaining({ code: 'E_GGUF_UNSUPPORTED', message: "model architecture 'nomic-bert' is an embedding model: it embeds text and does not generate" }),
    );
  });
});

describe('qwen3', () => {
  it('maps the q/k norms, takes the head size from key_length, and rotates NEOX', () => {
    const { hp, weights } = llamaLayout(qwen3(), { nCtx: 256 });
    expect(hp).toMatchObject({ headDim: HD, nRot: HD, ropeNeox: true, ropeAttnFactor: 1 });
    expect(hp.attnQScale).toBeUndefined();
    expect(weights.layers[1].qNorm).toMatchObject({ ne0: HD, ne1: 1 });
    expect(weights.layers[1].kNorm).toMatchObject({ ne0: HD, ne1: 1 });
    expect(weights.layers[1].wqkv).toBeUndefined();
  });

  it('requires the q/k norms', () => {
    expect(() => llamaLayout(qwen3(['blk.1.attn_k_norm.weight']))).toThrow(
      expect.objectContaining({ code: 'E_GGUF_MALFORMED', message: "tensor 'blk.1.attn_k_norm.weight' is missing from the model" }),
    );
  });
});

describe('phi3', () => {
  it('maps the fused qkv and gate|up, scales q before attention, and reads the attn_factor', () => {
    const { hp, weights } = llamaLayout(phi3({ 'phi3.feed_forward_length': gv.u32(FF) }), { nCtx: 1024 });
    expect(hp).toMatchObject({ nFf: FF, headDim: D / H, ropeNeox: true, ropeAttnFactor: 1.25, attnQScale: Math.fround(1 / Math.fround(Math.sqrt(D / H))) });
    const l = weights.layers[0];
    expect(l.wqkv).toMatchObject({ ne0: D, ne1: D + 2 * HKV * (D / H) });
    expect([l.wq, l.wk, l.wv, l.wGate]).toEqual([undefined, undefined, undefined, undefined]);
    expect(l.wUp).toMatchObject({ ne1: 2 * FF });
  });

  it('takes n_ff from ffn_up (half its rows) when feed_forward_length is absent, and separate q/k/v when there is no attn_qkv', () => {
    const { hp, weights } = llamaLayout(phi3({}, { separate: true }), { nCtx: 1024 });
    expect(hp.nFf).toBe(FF);
    expect(weights.layers[1].wqkv).toBeUndefined();
    expect(weights.layers[1].wq).toMatchObject({ ne0: D, ne1: D });
  });

  it("chooses the LongRoPE factors as llama.cpp does: long once its context (padded to 256) exceeds the original one", () => {
    const f = phi3();
    const at = (name: string) => f.tensors.find((t) => t.name === name)!.absOffset;
    const pick = (nCtx: number) => llamaLayout(f, { nCtx }).weights.ropeFreqs!.offset;
    expect(pick(4096)).toBe(at('rope_factors_short.weight'));
    expect(pick(1000)).toBe(at('rope_factors_short.weight'));
    expect(pick(4097)).toBe(at('rope_factors_long.weight'));
    expect(pick(131072)).toBe(at('rope_factors_long.weight'));
    // an original context that is not a multiple of 256: 3900 tokens are 3840 < 4000 < 4096 once padded
    const g = phi3({ 'phi3.rope.scaling.original_context_length': gv.u32(4000) });
    expect(llamaLayout(g, { nCtx: 3900 }).weights.ropeFreqs!.offset).toBe(g.tensors.find((t) => t.name === 'rope_factors_long.weight')!.absOffset);
    expect([llamaCppSeqCtx(1), llamaCppSeqCtx(256), llamaCppSeqCtx(257)]).toEqual([256, 256, 512]);
  });

  it('runs without factors when the model has none (Phi-3-mini-4k)', () => {
    const f = phi3({}, { factors: false });
    expect(llamaLayout(f, { nCtx: 8192 }).weights.ropeFreqs).toBeUndefined();
  });

  it('refuses an attn_factor that is not a positive number', () => {
    for (const bad of [0, -1]) {
      expect(() => llamaLayout(phi3({ 'phi3.rope.scaling.attn_factor': gv.f32(bad) }))).toThrow(
        expect.objectContaining({ code: 'E_GGUF_MALFORMED', message: expect.stringMatching(/phi3\.rope\.scaling\.attn_factor must be a positive number/) }),
      );
    }
  });
});

/** A two-layer MoE of an architecture: 4 experts of FE, 2 used, the shared expert's tensors when asked. */
function moe(arch: string, kv: Record<string, GGUFValue>, o: { shared?: boolean; fe?: number } = {}): GGUFFile {
  const FE = o.fe ?? 32, NE = 4;
  const t: [string, number[]][] = [['token_embd.weight', [D, V]], ['output_norm.weight', [D]], ['output.weight', [D, V]]];
  for (let i = 0; i < 2; i++) {
    const b = `blk.${i}.`;
    t.push([`${b}attn_norm.weight`, [D]], [`${b}attn_q.weight`, [D, D]], [`${b}attn_k.weight`, [D, D / 2]], [`${b}attn_v.weight`, [D, D / 2]]);
    if (arch === 'qwen3moe') t.push([`${b}attn_q_norm.weight`, [D / H]], [`${b}attn_k_norm.weight`, [D / H]]);
    t.push([`${b}attn_output.weight`, [D, D]], [`${b}ffn_norm.weight`, [D]], [`${b}ffn_gate_inp.weight`, [D, NE]]);
    t.push([`${b}ffn_gate_exps.weight`, [D, FE, NE]], [`${b}ffn_up_exps.weight`, [D, FE, NE]], [`${b}ffn_down_exps.weight`, [FE, D, NE]]);
    if (o.shared) t.push([`${b}ffn_gate_inp_shexp.weight`, [D]], [`${b}ffn_gate_shexp.weight`, [D, 48]], [`${b}ffn_up_shexp.weight`, [D, 48]], [`${b}ffn_down_shexp.weight`, [48, D]]);
  }
  return file(
    arch,
    {
      [`${arch}.block_count`]: gv.u32(2),
      [`${arch}.embedding_length`]: gv.u32(D),
      [`${arch}.attention.head_count`]: gv.u32(H),
      [`${arch}.attention.head_count_kv`]: gv.u32(HKV),
      [`${arch}.expert_count`]: gv.u32(NE),
      [`${arch}.expert_used_count`]: gv.u32(2),
      ...kv,
    },
    t,
  );
}

describe('mixtures of experts', () => {
  it('qwen3moe: softmax routing renormalized, experts as wide as expert_feed_forward_length, no dense FFN', () => {
    const { hp, weights } = llamaLayout(moe('qwen3moe', { 'qwen3moe.feed_forward_length': gv.u32(96), 'qwen3moe.expert_feed_forward_length': gv.u32(32) }));
    expect(hp).toMatchObject({ nExpert: 4, nExpertUsed: 2, nFfExp: 32, nFfShexp: 0, expertGating: 0, expertWeightsNorm: true });
    const l = weights.layers[1];
    expect(l.wGate ?? l.wUp ?? l.wDown).toBeUndefined();
    // a 3-D expert tensor is handed over as n_expert × n_ff_exp rows
    expect(l.upExps).toMatchObject({ ne0: D, ne1: 4 * 32 });
    expect(l.downExps).toMatchObject({ ne0: 32, ne1: 4 * D });
    expect(l.gateInp).toMatchObject({ ne0: D, ne1: 4 });
    expect(l.qNorm).toBeDefined();
  });

  it('qwen2moe: weights not renormalized, the shared expert and its gate, its width from its tensors', () => {
    const { hp, weights } = llamaLayout(moe('qwen2moe', { 'qwen2moe.expert_feed_forward_length': gv.u32(32) }, { shared: true }));
    expect(hp).toMatchObject({ nExpertUsed: 2, nFfExp: 32, nFfShexp: 48, expertWeightsNorm: false, ropeNeox: true });
    expect(weights.layers[0].gateInpShexp).toMatchObject({ ne0: D, ne1: 1 });
    expect(weights.layers[0].downShexp).toMatchObject({ ne0: 48, ne1: D });
  });

  it('gpt-oss: sinks and biases, post_attention_norm as the FFN norm, softmax over the chosen k, clamped SwiGLU, SWA every other layer, YaRN', () => {
    const spec = gptOssSpec({ nEmbd: D, nHead: H, nHeadKv: HKV, headDim: HD, nFf: 32, nFfExp: 32, nExpert: 4, nExpertUsed: 2, nLayer: 2 }, V, {
      window: 16,
      yarnFactor: 32,
      yarnOrigCtx: 4096,
    });
    const f = file('gpt-oss', spec.kv, spec.tensors.map((t) => [t.name, t.dims]));
    const { hp, weights } = llamaLayout(f, { nCtx: 256 });
    expect(hp).toMatchObject({ nExpert: 4, nExpertUsed: 2, nFfExp: 32, expertGating: 2, expertWeightsNorm: false, ropeNeox: true });
    expect(hp).toMatchObject({ swigluOaiAlpha: Math.fround(1.702), swigluOaiLimit: 7, nSwa: 16, swaPattern: 2, ropeBaseSwa: 150000 });
    // YaRN: freq scale 1/factor on both kinds of layer, ext_factor 1, llama.cpp's default betas, the original context
    expect(hp).toMatchObject({ ropeFreqScale: 1 / 32, ropeFreqScaleSwa: 1 / 32, yarnExtFactor: 1, yarnBetaFast: 32, yarnBetaSlow: 1, yarnOrigCtx: 4096 });
    const l = weights.layers[1];
    expect(l.ffnNorm).toBeDefined();
    expect(l.attnPostNorm).toBeUndefined();
    expect(l.attnSinks).toMatchObject({ ne0: H });
    expect(l.gateExpsB).toMatchObject({ ne0: 32, ne1: 4 });
    expect(l.downExpsB).toMatchObject({ ne0: D, ne1: 4 });
    expect(l.bo && l.gateInpB && l.upExpsB && l.bq && l.bk && l.bv).toBeDefined();
    // a gpt-oss without its sinks is refused
    const noSinks = file('gpt-oss', spec.kv, spec.tensors.filter((t) => !t.name.startsWith('blk.1.attn_sinks')).map((t) => [t.name, t.dims]));
    expect(() => llamaLayout(noSinks)).toThrow(expect.objectContaining({ code: 'E_GGUF_MALFORMED' }));
  });

  it('mixtral: llama with llama.expert_count, each expert feed_forward_length wide', () => {
    const { hp } = llamaLayout(moe('llama', { 'llama.feed_forward_length': gv.u32(32) }));
    expect(hp).toMatchObject({ arch: 'llama', nExpert: 4, nFfExp: 32, expertWeightsNorm: true, ropeNeox: false });
  });

  it('refuses experts whose tensors disagree with the metadata, and a used count above the count', () => {
    expect(() => llamaLayout(moe('llama', { 'llama.feed_forward_length': gv.u32(40) }))).toThrow(expect.objectContaining({ code: 'E_GGUF_MALFORMED' }));
    expect(() => llamaLayout(moe('qwen3moe', { 'qwen3moe.expert_used_count': gv.u32(5), 'qwen3moe.expert_feed_forward_length': gv.u32(32) }))).toThrow(
      expect.objectContaining({ code: 'E_GGUF_MALFORMED', message: expect.stringMatching(/expert_used_count/) }),
    );
  });
});
