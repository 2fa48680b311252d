/**
 * The GGUF → encoder mapping of BERT-family embedding models (bert,
 * nomic-bert): hyperparameters, tensor locations and the pooling the model
 * asks for, with clear errors for what kiln cannot run.
 */
import { weightRefs } from './weight-refs.js';
import { KilnError } from '../../common/errors.js';
import { kvNumber } from '../gguf/metadata.js';
import type { GGUFFile } from '../gguf/reader.js';
import { POOLING_TYPES, type BertLayerRefs, type BertParams, type BertWeights, type PoolingType } from '../../kernels/index.js';

/** Encoder architectures, and how each one places its tokens. */
const ENCODERS: Record<string, { rope: 0 | 1 }> = {
  bert: { rope: 0 }, // absolute position embeddings
  'nomic-bert': { rope: 1 }, // NEOX rotary
};

export function encoderArchitectures(): string[] {
  return Object.keys(ENCODERS);
}

export function isEncoderArch(arch: string): boolean {
  return Object.hasOwn(ENCODERS, arch);
}

export interface BertHParams extends BertParams {
  arch: string;
  /** The context the model was trained for (`{arch}.context_length`). */
  trainCtx: number;
  /** Outputs of the classifier head (rank pooling): 1 unless `{arch}.classifier.output_labels` says more. */
  nClsOut: number;
}

/** The pooling `{arch}.pooling_type` names (llama.cpp's enum); none when absent, as llama.cpp reads it. */
export function poolingOf(file: GGUFFile, arch: string): PoolingType {
  const v = kvNumber(file, `${arch}.pooling_type`);
  if (v === undefined) return 'none';
  const p = POOLING_TYPES[v];
  if (p === undefined) throw new KilnError('E_GGUF_UNSUPPORTED', `${arch}.pooling_type ${v} is not one kiln knows (0 to ${POOLING_TYPES.length - 1})`);
  return p;
}

export function bertLayout(file: GGUFFile, opts: { nCtx?: number; pooling?: PoolingType } = {}): { hp: BertHParams; weights: BertWeights } {
  const arch = String(file.kv.get('general.architecture')?.value ?? '');
  const spec = ENCODERS[arch];
  if (!spec) throw new KilnError('E_GGUF_UNSUPPORTED', `'${arch || 'unknown'}' is not an encoder architecture (kiln encodes ${encoderArchitectures().join(', ')})`);
  const ref = weightRefs(file);

  const tok = ref('token_embd.weight', true)!;
  const nEmbd = kvNumber(file, `${arch}.embedding_length`) ?? tok.ne0;
  const nLayer = kvNumber(file, `${arch}.block_count`);
  const nHead = kvNumber(file, `${arch}.attention.head_count`);
  if (!nLayer || !nHead) throw new KilnError('E_GGUF_MALFORMED', `${arch}.block_count or ${arch}.attention.head_count is missing`);
  const nHeadKv = kvNumber(file, `${arch}.attention.head_count_kv`) ?? nHead;
  const headDim = kvNumber(file, `${arch}.attention.key_length`) ?? nEmbd / nHead;
  const nFf = kvNumber(file, `${arch}.feed_forward_length`) ?? ref('blk.0.ffn_up.weight', true)!.ne1;
  const trainCtx = kvNumber(file, `${arch}.context_length`) ?? 512;
  const pooling = opts.pooling ?? poolingOf(file, arch);
  const labels = file.kv.get(`${arch}.classifier.output_labels`)?.value;
  const layers: BertLayerRefs[] = [];
  for (let i = 0; i < nLayer; i++) {
    const b = `blk.${i}.`;
    const wqkv = ref(`${b}attn_qkv.weight`, false);
    layers.push({
      wqkv,
      bqkv: wqkv && ref(`${b}attn_qkv.bias`, false),
      wq: wqkv ? undefined : ref(`${b}attn_q.weight`, true),
      wk: wqkv ? undefined : ref(`${b}attn_k.weight`, true),
      wv: wqkv ? undefined : ref(`${b}attn_v.weight`, true),
      bq: wqkv ? undefined : ref(`${b}attn_q.bias`, false),
      bk: wqkv ? undefined : ref(`${b}attn_k.bias`, false),
      bv: wqkv ? undefined : ref(`${b}attn_v.bias`, false),
      wo: ref(`${b}attn_output.weight`, true)!,
      bo: ref(`${b}attn_output.bias`, false),
      attnOutNorm: ref(`${b}attn_output_norm.weight`, true)!,
      attnOutNormB: ref(`${b}attn_output_norm.bias`, true),
      wUp: ref(`${b}ffn_up.weight`, true)!,
      bUp: ref(`${b}ffn_up.bias`, false),
      wGate: spec.rope ? ref(`${b}ffn_gate.weight`, true) : undefined,
      wDown: ref(`${b}ffn_down.weight`, true)!,
      bDown: ref(`${b}ffn_down.bias`, false),
      outNorm: ref(`${b}layer_output_norm.weight`, true)!,
      outNormB: ref(`${b}layer_output_norm.bias`, true),
    });
  }
  const posEmbd = spec.rope ? undefined : ref('position_embd.weight', true);
  // Absolute positions bound the input: the context never exceeds the table.
  const maxCtx = posEmbd ? posEmbd.ne1 : 1 << 20;
  const hp: BertHParams = {
    arch,
    trainCtx,
    nClsOut: Array.isArray(labels) && labels.length > 0 ? labels.length : 1,
    nVocab: tok.ne1,
    nEmbd,
    nLayer,
    nHead,
    nHeadKv,
    nFf,
    headDim,
    nRot: spec.rope ? kvNumber(file, `${arch}.rope.dimension_count`) ?? headDim : 0,
    rope: spec.rope,
    ropeBase: kvNumber(file, `${arch}.rope.freq_base`) ?? 10000,
    ropeFreqScale: 1,
    normEps: kvNumber(file, `${arch}.attention.layer_norm_epsilon`) ?? 1e-12,
    nCtx: Math.max(1, Math.min(opts.nCtx ?? trainCtx, maxCtx)),
    pooling,
  };
  const rank = pooling === 'rank';
  return {
    hp,
    weights: {
      tokEmbd: tok,
      typeEmbd: ref('token_types.weight', false),
      posEmbd,
      tokNorm: ref('token_embd_norm.weight', true)!,
      tokNormB: ref('token_embd_norm.bias', true),
      cls: rank ? ref('cls.weight', false) : undefined,
      clsB: rank ? ref('cls.bias', false) : undefined,
      clsOut: rank ? ref('cls.output.weight', false) : undefined,
      clsOutB: rank ? ref('cls.output.bias', false) : undefined,
      layers,
    },
  };
}
