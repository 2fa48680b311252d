import { KilnError } from '../../common/errors.js';
import { weightRefs } from './weight-refs.js';
import { encoderArchitectures, isEncoderArch } from './bert.js';
import { kvNumber, kvString } from '../gguf/metadata.js';
import { GGUFValueType } from '../gguf/types.js';
import type { GGUFFile } from '../gguf/reader.js';
import type { LlamaLayerRefs, LlamaParams, LlamaWeights, WeightRef } from '../../kernels/llama.js';

/** How an architecture differs from llama in the shared forward pass. */
interface ArchSpec {
  /** RoPE rotates the two halves of a head (NEOX) rather than adjacent pairs. */
  neox: boolean;
  /** Per-head RMSNorm of q and k before RoPE (`attn_q_norm`, `attn_k_norm`), required. */
  qkNorm?: boolean;
  /** q, k, v may come fused in one `attn_qkv`; there is no `ffn_gate`: `ffn_up` holds the gate's rows, then up's. */
  phi3Layout?: boolean;
  /** LongRoPE: `rope_factors_long`/`rope_factors_short` chosen by context length, as llama.cpp chooses them. */
  longRope?: boolean;
  /** q is scaled by 1/√head_dim before attention, not the scores. */
  qPrescale?: boolean;
  /** The Gemma 2 / Gemma 3 block (scaled embeddings, GEGLU, post-norms, sliding-window layers; see gemmaParams). */
  gemma?: 2 | 3;
  /**
   * Mixture-of-experts layers (required, or, for llama, when `expert_count` > 0: mixtral), with
   * llama.cpp's fixed choices for the architecture: softmax gating, the chosen weights renormalized
   * or not, and where the expert width comes from (`expert_feed_forward_length`, else
   * feed_forward_length / expert_used_count; llama: feed_forward_length).
   */
  moe?: { required: boolean; norm: boolean; ffExpKey: boolean; shared?: boolean; gating?: number };
  /**
   * gpt-oss's block: the FFN norm is `post_attention_norm`, attention sinks and an output bias, router
   * and expert biases, the clamped SwiGLU, and every other layer attending through a sliding window.
   */
  gptOss?: boolean;
}

/** Architectures the llama forward pass runs, and how each one differs. */
const ARCHS: Record<string, ArchSpec> = {
  llama: { neox: false, moe: { required: false, norm: true, ffExpKey: false } },
  mistral: { neox: false },
  qwen2: { neox: true },
  qwen3: { neox: true, qkNorm: true },
  // phi3.attention.sliding_window is ignored, as llama.cpp ignores it (its Phi SWA is disabled)
  phi3: { neox: true, phi3Layout: true, longRope: true, qPrescale: true },
  gemma2: { neox: true, gemma: 2 },
  gemma3: { neox: true, gemma: 3, qkNorm: true },
  // mixtures of experts (and llama with llama.expert_count > 0: mixtral)
  qwen2moe: { neox: true, moe: { required: true, norm: false, ffExpKey: true, shared: true } },
  qwen3moe: { neox: true, qkNorm: true, moe: { required: true, norm: true, ffExpKey: true } },
  // softmax over the chosen experts' logits (llama.cpp's SOFTMAX_WEIGHT), not renormalized
  'gpt-oss': { neox: true, gptOss: true, moe: { required: true, norm: false, ffExpKey: true, gating: 2 } },
};

/**
 * The context length llama.cpp compares with the original context to choose
 * the LongRoPE factors: its per-sequence context, which it pads to a multiple
 * of 256.
 */
export function llamaCppSeqCtx(nCtx: number): number {
  return Math.ceil(nCtx / 256) * 256;
}

export function supportedArchitectures(): string[] {
  return Object.keys(ARCHS);
}

export interface ModelHParams extends LlamaParams {
  arch: string;
  /** The context the model was trained for (`{arch}.context_length`). */
  trainCtx: number;
}

/**
 * Reads the hyperparameters and tensor locations of a llama-family model
 * from its GGUF metadata, with clear errors for what kiln cannot run.
 */
export function llamaLayout(file: GGUFFile, opts: { nCtx?: number; kvF16?: boolean } = {}): { hp: ModelHParams; weights: LlamaWeights } {
  const arch = kvString(file, 'general.architecture') ?? '';
  const spec = ARCHS[arch];
  if (!spec) {
    if (isEncoderArch(arch)) throw new KilnError('E_GGUF_UNSUPPORTED', `model architecture '${arch}' is an embedding model: it embeds text and does not generate`);
    throw new KilnError(
      'E_GGUF_UNSUPPORTED',
      `model architecture '${arch || 'unknown'}' is not supported (kiln runs ${supportedArchitectures().join(', ')}; embedding models: ${encoderArchitectures().join(', ')})`,
    );
  }
  const ref = weightRefs(file);

  const tok = ref('token_embd.weight', true)!;
  const nEmbd = kvNumber(file, `${arch}.embedding_length`) ?? tok.ne0;
  const nLayer = kvNumber(file, `${arch}.block_count`);
  const nHead = kvNumber(file, `${arch}.attention.head_count`);
  if (!nLayer || !nHead) throw new KilnError('E_GGUF_MALFORMED', `${arch}.block_count or ${arch}.attention.head_count is missing`);
  const nHeadKv = kvNumber(file, `${arch}.attention.head_count_kv`) ?? nHead;
  const headDim = kvNumber(file, `${arch}.attention.key_length`) ?? nEmbd / nHead;
  const nExpert = spec.moe ? kvNumber(file, `${arch}.expert_count`) ?? 0 : 0;
  const moe = spec.moe && (spec.moe.required || nExpert > 0) ? spec.moe : undefined;
  const nFf =
    kvNumber(file, `${arch}.feed_forward_length`) ??
    (moe ? ref('blk.0.ffn_up_exps.weight', true)!.ne1 / nExpert : ref('blk.0.ffn_up.weight', true)!.ne1 / (spec.phi3Layout ? 2 : 1));
  const trainCtx = kvNumber(file, `${arch}.context_length`) ?? 2048;
  const scalingType = kvString(file, `${arch}.rope.scaling.type`);
  const scalingFactor = kvNumber(file, `${arch}.rope.scaling.factor`) ?? 1;
  const longRopeType = spec.longRope && (scalingType === 'longrope' || scalingType === 'su');
  const yarn = scalingType === 'yarn';
  if (scalingType && scalingType !== 'none' && scalingType !== 'linear' && !yarn && !longRopeType && !(scalingType === 'llama3' || ref('rope_freqs.weight', false) !== undefined)) {
    throw new KilnError('E_GGUF_UNSUPPORTED', `rope scaling '${scalingType}' is not supported`);
  }
  const layers: LlamaLayerRefs[] = [];
  for (let i = 0; i < nLayer; i++) {
    const b = `blk.${i}.`;
    const wqkv = spec.phi3Layout ? ref(`${b}attn_qkv.weight`, false) : undefined;
    layers.push({
      attnNorm: ref(`${b}attn_norm.weight`, true)!,
      wq: wqkv ? undefined : ref(`${b}attn_q.weight`, true)!,
      wk: wqkv ? undefined : ref(`${b}attn_k.weight`, true)!,
      wv: wqkv ? undefined : ref(`${b}attn_v.weight`, true)!,
      wo: ref(`${b}attn_output.weight`, true)!,
      bq: wqkv ? undefined : ref(`${b}attn_q.bias`, false),
      bk: wqkv ? undefined : ref(`${b}attn_k.bias`, false),
      bv: wqkv ? undefined : ref(`${b}attn_v.bias`, false),
      ffnNorm: ref(spec.gptOss ? `${b}post_attention_norm.weight` : `${b}ffn_norm.weight`, true)!,
      wGate: spec.phi3Layout || moe ? undefined : ref(`${b}ffn_gate.weight`, true)!,
      wUp: moe ? undefined : ref(`${b}ffn_up.weight`, true)!,
      wDown: moe ? undefined : ref(`${b}ffn_down.weight`, true)!,
      qNorm: ref(`${b}attn_q_norm.weight`, spec.qkNorm === true),
      kNorm: ref(`${b}attn_k_norm.weight`, spec.qkNorm === true),
      wqkv,
      attnPostNorm: spec.gptOss ? undefined : ref(`${b}post_attention_norm.weight`, spec.gemma !== undefined),
      ffnPostNorm: ref(`${b}post_ffw_norm.weight`, spec.gemma !== undefined),
      ...(moe ? expertRefs(ref, b, moe.shared === true) : {}),
      ...(spec.gptOss
        ? {
            attnSinks: ref(`${b}attn_sinks.weight`, true),
            bo: ref(`${b}attn_output.bias`, true),
            gateInpB: ref(`${b}ffn_gate_inp.bias`, true),
            gateExpsB: ref(`${b}ffn_gate_exps.bias`, true),
            upExpsB: ref(`${b}ffn_up_exps.bias`, true),
            downExpsB: ref(`${b}ffn_down_exps.bias`, true),
          }
        : {}),
    });
  }
  const nCtx = Math.max(1, Math.min(opts.nCtx ?? trainCtx, 1 << 20));
  const ropeAttnFactor = kvNumber(file, `${arch}.rope.scaling.attn_factor`) ?? 1;
  if (!(ropeAttnFactor > 0) || !Number.isFinite(ropeAttnFactor)) {
    throw new KilnError('E_GGUF_MALFORMED', `${arch}.rope.scaling.attn_factor must be a positive number; got ${ropeAttnFactor}`);
  }
  let ropeFreqs = spec.longRope ? undefined : ref('rope_freqs.weight', false);
  if (spec.longRope) {
    // llama.cpp: the long factors once its (padded) context exceeds the original one, else the short ones
    const origCtx = kvNumber(file, `${arch}.rope.scaling.original_context_length`) ?? trainCtx;
    ropeFreqs = ref(llamaCppSeqCtx(nCtx) > origCtx ? 'rope_factors_long.weight' : 'rope_factors_short.weight', false);
  }
  const hp: ModelHParams = {
    arch,
    trainCtx,
    nVocab: tok.ne1,
    nEmbd,
    nLayer,
    nHead,
    nHeadKv,
    nFf,
    headDim,
    nRot: kvNumber(file, `${arch}.rope.dimension_count`) ?? headDim,
    ropeNeox: spec.neox,
    ropeBase: kvNumber(file, `${arch}.rope.freq_base`) ?? 10000,
    ropeFreqScale: (scalingType === 'linear' || yarn) && scalingFactor > 0 ? 1 / scalingFactor : 1,
    rmsEps: kvNumber(file, `${arch}.attention.layer_norm_rms_epsilon`) ?? 1e-5,
    nCtx,
    kvCache: opts.kvF16 === false ? 'f32' : 'f16',
    ropeAttnFactor,
    // as llama.cpp computes it in float: 1.0f / sqrtf(head_dim)
    ...(spec.qPrescale ? { attnQScale: Math.fround(1 / Math.fround(Math.sqrt(headDim))) } : {}),
  };
  if (yarn) {
    // llama.cpp's YaRN: ext_factor 1, beta_fast 32 and beta_slow 1 (its defaults), the original context from the metadata
    Object.assign(hp, { yarnExtFactor: 1, yarnBetaFast: 32, yarnBetaSlow: 1, yarnOrigCtx: kvNumber(file, `${arch}.rope.scaling.original_context_length`) ?? trainCtx });
  }
  if (spec.gemma) Object.assign(hp, gemmaParams(file, arch, spec.gemma, hp));
  if (spec.gptOss) Object.assign(hp, gptOssParams(file, arch, hp));
  if (moe) Object.assign(hp, moeParams(file, arch, moe, hp, layers));
  return {
    hp,
    weights: {
      tokEmbd: tok,
      outputNorm: ref('output_norm.weight', true)!,
      output: ref('output.weight', false),
      ropeFreqs,
      layers,
    },
  };
}

/**
 * The Gemma 2 / Gemma 3 settings, as llama.cpp derives them from the metadata:
 * embeddings scaled by √n_embd, GEGLU, q scaled by 1/√head_dim after RoPE
 * (1/√(n_embd/n_head) for the 27B shapes, which llama.cpp recognizes by layer
 * count; `query_pre_attn_scalar` is not read), soft-capping (gemma2 always,
 * attention 50 and final 30 unless the metadata says otherwise; gemma3 only a
 * final cap, when its key is there), and sliding-window layers: gemma2's
 * every other one (window 4096 by default), gemma3's five of each six when
 * `sliding_window` is set, with RoPE base `rope.freq_base_swa` (gemma2: the
 * global base and scale by default; gemma3: 10000, unscaled). gemma2's
 * attention is summed as llama.cpp does without flash attention.
 */
function gemmaParams(file: GGUFFile, arch: string, gen: 2 | 3, hp: ModelHParams): Partial<ModelHParams> {
  const num = (k: string) => kvNumber(file, `${arch}.${k}`);
  const patternKey = `${arch}.attention.sliding_window_pattern`;
  if (file.kv.get(patternKey)?.type === GGUFValueType.ARRAY) {
    throw new KilnError('E_GGUF_UNSUPPORTED', `a per-layer ${patternKey} array is not supported`);
  }
  const is27B = hp.nLayer === (gen === 2 ? 46 : 62);
  const qScaleDim = is27B ? Math.trunc(hp.nEmbd / hp.nHead) : hp.headDim;
  const f = Math.fround;
  const out: Partial<ModelHParams> = {
    embdScale: f(Math.sqrt(hp.nEmbd)),
    ffnGelu: true,
    attnQScale: f(1 / f(Math.sqrt(qScaleDim))),
    finalSoftcap: num('final_logit_softcapping') ?? (gen === 2 ? 30 : 0),
  };
  if (gen === 2) {
    // node-llama-cpp (the oracle, and what most runtimes embed) turns flash attention off for gemma2,
    // so llama.cpp sums its attention as two matrix products with binary16 weights
    out.attnUnfused = true;
    out.attnSoftcap = num('attn_logit_softcapping') ?? 50;
    out.nSwa = num('attention.sliding_window') ?? 4096;
    out.swaPattern = num('attention.sliding_window_pattern') ?? 2;
    out.ropeBaseSwa = num('rope.freq_base_swa') ?? hp.ropeBase;
    out.ropeFreqScaleSwa = hp.ropeFreqScale;
  } else {
    const window = num('attention.sliding_window') ?? 0;
    if (window > 0) {
      out.nSwa = window;
      out.swaPattern = num('attention.sliding_window_pattern') ?? 6;
      out.ropeBaseSwa = num('rope.freq_base_swa') ?? 10000;
      out.ropeFreqScaleSwa = 1;
    }
  }
  return out;
}

/**
 * gpt-oss's settings as llama.cpp fixes them: the clamped SwiGLU (alpha 1.702, limit 7), a sliding
 * window (`attention.sliding_window`, required) on every other layer from the first
 * (`sliding_window_pattern`, default 2), whose RoPE base is `rope.freq_base_swa` or the global one.
 */
function gptOssParams(file: GGUFFile, arch: string, hp: ModelHParams): Partial<ModelHParams> {
  const num = (k: string) => kvNumber(file, `${arch}.${k}`);
  const patternKey = `${arch}.attention.sliding_window_pattern`;
  if (file.kv.get(patternKey)?.type === GGUFValueType.ARRAY) {
    throw new KilnError('E_GGUF_UNSUPPORTED', `a per-layer ${patternKey} array is not supported`);
  }
  const window = num('attention.sliding_window');
  if (!window || window < 1) throw new KilnError('E_GGUF_MALFORMED', `${arch}.attention.sliding_window is missing`);
  return {
    swigluOaiAlpha: Math.fround(1.702),
    swigluOaiLimit: 7,
    nSwa: window,
    swaPattern: num('attention.sliding_window_pattern') ?? 2,
    ropeBaseSwa: num('rope.freq_base_swa') ?? hp.ropeBase,
    ropeFreqScaleSwa: hp.ropeFreqScale,
  };
}

/** A MoE layer's router and expert tensors (and its shared expert's, when the architecture has one). */
function expertRefs(ref: (name: string, required: boolean) => WeightRef | undefined, b: string, shared: boolean): Partial<LlamaLayerRefs> {
  return {
    gateInp: ref(`${b}ffn_gate_inp.weight`, true),
    gateExps: ref(`${b}ffn_gate_exps.weight`, true),
    upExps: ref(`${b}ffn_up_exps.weight`, true),
    downExps: ref(`${b}ffn_down_exps.weight`, true),
    ...(shared
      ? {
          gateInpShexp: ref(`${b}ffn_gate_inp_shexp.weight`, true),
          gateShexp: ref(`${b}ffn_gate_shexp.weight`, true),
          upShexp: ref(`${b}ffn_up_shexp.weight`, true),
          downShexp: ref(`${b}ffn_down_shexp.weight`, true),
        }
      : {}),
  };
}

/**
 * The mixture-of-experts settings as llama.cpp derives them: `expert_count` experts of which each
 * token uses `expert_used_count`, softmax gating, the chosen weights renormalized or not (the
 * architecture decides), each expert as wide as its tensors say (llama.cpp's width from the metadata
 * must agree: the native side checks the shapes), and the shared expert's width from its tensors.
 */
function moeParams(file: GGUFFile, arch: string, moe: NonNullable<ArchSpec['moe']>, hp: ModelHParams, layers: LlamaLayerRefs[]): Partial<ModelHParams> {
  const nExpert = kvNumber(file, `${arch}.expert_count`) ?? 0;
  const nExpertUsed = kvNumber(file, `${arch}.expert_used_count`) ?? 0;
  if (!(nExpert > 0) || !(nExpertUsed > 0) || nExpertUsed > nExpert) {
    throw new KilnError('E_GGUF_MALFORMED', `${arch}.expert_count (${nExpert}) and ${arch}.expert_used_count (${nExpertUsed}) must be positive, the used count at most the count`);
  }
  const up = layers[0].upExps!;
  const nFfExp = moe.ffExpKey ? kvNumber(file, `${arch}.expert_feed_forward_length`) ?? Math.trunc(hp.nFf / nExpertUsed) : hp.nFf;
  if (up.ne1 !== nFfExp * nExpert) {
    throw new KilnError('E_GGUF_MALFORMED', `blk.0.ffn_up_exps.weight has ${up.ne1} rows; ${nExpert} experts of ${nFfExp} expected`);
  }
  const shexp = layers[0].upShexp;
  return {
    nExpert,
    nExpertUsed,
    nFfExp,
    nFfShexp: shexp ? shexp.ne1 : 0,
    expertGating: moe.gating ?? 0,
    expertWeightsNorm: moe.norm,
  };
}
