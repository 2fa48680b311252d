/**
 * The native BERT-family encoder (kernels/src/bert/encoder.cpp): one call
 * encodes a whole input (bidirectional attention, no KV cache) and pools it,
 * weights read in place from a mapped GGUF file.
 */
import { KilnError } from '../common/errors.js';
import type { MappedFile } from './mmap.js';
import { variantIndex } from './cpu.js';
import type { WeightRef } from './llama.js';
import { call, native, type BertHandle, type NativeBertParams } from './native.js';

/** llama.cpp's pooling enum (`{arch}.pooling_type`), by name. */
export const POOLING_TYPES = ['none', 'mean', 'cls', 'last', 'rank'] as const;
export type PoolingType = (typeof POOLING_TYPES)[number];

/** The encoder's shape and settings; the kernel variant is added from KILN_KERNELS. */
export interface BertParams extends Omit<NativeBertParams, 'variant' | 'pooling'> {
  pooling: PoolingType;
}

export interface BertLayerRefs {
  wqkv?: WeightRef;
  bqkv?: WeightRef;
  wq?: WeightRef;
  wk?: WeightRef;
  wv?: WeightRef;
  bq?: WeightRef;
  bk?: WeightRef;
  bv?: WeightRef;
  wo: WeightRef;
  bo?: WeightRef;
  attnOutNorm: WeightRef;
  attnOutNormB?: WeightRef;
  wUp: WeightRef;
  bUp?: WeightRef;
  wGate?: WeightRef;
  wDown: WeightRef;
  bDown?: WeightRef;
  outNorm: WeightRef;
  outNormB?: WeightRef;
}

export interface BertWeights {
  tokEmbd: WeightRef;
  typeEmbd?: WeightRef;
  posEmbd?: WeightRef;
  tokNorm: WeightRef;
  tokNormB?: WeightRef;
  cls?: WeightRef;
  clsB?: WeightRef;
  clsOut?: WeightRef;
  clsOutB?: WeightRef;
  layers: BertLayerRefs[];
}

const TOP_ORDER: (keyof Omit<BertWeights, 'layers'>)[] = ['tokEmbd', 'typeEmbd', 'posEmbd', 'tokNorm', 'tokNormB', 'cls', 'clsB', 'clsOut', 'clsOutB'];
const LAYER_ORDER: (keyof BertLayerRefs)[] = [
  'wqkv', 'bqkv', 'wq', 'wk', 'wv', 'bq', 'bk', 'bv', 'wo', 'bo',
  'attnOutNorm', 'attnOutNormB', 'wUp', 'bUp', 'wGate', 'wDown', 'bDown', 'outNorm', 'outNormB',
];

export class NativeBert {
  private handle: BertHandle | undefined;
  readonly params: BertParams;

  constructor(file: MappedFile, params: BertParams, weights: BertWeights) {
    const named: NativeBertParams = { ...params, pooling: POOLING_TYPES.indexOf(params.pooling), variant: variantIndex(undefined) };
    const refs: (WeightRef | undefined)[] = TOP_ORDER.map((k) => weights[k]);
    for (const l of weights.layers) for (const k of LAYER_ORDER) refs.push(l[k]);
    const wv = new Float64Array(refs.length * 4);
    refs.forEach((r, i) => {
      if (!r) {
        wv[i * 4] = -1;
        return;
      }
      wv.set([r.offset, r.type, r.ne0, r.ne1], i * 4);
    });
    this.params = params;
    this.handle = call(() => native().bertNew(named, wv, file.buffer));
  }

  private h(): BertHandle {
    if (!this.handle) throw new KilnError('E_NATIVE', 'the model was freed');
    return this.handle;
  }

  /**
   * Encodes one input (positions from 0, token type 0) and returns it pooled
   * as the model says, not normalized: nTokens × nEmbd floats (pooling none),
   * the classifier's outputs (rank), or one nEmbd vector.
   */
  encode(tokens: ArrayLike<number>): Float32Array {
    const t = tokens instanceof Int32Array ? tokens : Int32Array.from(tokens);
    if (t.length === 0 || t.length > this.params.nCtx) {
      throw new KilnError('E_NATIVE', `an input of ${t.length} tokens does not fit the context (${this.params.nCtx})`);
    }
    const out = new Float32Array(call(() => native().bertOutSize(this.h(), t.length)));
    call(() => native().bertEval(this.h(), t, out));
    return out;
  }

  free(): void {
    if (!this.handle) return;
    const h = this.handle;
    this.handle = undefined;
    native().bertFree(h);
  }
}
