/**
 * The llama layer's non-matmul ops (kernels/src/ref/llama_ops.h) of one kernel
 * variant: attention over an f16/f32 KV cache, SiLU(gate) * up, RMSNorm. The
 * forward pass calls them natively; these wrappers exist so the kernel tests
 * can hold every variant against the scalar reference.
 */
import { KilnError } from '../common/errors.js';
import { variantIndex, type Variant } from './cpu.js';
import { call, native } from './native.js';

export interface KvCache {
  /** Cache rows as raw bytes: binary16 or f32 elements, `stride` elements per position. */
  k: Uint8Array;
  v: Uint8Array;
  stride: number;
  f16: boolean;
  /**
   * With an f16 cache: sum as llama.cpp's CPU flash attention does for batches
   * of fewer than 64 queries (q rounded to binary16, online softmax, values
   * accumulated in binary16), as the forward pass does there.
   */
  acc16?: boolean;
  /**
   * With an f16 cache: sum as llama.cpp does without flash attention (as
   * node-llama-cpp runs gemma2): q and the softmax weights rounded to
   * binary16, exact products summed.
   */
  unfused?: boolean;
}

function kvMode(kv: KvCache): number {
  return kv.f16 ? (kv.unfused ? 3 : kv.acc16 ? 2 : 1) : 0;
}

function checkInt(what: string, n: number, lo: number, hi: number): void {
  if (!Number.isInteger(n) || n < lo || n > hi) throw new KilnError('E_NATIVE', `${what} must be an integer in [${lo}, ${hi}]; got ${n}`);
}

/**
 * One query head over the first nKv positions: softmax(x_s) weighted sum of
 * v_s, x_s = scale * q . k_s, or softcap * tanh(x_s / softcap) when softcap
 * is not 0 (gemma2's attention logit soft-capping).
 */
export function attention(q: Float32Array, kv: KvCache, nKv: number, headDim: number, scale: number, variant?: Variant, softcap = 0): Float32Array {
  checkInt('headDim', headDim, 1, 4096);
  checkInt('nKv', nKv, 1, 1 << 24);
  checkInt('stride', kv.stride, headDim, 1 << 24);
  const need = ((nKv - 1) * kv.stride + headDim) * (kv.f16 ? 2 : 4);
  if (q.length < headDim || kv.k.length < need || kv.v.length < need) throw new KilnError('E_NATIVE', 'attention buffers are too small');
  const out = new Float32Array(headDim);
  call(() => native().attention(q, kv.k, kv.v, kv.stride, nKv, headDim, scale, kvMode(kv), out, variantIndex(variant), softcap));
  return out;
}

/**
 * Several queries against one KV head at once (a GQA group, a block of prompt
 * tokens): query j is q[j * headDim ..] and sees the first nKv[j] positions,
 * or with kv0 positions [kv0[j], nKv[j]) (a sliding window). Returns
 * nKv.length rows of headDim.
 */
export function attentionBatch(
  q: Float32Array,
  nKv: Int32Array,
  kv: KvCache,
  headDim: number,
  scale: number,
  variant?: Variant,
  opts: { softcap?: number; kv0?: Int32Array } = {},
): Float32Array {
  checkInt('headDim', headDim, 1, 4096);
  checkInt('queries', nKv.length, 1, 4096);
  checkInt('stride', kv.stride, headDim, 1 << 24);
  let nMax = 0;
  for (const n of nKv) {
    checkInt('nKv', n, 1, 1 << 24);
    nMax = Math.max(nMax, n);
  }
  const need = ((nMax - 1) * kv.stride + headDim) * (kv.f16 ? 2 : 4);
  if (q.length < nKv.length * headDim || kv.k.length < need || kv.v.length < need) throw new KilnError('E_NATIVE', 'attention buffers are too small');
  const out = new Float32Array(nKv.length * headDim);
  call(() => native().attentionBatch(q, nKv, kv.k, kv.v, kv.stride, headDim, scale, kvMode(kv), out, variantIndex(variant), opts.softcap ?? 0, opts.kv0 ?? null));
  return out;
}

/** silu(g) * u elementwise. */
export function siluMul(g: Float32Array, u: Float32Array, variant?: Variant): Float32Array {
  if (u.length !== g.length) throw new KilnError('E_NATIVE', 'g and u must have the same length');
  const out = new Float32Array(g.length);
  if (g.length) call(() => native().siluMul(g, u, out, variantIndex(variant)));
  return out;
}

/** x / sqrt(mean(x^2) + eps) * w. */
export function rmsnorm(x: Float32Array, w: Float32Array, eps: number, variant?: Variant): Float32Array {
  if (x.length === 0 || w.length < x.length) throw new KilnError('E_NATIVE', 'rmsnorm needs a non-empty x and a w as long');
  const out = new Float32Array(x.length);
  call(() => native().rmsnorm(x, w, eps, out, variantIndex(variant)));
  return out;
}
