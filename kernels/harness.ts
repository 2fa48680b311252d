/**
 * Shared by the kernel tests and bench/: deterministic test data, the error
 * measure, the named error thresholds, and a perf mode for matvec.
 */
import { supportedVariants, type Variant } from './cpu.js';
import { native } from './native.js';
import { matvec, quantize, rowSize, typeInfo, type QuantType } from './quants.js';

/** mulberry32: a small seeded PRNG, so every run sees the same data. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** n samples of N(0, sigma²) (Box–Muller). */
export function gaussian(n: number, seed: number, sigma = 1): Float32Array {
  const r = rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    const u = Math.max(r(), 1e-12);
    const v = r();
    const m = sigma * Math.sqrt(-2 * Math.log(u));
    out[i] = m * Math.cos(2 * Math.PI * v);
    if (i + 1 < n) out[i + 1] = m * Math.sin(2 * Math.PI * v);
  }
  return out;
}

/** Normalized mean squared error: sum (x - y)^2 / sum x^2. */
export function nmse(x: ArrayLike<number>, y: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < x.length; i++) {
    const e = x[i] - y[i];
    num += e * e;
    den += x[i] * x[i];
  }
  return den === 0 ? (num === 0 ? 0 : Infinity) : num / den;
}

/**
 * Round-trip error of llama.cpp's reference quantizers (quantize_row_*_ref in
 * the libggml-base.so that node-llama-cpp ships) on Gaussian data, measured by
 * kernels/tools/ggml-oracle.cpp. kiln's reference quantizers must not do worse:
 * the thresholds are these values plus 2% for sampling noise (Q8_0 and Q8_K
 * use the same round-to-nearest rule as llama.cpp, so they tie).
 */
export const GGML_REF_NMSE: Partial<Record<QuantType, number>> = {
  Q4_0: 7.382e-3,
  Q4_1: 6.106e-3,
  Q5_0: 1.82e-3,
  Q5_1: 1.437e-3,
  Q8_0: 2.868e-5,
  Q2_K: 8.862e-2,
  Q3_K: 2.277e-2,
  Q4_K: 5.095e-3,
  Q5_K: 1.307e-3,
  Q6_K: 3.172e-4,
  Q8_K: 4.869e-5,
};

/** Round-trip thresholds on N(0, 1) data, by type (the types kiln quantizes). */
export const NMSE_THRESHOLD: Partial<Record<QuantType, number>> = {
  F32: 0,
  // binary16 keeps 11 significant bits (rounding error <= 2^-12 relative);
  // measured 4.3e-8 on N(0, 0.02^2)
  F16: 1e-7,
  // bfloat16 keeps 8 (<= 2^-9 relative); measured 2.8e-6
  BF16: 4e-6,
  Q4_0: GGML_REF_NMSE.Q4_0! * 1.02,
  Q4_1: GGML_REF_NMSE.Q4_1! * 1.02,
  Q5_0: GGML_REF_NMSE.Q5_0! * 1.02,
  Q5_1: GGML_REF_NMSE.Q5_1! * 1.02,
  Q8_0: GGML_REF_NMSE.Q8_0! * 1.02,
  // Q8_1 shares Q8_0's codes and scale
  Q8_1: GGML_REF_NMSE.Q8_0! * 1.02,
  Q2_K: GGML_REF_NMSE.Q2_K! * 1.02,
  Q3_K: GGML_REF_NMSE.Q3_K! * 1.02,
  // Q4_K weights each value's error by |x| (kernels/src/ref/weights.h): that
  // costs plain squared error (measured 1.029x llama.cpp's) and buys KL
  // divergence on a real model, the measure that counts (bench/quant-quality.ts)
  Q4_K: GGML_REF_NMSE.Q4_K! * 1.04,
  Q5_K: GGML_REF_NMSE.Q5_K! * 1.02,
  Q6_K: GGML_REF_NMSE.Q6_K! * 1.02,
  Q8_K: GGML_REF_NMSE.Q8_K! * 1.02,
  // IQ4_NL/IQ4_XS weight each value's error by a function of |x| (measured
  // 5.48e-3 / 5.72e-3); that they beat llama.cpp's quantizer on the same rows
  // is checked in iq.test.ts against its golden blocks
  IQ4_NL: 5.7e-3,
  IQ4_XS: 6.0e-3,
  // the lattice types weight the error by sqrt(sigma2 + x^2) without an
  // imatrix (measured 3.23e-2, 1.69e-2, 1.09e-1, 8.36e-2, 5.87e-2, 2.07e-1 on
  // Gaussian rows); with an importance they beat llama.cpp's blocks on the
  // same rows (iq.test.ts)
  IQ3_XXS: 3.3e-2,
  IQ3_S: 1.75e-2,
  IQ2_XXS: 1.1e-1,
  IQ2_XS: 8.6e-2,
  IQ2_S: 6.0e-2,
  IQ1_S: 2.1e-1,
};

/**
 * A dot product's allowed difference from the float64 dot of the dequantized
 * operands, relative to sum |w_i a_i|: the kernels sum exact integers per block
 * and round only when scaling and adding blocks in float32.
 */
export const DOT_REL_TOL = 2e-6;

/** Variants that differ from the reference only in summation order must agree this closely. */
export const VARIANT_REL_TOL = 2e-6;

/**
 * Where each read-only type (no kiln quantizer) keeps its block scale, so that
 * random bytes can be made into well-scaled blocks: every bit pattern of these
 * formats is a valid block, and a fixed scale keeps the values finite.
 */
const SCALE_FIELDS: Partial<Record<QuantType, (b: Uint8Array) => void>> = {
  IQ2_XXS: (b) => b.set([0x00, 0x20], 0), // binary16 2^-7
  IQ2_XS: (b) => b.set([0x00, 0x20], 0),
  IQ2_S: (b) => b.set([0x00, 0x20], 0),
  IQ3_XXS: (b) => b.set([0x00, 0x20], 0),
  IQ3_S: (b) => b.set([0x00, 0x20], 0),
  IQ1_S: (b) => b.set([0x00, 0x20], 0),
  IQ4_NL: (b) => b.set([0x00, 0x20], 0),
  IQ4_XS: (b) => b.set([0x00, 0x20], 0),
  // IQ1_M's d is the top nibbles of its four scale words (bytes 48..55)
  IQ1_M: (b) => {
    for (const o of [49, 51, 53]) b[o] &= 0x0f;
    b[55] = (b[55] & 0x0f) | 0x20;
  },
  TQ1_0: (b) => b.set([0x00, 0x20], 52),
  TQ2_0: (b) => b.set([0x00, 0x20], 64),
  MXFP4: (b) => (b[0] = 120 + (b[0] & 7)), // 2^-8 .. 2^-1
};

/**
 * rows x cols of a type as bytes: kiln's reference quantizer on N(0, sigma²)
 * where it has one, else random blocks with a fixed scale (the read-only
 * formats: their speed and their kernels' agreement do not depend on how the
 * blocks were chosen).
 */
export function weightsFor(type: QuantType, rows: number, cols: number, seed: number, sigma = 0.02): Uint8Array {
  const t = typeInfo(type);
  if (t.hasQuantize) return quantize(type, gaussian(rows * cols, seed, sigma), rows, cols);
  const fix = SCALE_FIELDS[type];
  if (fix === undefined) throw new Error(`no block scale layout for ${type}`);
  const bytes = new Uint8Array(rowSize(type, cols) * rows);
  const r = rng(seed);
  for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(r() * 256);
  for (let o = 0; o < bytes.length; o += t.typeSize) fix(bytes.subarray(o, o + t.typeSize));
  return bytes;
}

export interface PerfResult {
  type: QuantType;
  variant: Variant;
  rows: number;
  cols: number;
  msPerCall: number;
  /** Weight bytes streamed per second. */
  gbPerSec: number;
}

/**
 * Perf mode: times matvec of a random rows x cols matrix for each supported
 * variant. Reports the fastest of `batches` batches of `iters` calls: on a
 * shared machine the mean mostly measures the neighbours.
 */
export function perfMatvec(type: QuantType, rows: number, cols: number, iters = 20, batches = 10): PerfResult[] {
  const w = weightsFor(type, rows, cols, 7, 1);
  const x = gaussian(cols, 8);
  const out = new Float32Array(rows);
  const bytes = rowSize(type, cols) * rows;
  return supportedVariants().map((variant) => {
    matvec(type, w, rows, cols, x, out, variant); // warm-up
    let ms = Infinity;
    for (let b = 0; b < batches; b++) {
      const t0 = performance.now();
      for (let i = 0; i < iters; i++) matvec(type, w, rows, cols, x, out, variant);
      ms = Math.min(ms, (performance.now() - t0) / iters);
    }
    return { type, variant, rows, cols, msPerCall: ms, gbPerSec: bytes / ms / 1e6 };
  });
}

/**
 * Streams every byte of buf once on the thread pool (a word sum, in native
 * code) and returns the seconds it took: the memory-bandwidth ceiling for
 * kernels that read the same bytes.
 */
export function timeMemRead(buf: Uint8Array): number {
  const n = native();
  const t0 = performance.now();
  n.memRead(buf);
  return (performance.now() - t0) / 1000;
}

/**
 * Weight matrices laid end to end in one buffer larger than the last-level
 * cache, so that matvec over them in turn reads from DRAM as a model's
 * forward pass does (a single matrix of a few MB would stay in L3).
 */
export class MatrixSet {
  readonly buf: Uint8Array;
  readonly copies: number;
  readonly bytes: number;

  constructor(
    readonly type: QuantType,
    readonly rows: number,
    readonly cols: number,
    totalBytes: number,
    seed = 7,
  ) {
    const one = weightsFor(type, rows, cols, seed);
    this.bytes = one.length;
    this.copies = Math.max(1, Math.floor(totalBytes / one.length));
    this.buf = new Uint8Array(this.copies * one.length);
    for (let i = 0; i < this.copies; i++) this.buf.set(one, i * one.length);
  }

  matrix(i: number): Uint8Array {
    return this.buf.subarray(i * this.bytes, (i + 1) * this.bytes);
  }

  /** Seconds for one matvec over every copy in turn (cold weights). */
  timeColdPass(x: Float32Array, out: Float32Array, variant?: Variant): number {
    const t0 = performance.now();
    for (let i = 0; i < this.copies; i++) matvec(this.type, this.matrix(i), this.rows, this.cols, x, out, variant);
    return (performance.now() - t0) / 1000;
  }

  /** Seconds per matvec over the first copy, repeated (weights in cache). */
  timeHot(x: Float32Array, out: Float32Array, iters: number, variant?: Variant): number {
    const m = this.matrix(0);
    matvec(this.type, m, this.rows, this.cols, x, out, variant);
    const t0 = performance.now();
    for (let i = 0; i < iters; i++) matvec(this.type, m, this.rows, this.cols, x, out, variant);
    return (performance.now() - t0) / 1000 / iters;
  }
}
