import { KilnError } from '../../common/errors.js';
import { kvNumber, kvString } from '../gguf/metadata.js';
import type { GGUFFile, GGUFTensorInfo } from '../gguf/reader.js';
import type { LlamaLayerRefs, LlamaParams, LlamaWeights, WeightRef } from '../../kernels/llama.js';

/** Architectures the llama forward pass runs, and how each one differs. */
const ARCHS: Record<string, { neox: boolean }> = {
  llama: { neox: false },
  mistral: { neox: false },
  qwen2: { neox: true },
};

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
    throw new KilnError('E_GGUF_UNSUPPORTED', `model architecture '${arch || 'unknown'}' is not supported (kiln runs ${supportedArchitectures().join(', ')})`);
  }
  const byName = new Map<string, GGUFTensorInfo>(file.tensors.map((t) => [t.name, t]));
  const ref = (name: string, required: boolean): WeightRef | undefined => {
    const t = byName.get(name);
    if (!t) {
      if (required) throw new KilnError('E_GGUF_MALFORMED', `tensor '${name}' is missing from the model`);
      return undefined;
    }
    return { offset: t.absOffset, type: t.type, ne0: t.dims[0], ne1: t.dims.slice(1).reduce((a, b) => a * b, 1) };
  };
  const tok = ref('token_embd.weight', true)!;
  const nEmbd = kvNumber(file, `${arch}.embedding_length`) ?? tok.ne0;
  const nLayer = kvNumber(file, `${arch}.block_count`);
  const nHead = kvNumber(file, `${arch}.attention.head_count`);
  if (!nLayer || !nHead) throw new KilnError('E_GGUF_MALFORMED', `${arch}.block_count or ${arch}.attention.head_count is missing`);
  const nHeadKv = kvNumber(file, `${arch}.attention.head_count_kv`) ?? nHead;
  const headDim = kvNumber(file, `${arch}.attention.key_length`) ?? nEmbd / nHead;
  const nFf = kvNumber(file, `${arch}.feed_forward_length`) ?? ref('blk.0.ffn_up.weight', true)!.ne1;
  const trainCtx = kvNumber(file, `${arch}.context_length`) ?? 2048;
  const scalingType = kvString(file, `${arch}.rope.scaling.type`);
  const scalingFactor = kvNumber(file, `${arch}.rope.scaling.factor`) ?? 1;
  if (scalingType && scalingType !== 'none' && scalingType !== 'linear' && !(scalingType === 'llama3' || byName.has('rope_freqs.weight'))) {
    throw new KilnError('E_GGUF_UNSUPPORTED', `rope scaling '${scalingType}' is not supported`);
  }
  const layers: LlamaLayerRefs[] = [];
  for (let i = 0; i < nLayer; i++) {
    const b = `blk.${i}.`;
    layers.push({
      attnNorm: ref(`${b}attn_norm.weight`, true)!,
      wq: ref(`${b}attn_q.weight`, true)!,
      wk: ref(`${b}attn_k.weight`, true)!,
      wv: ref(`${b}attn_v.weight`, true)!,
      wo: ref(`${b}attn_output.weight`, true)!,
      bq: ref(`${b}attn_q.bias`, false),
      bk: ref(`${b}attn_k.bias`, false),
      bv: ref(`${b}attn_v.bias`, false),
      ffnNorm: ref(`${b}ffn_norm.weight`, true)!,
      wGate: ref(`${b}ffn_gate.weight`, true)!,
      wUp: ref(`${b}ffn_up.weight`, true)!,
      wDown: ref(`${b}ffn_down.weight`, true)!,
    });
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
    ropeFreqScale: scalingType === 'linear' && scalingFactor > 0 ? 1 / scalingFactor : 1,
    rmsEps: kvNumber(file, `${arch}.attention.layer_norm_rms_epsilon`) ?? 1e-5,
    nCtx: Math.max(1, Math.min(opts.nCtx ?? trainCtx, 1 << 20)),
    kvCache: opts.kvF16 === false ? 'f32' : 'f16',
  };
  return {
    hp,
    weights: {
      tokEmbd: tok,
      outputNorm: ref('output_norm.weight', true)!,
      output: ref('output.weight', false),
      ropeFreqs: ref('rope_freqs.weight', false),
      layers,
    },
  };
}
