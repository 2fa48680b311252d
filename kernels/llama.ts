/**
 * The native llama forward pass (kernels/src/llama/forward.cpp): one call per
 * batch of tokens, weights read in place from a mapped GGUF file.
 */
import { KilnError } from '../common/errors.js';
import type { MappedFile } from './mmap.js';
import { variantIndex } from './cpu.js';
import { call, native, type KvCacheType, type LlamaHandle, type NativeLlamaParams } from './native.js';

export type { KvCacheType };

/** The model's shape and the context's settings; the kernel variant is added from KILN_KERNELS. */
export type LlamaParams = Omit<NativeLlamaParams, 'variant'>;

/** A tensor in the mapped file: absolute byte offset, ggml type, row length, rows. */
export interface WeightRef {
  offset: number;
  type: number;
  ne0: number;
  ne1: number;
}

export interface LlamaLayerRefs {
  attnNorm: WeightRef;
  wq?: WeightRef;
  wk?: WeightRef;
  wv?: WeightRef;
  wo: WeightRef;
  bq?: WeightRef;
  bk?: WeightRef;
  bv?: WeightRef;
  ffnNorm: WeightRef;
  wGate?: WeightRef;
  wUp?: WeightRef;
  wDown?: WeightRef;
  /** Per-head RMSNorm of q and k before RoPE (qwen3, gemma3), head_dim long. */
  qNorm?: WeightRef;
  kNorm?: WeightRef;
  /** q, k and v in one matrix (phi3), instead of wq/wk/wv; wGate is then absent and wUp holds gate and up. */
  wqkv?: WeightRef;
  /** RMSNorm of the attention and FFN outputs before their residual adds (gemma2, gemma3). */
  attnPostNorm?: WeightRef;
  ffnPostNorm?: WeightRef;
  /** Mixture of experts, instead of wGate/wUp/wDown: the router (F32, nExpert rows) and the 3-D expert tensors. */
  gateInp?: WeightRef;
  gateExps?: WeightRef;
  upExps?: WeightRef;
  downExps?: WeightRef;
  /** The shared expert (qwen2moe): its one-row sigmoid gate and its dense SwiGLU FFN. */
  gateInpShexp?: WeightRef;
  gateShexp?: WeightRef;
  upShexp?: WeightRef;
  downShexp?: WeightRef;
  /** gpt-oss: per-head attention sink logits (F32, nHead), the attention output's bias, the router's bias, and each expert's biases (F32, one row per expert). */
  attnSinks?: WeightRef;
  bo?: WeightRef;
  gateInpB?: WeightRef;
  gateExpsB?: WeightRef;
  upExpsB?: WeightRef;
  downExpsB?: WeightRef;
}

export interface LlamaWeights {
  tokEmbd: WeightRef;
  outputNorm: WeightRef;
  output?: WeightRef;
  ropeFreqs?: WeightRef;
  layers: LlamaLayerRefs[];
}

const LAYER_ORDER: (keyof LlamaLayerRefs)[] = [
  'attnNorm', 'wq', 'wk', 'wv', 'wo', 'bq', 'bk', 'bv', 'ffnNorm', 'wGate', 'wUp', 'wDown',
  'qNorm', 'kNorm', 'wqkv', 'attnPostNorm', 'ffnPostNorm',
  'gateInp', 'gateExps', 'upExps', 'downExps', 'gateInpShexp', 'gateShexp', 'upShexp', 'downShexp',
  'attnSinks', 'bo', 'gateInpB', 'gateExpsB', 'upExpsB', 'downExpsB',
];

export class NativeLlama {
  private handle: LlamaHandle | undefined;
  readonly params: LlamaParams;

  constructor(file: MappedFile, params: LlamaParams, weights: LlamaWeights) {
    const named: NativeLlamaParams = { ...params, variant: variantIndex(undefined) }; // KILN_KERNELS, as for every other kernel call
    const refs: (WeightRef | undefined)[] = [weights.tokEmbd, weights.outputNorm, weights.output, weights.ropeFreqs];
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
    try {
      this.handle = call(() => native().llamaNew(named, wv, file.buffer));
    } catch (e) {
      // the GPU's memory ran out while the layers were placed on it: the same error as too little system memory
      if (e instanceof KilnError && /out of device memory/.test(e.message)) {
        throw new KilnError('E_INSUFFICIENT_MEMORY', `${e.message.replace(/^cannot create the model: /, '')}; try a smaller num_gpu`, { cause: e });
      }
      throw e;
    }
  }

  private h(): LlamaHandle {
    if (!this.handle) throw new KilnError('E_NATIVE', 'the model was freed');
    return this.handle;
  }

  /**
   * Evaluates tokens at positions pos0.. and returns the logits of the last
   * token (or of every token with allLogits).
   */
  eval(tokens: ArrayLike<number>, pos0: number, allLogits = false, out?: Float32Array): Float32Array {
    const t = tokens instanceof Int32Array ? tokens : Int32Array.from(tokens);
    const logits = out ?? new Float32Array(this.params.nVocab * (allLogits ? t.length : 1));
    call(() => native().llamaEval(this.h(), t, pos0, logits, allLogits ? 1 : 0));
    return logits;
  }

  /**
   * Evaluates a batch of (token, position, sequence) entries in one pass
   * (kiln_llama_decode): each sequence's entries are one run of consecutive
   * positions that continues its own cache, and attention never crosses
   * sequences. Returns the logits of the entries listed in `out`, nVocab each.
   */
  decode(tokens: Int32Array, pos: Int32Array, seq: Int32Array, out: Int32Array, logits?: Float32Array): Float32Array {
    const l = logits ?? new Float32Array(this.params.nVocab * out.length);
    call(() => native().llamaDecode(this.h(), tokens, pos, seq, out, l));
    return l;
  }

  /** Cached positions of a sequence. */
  seqLen(seq = 0): number {
    return call(() => native().llamaSeqLen(this.h(), seq));
  }

  /** A copy of a sequence's cached keys and values at positions [pos0, pos0 + n), layer by layer (K rows, then V rows). */
  kvSave(seq: number, pos0: number, n: number): ArrayBuffer {
    return call(() => native().llamaKvSave(this.h(), seq, pos0, n));
  }

  /** Writes positions [pos0, pos0 + n) of a sequence from bytes laid out as kvSave writes them. */
  kvLoad(seq: number, pos0: number, n: number, bytes: Uint8Array): void {
    call(() => native().llamaKvLoad(this.h(), seq, pos0, n, bytes));
  }

  /** Normalized final hidden states of the last eval (n × nEmbd), for embeddings. */
  hidden(nTokens: number): Float32Array {
    const out = new Float32Array(nTokens * this.params.nEmbd);
    call(() => native().llamaHidden(this.h(), out));
    return out;
  }

  /**
   * The layers the GPU runs (0 when none: no device, or a model the device path lacks), the device memory they
   * hold, and whether the output projection runs there too.
   */
  gpu(): { layers: number; deviceBytes: number; output: boolean } {
    return call(() => native().llamaGpu(this.h()));
  }

  truncate(pos: number, seq = 0): void {
    call(() => native().llamaTruncate(this.h(), pos, seq));
  }

  /**
   * Context shift: drops cached positions [keep, keep + discard) and moves the
   * later ones down, their keys re-rotated for their new positions. Returns
   * the number of cached positions left.
   */
  shift(keep: number, discard: number, seq = 0): number {
    if (!Number.isInteger(keep) || !Number.isInteger(discard) || keep < 0 || discard < 1) {
      throw new KilnError('E_NATIVE', `shift needs integers keep >= 0 and discard >= 1; got ${keep}, ${discard}`);
    }
    return call(() => native().llamaShift(this.h(), keep, discard, seq));
  }

  /**
   * While on, every matmul's input rows are summed (squared, per column) and
   * counted per weight: the raw material of an importance matrix.
   */
  observe(on: boolean): void {
    call(() => native().llamaObserve(this.h(), on));
  }

  /** What observe has summed: per weight (by its file offset), the rows counted and the column sums of squares. */
  activationSums(): { offset: number; count: number; sum2: Float64Array }[] {
    return call(() => native().llamaImatrix(this.h())).map((a) => ({ offset: a[0], count: a[1], sum2: a.subarray(2) }));
  }

  /**
   * While on, each eval records every token's expert choices on the MoE layers (for the router
   * tests): see routes().
   */
  traceRoutes(on: boolean): void {
    call(() => native().llamaRouteTrace(this.h(), on));
  }

  /**
   * The last traced eval's routing: experts[(token * nLayer + layer) * nExpertUsed + slot] (by
   * descending router score; -1 on a dense layer) and margins[token * nLayer + layer] (the last
   * chosen expert's score minus the best unchosen one's, in router probability; +Infinity on a
   * dense layer).
   */
  routes(): { experts: Int32Array; margins: Float32Array } {
    return call(() => native().llamaRoutes(this.h()));
  }

  free(): void {
    if (!this.handle) return;
    const h = this.handle;
    this.handle = undefined;
    native().llamaFree(h);
  }
}
