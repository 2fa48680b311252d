/**
 * Random-weight decoder models by architecture and shape, for the oracle
 * tests (small shapes) and the benchmarks (~1 B parameters): the metadata
 * keys and tensor names each architecture has in GGUF, filled by
 * bench/random-model.ts.
 */
import { gv, type GGUFValue } from '../engine/gguf/types.js';
import type { Fill, RandomModelSpec, RandomTensor } from './random-model.js';

export interface DecoderShape {
  nEmbd: number;
  nHead: number;
  nHeadKv: number;
  /** Head size (default nEmbd / nHead); qwen3 and gemma set it apart from the width. */
  headDim?: number;
  /** Rotary dimensions (default the head size). */
  nRot?: number;
  nFf: number;
  nLayer: number;
  /** Trained context (default 4096). */
  nCtx?: number;
  /** Mixture of experts: experts per layer (nFf is then unused by qwen*moe; llama's experts are nFf wide). */
  nExpert?: number;
  nExpertUsed?: number;
  /** An expert's width (qwen2moe / qwen3moe: `expert_feed_forward_length`). */
  nFfExp?: number;
  /** The shared expert's width (qwen2moe). */
  nFfShexp?: number;
}

export const fill = {
  matrix: (gain = 1): Fill => ({ kind: 'matrix', gain }),
  norm: (spread = 0.1): Fill => ({ kind: 'norm', spread }),
  bias: (sigma = 0.05): Fill => ({ kind: 'uniform', sigma }),
  values: (values: Float32Array): Fill => ({ kind: 'values', values }),
};

export interface DecoderOptions {
  /** Extra or overriding metadata, keys without the `{arch}.` prefix. */
  kv?: Record<string, GGUFValue>;
  /** Spread of the q/k norm weights around 1 (qwen3, gemma3; default 0.9: far from 1, so a missing norm shows). */
  qkNormSpread?: number;
  /** Gain of the output projection (default 3: peaked logits, so greedy tests rarely meet ties). */
  outputGain?: number;
  /** Gain of the q and k projections (default 1): sharper attention. */
  qkGain?: number;
  /** Standard deviation of the token embeddings (default 1; gemma scales them by √n_embd, so smaller there). */
  embdSigma?: number;
  /** The final norm's fill (default a norm around 1; a constant sharpens a tied output's logits). */
  outputNorm?: Fill;
  /** phi3's LongRoPE divisors (rotary pairs each). */
  ropeFactors?: { long: Float32Array; short: Float32Array };
  /** Extra tensors (rope factors, ...). */
  tensors?: RandomTensor[];
  /** Gain of the expert router (default 4: decisive routing, so quantization rarely flips a token's experts). */
  routerGain?: number;
  seed?: number;
}

/** How each architecture lays out a block: which tensors, and whether the output is tied to the embeddings. */
interface Layout {
  qkv: 'separate' | 'fused';
  gateUp: 'separate' | 'fused';
  qkNorm: boolean;
  postNorms: boolean;
  tiedOutput: boolean;
  /** Biases on q, k and v (qwen2's family). */
  qkvBias?: boolean;
  /** Mixture of experts: always (qwen*moe) or when the shape has experts (llama: mixtral); `shared` adds qwen2moe's shared expert. */
  moe?: 'always' | 'optional' | 'shared';
  /** Metadata the architecture's random models need in llama.cpp. */
  kv?: Record<string, GGUFValue>;
}

const LAYOUTS: Record<string, Layout> = {
  llama: { qkv: 'separate', gateUp: 'separate', qkNorm: false, postNorms: false, tiedOutput: false, moe: 'optional' },
  qwen3: { qkv: 'separate', gateUp: 'separate', qkNorm: true, postNorms: false, tiedOutput: false },
  qwen3moe: { qkv: 'separate', gateUp: 'separate', qkNorm: true, postNorms: false, tiedOutput: false, moe: 'always' },
  qwen2moe: { qkv: 'separate', gateUp: 'separate', qkNorm: false, postNorms: false, tiedOutput: false, qkvBias: true, moe: 'shared' },
  // llama.cpp looks up Phi-3's own special tokens (</s>, ...) when general.name contains "phi3", and kjv's vocabulary has none
  phi3: { qkv: 'fused', gateUp: 'fused', qkNorm: false, postNorms: false, tiedOutput: false, kv: { 'general.name': gv.str('random-p-3') } },
  gemma2: { qkv: 'separate', gateUp: 'separate', qkNorm: false, postNorms: true, tiedOutput: true },
  gemma3: { qkv: 'separate', gateUp: 'separate', qkNorm: true, postNorms: true, tiedOutput: true },
};

export function decoderSpec(arch: string, s: DecoderShape, nVocab: number, o: DecoderOptions = {}): RandomModelSpec {
  const lay = LAYOUTS[arch];
  if (!lay) throw new Error(`no random-model layout for architecture '${arch}'`);
  const hd = s.headDim ?? s.nEmbd / s.nHead;
  const D = s.nEmbd, q = s.nHead * hd, kvd = s.nHeadKv * hd;
  const kv: Record<string, GGUFValue> = {
    context_length: gv.u32(s.nCtx ?? 4096),
    embedding_length: gv.u32(D),
    block_count: gv.u32(s.nLayer),
    feed_forward_length: gv.u32(s.nFf),
    'attention.head_count': gv.u32(s.nHead),
    'attention.head_count_kv': gv.u32(s.nHeadKv),
    'attention.key_length': gv.u32(hd),
    'attention.value_length': gv.u32(hd),
    'rope.dimension_count': gv.u32(s.nRot ?? hd),
    'rope.freq_base': gv.f32(10000),
    'attention.layer_norm_rms_epsilon': gv.f32(1e-6),
    ...lay.kv,
    ...o.kv,
  };
  const experts = lay.moe !== undefined && (lay.moe !== 'optional' || (s.nExpert ?? 0) > 0);
  const nExpert = s.nExpert ?? 0, nFfExp = s.nFfExp ?? s.nFf, nFfShexp = s.nFfShexp ?? s.nFf;
  if (experts) {
    if (!(nExpert > 0) || !(s.nExpertUsed && s.nExpertUsed > 0)) throw new Error(`${arch} needs nExpert and nExpertUsed`);
    kv.expert_count = gv.u32(nExpert);
    kv.expert_used_count = gv.u32(s.nExpertUsed);
    if (lay.moe !== 'optional') kv.expert_feed_forward_length = gv.u32(nFfExp);
    if (lay.moe === 'shared') kv.expert_shared_feed_forward_length = gv.u32(nFfShexp);
  }
  const ffExp = lay.moe === 'optional' ? s.nFf : nFfExp;
  const qkSpread = o.qkNormSpread ?? 0.9;
  const tensors: RandomTensor[] = [
    { name: 'token_embd.weight', dims: [D, nVocab], fill: { kind: 'uniform', sigma: o.embdSigma ?? 1 } },
    ...(o.tensors ?? []),
  ];
  const qk = fill.matrix(o.qkGain ?? 1);
  for (let l = 0; l < s.nLayer; l++) {
    const b = `blk.${l}.`;
    tensors.push({ name: `${b}attn_norm.weight`, dims: [D], fill: fill.norm() });
    if (lay.qkv === 'fused') tensors.push({ name: `${b}attn_qkv.weight`, dims: [D, q + 2 * kvd], fill: fill.matrix() });
    else
      tensors.push(
        { name: `${b}attn_q.weight`, dims: [D, q], fill: qk },
        { name: `${b}attn_k.weight`, dims: [D, kvd], fill: qk },
        { name: `${b}attn_v.weight`, dims: [D, kvd], fill: fill.matrix() },
      );
    if (lay.qkvBias)
      tensors.push(
        { name: `${b}attn_q.bias`, dims: [q], fill: fill.bias() },
        { name: `${b}attn_k.bias`, dims: [kvd], fill: fill.bias() },
        { name: `${b}attn_v.bias`, dims: [kvd], fill: fill.bias() },
      );
    if (lay.qkNorm)
      tensors.push(
        { name: `${b}attn_q_norm.weight`, dims: [hd], fill: fill.norm(qkSpread) },
        { name: `${b}attn_k_norm.weight`, dims: [hd], fill: fill.norm(qkSpread) },
      );
    tensors.push({ name: `${b}attn_output.weight`, dims: [q, D], fill: fill.matrix() });
    if (lay.postNorms) tensors.push({ name: `${b}post_attention_norm.weight`, dims: [D], fill: fill.norm() });
    tensors.push({ name: `${b}ffn_norm.weight`, dims: [D], fill: fill.norm() });
    if (experts) {
      // the router stays F32 (as convert_hf_to_gguf writes it); experts are 3-D, one 2-D slice each
      tensors.push(
        { name: `${b}ffn_gate_inp.weight`, dims: [D, nExpert], fill: fill.matrix(o.routerGain ?? 4), type: 'F32' },
        { name: `${b}ffn_gate_exps.weight`, dims: [D, ffExp, nExpert], fill: fill.matrix() },
        { name: `${b}ffn_up_exps.weight`, dims: [D, ffExp, nExpert], fill: fill.matrix() },
        { name: `${b}ffn_down_exps.weight`, dims: [ffExp, D, nExpert], fill: fill.matrix() },
      );
      if (lay.moe === 'shared')
        tensors.push(
          { name: `${b}ffn_gate_inp_shexp.weight`, dims: [D], fill: fill.matrix(), type: 'F32' },
          { name: `${b}ffn_gate_shexp.weight`, dims: [D, nFfShexp], fill: fill.matrix() },
          { name: `${b}ffn_up_shexp.weight`, dims: [D, nFfShexp], fill: fill.matrix() },
          { name: `${b}ffn_down_shexp.weight`, dims: [nFfShexp, D], fill: fill.matrix() },
        );
    } else if (lay.gateUp === 'fused') tensors.push({ name: `${b}ffn_up.weight`, dims: [D, 2 * s.nFf], fill: fill.matrix() });
    else
      tensors.push(
        { name: `${b}ffn_gate.weight`, dims: [D, s.nFf], fill: fill.matrix() },
        { name: `${b}ffn_up.weight`, dims: [D, s.nFf], fill: fill.matrix() },
      );
    if (!experts) tensors.push({ name: `${b}ffn_down.weight`, dims: [s.nFf, D], fill: fill.matrix() });
    if (lay.postNorms) tensors.push({ name: `${b}post_ffw_norm.weight`, dims: [D], fill: fill.norm() });
  }
  tensors.push({ name: 'output_norm.weight', dims: [D], fill: o.outputNorm ?? fill.norm() });
  if (!lay.tiedOutput) tensors.push({ name: 'output.weight', dims: [D, nVocab], fill: fill.matrix(o.outputGain ?? 3) });
  if (o.ropeFactors) {
    const n = o.ropeFactors.long.length;
    tensors.splice(1, 0, { name: 'rope_factors_long.weight', dims: [n], fill: fill.values(o.ropeFactors.long) }, {
      name: 'rope_factors_short.weight',
      dims: [n],
      fill: fill.values(o.ropeFactors.short),
    });
  }
  return {
    arch,
    kv: Object.fromEntries(Object.entries(kv).map(([k, v]) => [k.startsWith('general.') ? k : `${arch}.${k}`, v])),
    tensors,
    seed: o.seed,
  };
}

/** ~1 B-parameter shapes of each architecture for the benchmarks (GQA 4:1, 4096 wide as bench/models.ts's llama); qwen3moe ~2 B. */
export const BENCH_SHAPES: Record<string, DecoderShape> = {
  llama: { nEmbd: 4096, nHead: 32, nHeadKv: 8, nFf: 14336, nLayer: 5 },
  qwen3: { nEmbd: 4096, nHead: 32, nHeadKv: 8, headDim: 128, nFf: 12288, nLayer: 6 },
  phi3: { nEmbd: 3072, nHead: 24, nHeadKv: 8, nFf: 8192, nLayer: 10 },
  gemma2: { nEmbd: 3584, nHead: 16, nHeadKv: 8, headDim: 256, nFf: 14336, nLayer: 6 },
  gemma3: { nEmbd: 2560, nHead: 8, nHeadKv: 4, headDim: 256, nFf: 10240, nLayer: 12 },
  // ~2.0 B parameters, ~0.64 B active per token: 18 layers of attention (10.5 M) and 8 experts of 2048 (12.6 M each), 2 used
  qwen3moe: { nEmbd: 2048, nHead: 16, nHeadKv: 4, headDim: 128, nFf: 6144, nFfExp: 2048, nExpert: 8, nExpertUsed: 2, nLayer: 18 },
};

export interface EncoderShape {
  nEmbd: number;
  nHead: number;
  nFf: number;
  nLayer: number;
  /** Trained context: also the rows of bert's absolute position table. */
  nCtx: number;
}

export interface EncoderOptions {
  /** llama.cpp's pooling type: 0 none, 1 mean, 2 cls, 3 last, 4 rank. */
  pooling: number;
  /** The GGUF whose (WordPiece) tokenizer the model takes. */
  vocabFrom: string;
  /** A reranker's classification head (cls, cls.output). */
  rerank?: boolean;
  /** nomic-bert's rotary base (default 1000). */
  ropeBase?: number;
}

/**
 * Random-weight embedding models: `bert` (separate q/k/v with biases, absolute
 * positions, GELU FFN) and `nomic-bert` (fused qkv, NEOX rotary, SwiGLU), both
 * post-norm with token types, as llama.cpp's graphs read them.
 */
export function encoderSpec(arch: 'bert' | 'nomic-bert', s: EncoderShape, nVocab: number, o: EncoderOptions): RandomModelSpec {
  const D = s.nEmbd, FF = s.nFf;
  const norms = (name: string, d: number): RandomTensor[] => [
    { name: `${name}.weight`, dims: [d], fill: fill.norm(0.2) },
    { name: `${name}.bias`, dims: [d], fill: fill.bias(0.1) },
  ];
  const bert = arch === 'bert';
  const tensors: RandomTensor[] = [
    { name: 'token_embd.weight', dims: [D, nVocab], fill: { kind: 'uniform', sigma: 1 } },
    { name: 'token_types.weight', dims: [D, 2], fill: { kind: 'uniform', sigma: 0.5 }, type: 'F32' },
    ...(bert ? [{ name: 'position_embd.weight', dims: [D, s.nCtx], fill: { kind: 'uniform', sigma: 0.5 }, type: 'F32' } as RandomTensor] : []),
    ...norms('token_embd_norm', D),
  ];
  for (let l = 0; l < s.nLayer; l++) {
    const b = `blk.${l}.`;
    if (bert)
      tensors.push(
        { name: `${b}attn_q.weight`, dims: [D, D], fill: fill.matrix() },
        { name: `${b}attn_q.bias`, dims: [D], fill: fill.bias() },
        { name: `${b}attn_k.weight`, dims: [D, D], fill: fill.matrix() },
        { name: `${b}attn_k.bias`, dims: [D], fill: fill.bias() },
        { name: `${b}attn_v.weight`, dims: [D, D], fill: fill.matrix() },
        { name: `${b}attn_v.bias`, dims: [D], fill: fill.bias() },
        { name: `${b}attn_output.weight`, dims: [D, D], fill: fill.matrix() },
        { name: `${b}attn_output.bias`, dims: [D], fill: fill.bias() },
        ...norms(`${b}attn_output_norm`, D),
        { name: `${b}ffn_up.weight`, dims: [D, FF], fill: fill.matrix() },
        { name: `${b}ffn_up.bias`, dims: [FF], fill: fill.bias() },
        { name: `${b}ffn_down.weight`, dims: [FF, D], fill: fill.matrix() },
        { name: `${b}ffn_down.bias`, dims: [D], fill: fill.bias() },
        ...norms(`${b}layer_output_norm`, D),
      );
    else
      tensors.push(
        { name: `${b}attn_qkv.weight`, dims: [D, 3 * D], fill: fill.matrix() },
        { name: `${b}attn_output.weight`, dims: [D, D], fill: fill.matrix() },
        ...norms(`${b}attn_output_norm`, D),
        { name: `${b}ffn_up.weight`, dims: [D, FF], fill: fill.matrix() },
        { name: `${b}ffn_gate.weight`, dims: [D, FF], fill: fill.matrix() },
        { name: `${b}ffn_down.weight`, dims: [FF, D], fill: fill.matrix() },
        ...norms(`${b}layer_output_norm`, D),
      );
  }
  if (o.rerank)
    tensors.push(
      { name: 'cls.weight', dims: [D, D], fill: fill.matrix() },
      { name: 'cls.bias', dims: [D], fill: fill.bias() },
      { name: 'cls.output.weight', dims: [D, 1], fill: fill.matrix(3) },
      { name: 'cls.output.bias', dims: [1], fill: fill.bias() },
    );
  const kv: Record<string, GGUFValue> = {
    context_length: gv.u32(s.nCtx),
    embedding_length: gv.u32(D),
    block_count: gv.u32(s.nLayer),
    feed_forward_length: gv.u32(FF),
    'attention.head_count': gv.u32(s.nHead),
    'attention.layer_norm_epsilon': gv.f32(1e-12),
    'attention.causal': gv.bool(false),
    ...(bert ? {} : { 'rope.freq_base': gv.f32(o.ropeBase ?? 1000) }),
    pooling_type: gv.u32(o.pooling),
  };
  return {
    arch,
    vocabFrom: o.vocabFrom,
    kv: Object.fromEntries(Object.entries(kv).map(([k, v]) => [`${arch}.${k}`, v])),
    tensors,
  };
}

/** bert-base (BERT-base, bge-base, mxbai-embed's width class): the embedding benchmark's shape. */
export const BERT_BASE: EncoderShape = { nEmbd: 768, nHead: 12, nFf: 3072, nLayer: 12, nCtx: 512 };

export interface GptOssOptions {
  /** Sliding window of the even layers (gpt-oss: 128). */
  window: number;
  /** YaRN: scaling factor and original context (gpt-oss: 32 and 4096). */
  yarnFactor: number;
  yarnOrigCtx: number;
  /** Standard deviation of the attention sink logits (default 1). */
  sinkSigma?: number;
  seed?: number;
}

/**
 * A random-weight gpt-oss (llama.cpp's openai-moe graph): q/k/v/o with biases, per-head attention
 * sinks, sliding-window attention on every other layer, NEOX RoPE with YaRN scaling, and experts
 * with biases behind a biased router (softmax over the chosen k), the FFN norm named
 * `post_attention_norm`, as convert_hf_to_gguf writes the real model.
 */
export function gptOssSpec(s: DecoderShape, nVocab: number, o: GptOssOptions): RandomModelSpec {
  const hd = s.headDim ?? s.nEmbd / s.nHead;
  const D = s.nEmbd, q = s.nHead * hd, kvd = s.nHeadKv * hd;
  const nExpert = s.nExpert ?? 0, ff = s.nFfExp ?? s.nFf;
  if (!(nExpert > 0) || !(s.nExpertUsed && s.nExpertUsed > 0)) throw new Error('gpt-oss needs nExpert and nExpertUsed');
  const kv: Record<string, GGUFValue> = {
    context_length: gv.u32(s.nCtx ?? 131072),
    embedding_length: gv.u32(D),
    block_count: gv.u32(s.nLayer),
    feed_forward_length: gv.u32(s.nFf),
    'attention.head_count': gv.u32(s.nHead),
    'attention.head_count_kv': gv.u32(s.nHeadKv),
    'attention.key_length': gv.u32(hd),
    'attention.value_length': gv.u32(hd),
    'attention.sliding_window': gv.u32(o.window),
    'rope.dimension_count': gv.u32(s.nRot ?? hd),
    'rope.freq_base': gv.f32(150000),
    'rope.scaling.type': gv.str('yarn'),
    'rope.scaling.factor': gv.f32(o.yarnFactor),
    'rope.scaling.original_context_length': gv.u32(o.yarnOrigCtx),
    'attention.layer_norm_rms_epsilon': gv.f32(1e-5),
    expert_count: gv.u32(nExpert),
    expert_used_count: gv.u32(s.nExpertUsed),
    expert_feed_forward_length: gv.u32(ff),
  };
  const tensors: RandomTensor[] = [{ name: 'token_embd.weight', dims: [D, nVocab], fill: { kind: 'uniform', sigma: 1 } }];
  for (let l = 0; l < s.nLayer; l++) {
    const b = `blk.${l}.`;
    tensors.push(
      { name: `${b}attn_norm.weight`, dims: [D], fill: fill.norm() },
      { name: `${b}attn_q.weight`, dims: [D, q], fill: fill.matrix() },
      { name: `${b}attn_q.bias`, dims: [q], fill: fill.bias() },
      { name: `${b}attn_k.weight`, dims: [D, kvd], fill: fill.matrix() },
      { name: `${b}attn_k.bias`, dims: [kvd], fill: fill.bias() },
      { name: `${b}attn_v.weight`, dims: [D, kvd], fill: fill.matrix() },
      { name: `${b}attn_v.bias`, dims: [kvd], fill: fill.bias() },
      { name: `${b}attn_output.weight`, dims: [q, D], fill: fill.matrix() },
      { name: `${b}attn_output.bias`, dims: [D], fill: fill.bias() },
      { name: `${b}attn_sinks.weight`, dims: [s.nHead], fill: { kind: 'uniform', sigma: o.sinkSigma ?? 1 }, type: 'F32' },
      { name: `${b}post_attention_norm.weight`, dims: [D], fill: fill.norm() },
      { name: `${b}ffn_gate_inp.weight`, dims: [D, nExpert], fill: fill.matrix(4), type: 'F32' },
      { name: `${b}ffn_gate_inp.bias`, dims: [nExpert], fill: fill.bias(0.3), type: 'F32' },
      { name: `${b}ffn_gate_exps.weight`, dims: [D, ff, nExpert], fill: fill.matrix(2) },
      { name: `${b}ffn_gate_exps.bias`, dims: [ff, nExpert], fill: fill.bias(0.3), type: 'F32' },
      { name: `${b}ffn_up_exps.weight`, dims: [D, ff, nExpert], fill: fill.matrix(2) },
      { name: `${b}ffn_up_exps.bias`, dims: [ff, nExpert], fill: fill.bias(0.3), type: 'F32' },
      { name: `${b}ffn_down_exps.weight`, dims: [ff, D, nExpert], fill: fill.matrix() },
      { name: `${b}ffn_down_exps.bias`, dims: [D, nExpert], fill: fill.bias(), type: 'F32' },
    );
  }
  tensors.push(
    { name: 'output_norm.weight', dims: [D], fill: fill.norm() },
    { name: 'output.weight', dims: [D, nVocab], fill: fill.matrix(3) },
  );
  return { arch: 'gpt-oss', kv: Object.fromEntries(Object.entries(kv).map(([k, v]) => [`gpt-oss.${k}`, v])), tensors, seed: o.seed };
}
