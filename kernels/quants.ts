/**
 * The GGUF tensor formats: dequantize, reference quantize, dot products and
 * matvec over views of caller-owned memory (inputs are never copied).
 */
import { KilnError } from '../common/errors.js';
import { variantIndex, type Variant } from './cpu.js';
import { call, native } from './native.js';

/** ggml type ids as stored in GGUF tensor infos (DESIGN.md section 4). */
export const GGML_TYPE = {
  F32: 0,
  F16: 1,
  Q4_0: 2,
  Q4_1: 3,
  Q5_0: 6,
  Q5_1: 7,
  Q8_0: 8,
  Q8_1: 9,
  Q2_K: 10,
  Q3_K: 11,
  Q4_K: 12,
  Q5_K: 13,
  Q6_K: 14,
  Q8_K: 15,
  IQ2_XXS: 16,
  IQ2_XS: 17,
  IQ3_XXS: 18,
  IQ1_S: 19,
  IQ4_NL: 20,
  IQ3_S: 21,
  IQ2_S: 22,
  IQ4_XS: 23,
  IQ1_M: 29,
  BF16: 30,
  TQ1_0: 34,
  TQ2_0: 35,
  MXFP4: 39,
} as const;

export type QuantType = keyof typeof GGML_TYPE;

export interface TypeInfo {
  id: number;
  name: QuantType;
  /** Values per block. */
  blockSize: number;
  /** Bytes per block. */
  typeSize: number;
  /** What the other operand of a dot product is quantized to (F32: not quantized). */
  vecDotType: QuantType;
  /** False for the activation-only types Q8_1 and Q8_K. */
  hasVecDot: boolean;
  /** Whether kiln has a reference quantizer for it (the IQ, TQ and MXFP4 types are read-only here). */
  hasQuantize: boolean;
}

let table: Map<number, TypeInfo> | undefined;

function types(): Map<number, TypeInfo> {
  if (table !== undefined) return table;
  const rows = call(() => native().typeTable());
  const byId = new Map(rows.map((r) => [r.id, r]));
  table = new Map(
    rows.map((r) => [
      r.id,
      { ...r, name: r.name as QuantType, vecDotType: (byId.get(r.vecDotType)?.name ?? 'F32') as QuantType } satisfies TypeInfo,
    ]),
  );
  return table;
}

/** The type behind a name or ggml id; throws E_NATIVE for anything unknown. */
export function typeOf(type: QuantType | number): TypeInfo {
  const id = typeof type === 'number' ? type : GGML_TYPE[type];
  const info = Number.isInteger(id) ? types().get(id) : undefined;
  if (info === undefined) throw new KilnError('E_NATIVE', `unknown tensor type ${String(type)}`);
  return info;
}

export function typeInfo(type: QuantType | number): TypeInfo {
  return { ...typeOf(type) };
}

/** Bytes of a row of n values; n must be a multiple of the block size. */
export function rowSize(type: QuantType | number, n: number): number {
  const t = typeOf(type);
  checkCount('n', n);
  checkBlocks(t, 'n', n);
  return (n / t.blockSize) * t.typeSize;
}

// Kept well inside both 2^53 and the binding's own limit.
const MAX_ELEMS = 2 ** 40;

function checkCount(what: string, n: number): void {
  if (!Number.isSafeInteger(n) || n < 0 || n > MAX_ELEMS) {
    throw new KilnError('E_NATIVE', `${what} must be an integer in [0, 2^40]; got ${n}`);
  }
}

function checkBlocks(t: TypeInfo, what: string, n: number): void {
  if (n % t.blockSize !== 0) {
    throw new KilnError('E_NATIVE', `${what} (${n}) is not a multiple of the ${t.name} block size ${t.blockSize}`);
  }
}

function checkView(what: string, v: unknown, ctor: typeof Uint8Array | typeof Float32Array, need: number): void {
  if (!(v instanceof ctor)) throw new KilnError('E_NATIVE', `${what} must be a ${ctor.name}`);
  if (v.length < need) throw new KilnError('E_NATIVE', `${what} holds ${v.length} elements, ${need} needed`);
}

function dotType(type: QuantType | number): TypeInfo {
  const t = typeOf(type);
  if (!t.hasVecDot) throw new KilnError('E_NATIVE', `${t.name} is an activation format: it has no dot product`);
  return t;
}

/** The n values of a row (or rows laid end to end) as float32. */
export function dequantize(type: QuantType | number, src: Uint8Array, n: number, out?: Float32Array): Float32Array {
  const t = typeOf(type);
  const bytes = rowSize(t.id, n);
  checkView('src', src, Uint8Array, bytes);
  const dst = out ?? new Float32Array(n);
  checkView('out', dst, Float32Array, n);
  call(() => native().dequantize(t.id, src, n, dst));
  return dst;
}

/**
 * Quantizes nrows rows of ncols values with the deterministic reference
 * quantizer (the search is described in kernels/src/ref/fit.h and kfit.h).
 * `importance` (ncols values, an importance matrix entry: the mean squared
 * activation of each column) weights each column's error
 * (kernels/src/ref/weights.h).
 *
 * `plain`: the type's plain quantizer instead (kernels/src/ref/kplain.h: no
 * search over the stored codes, llama.cpp's algorithm without an imatrix);
 * Q3_K and Q4_K only (hasPlainQuantizer), and never with an importance.
 */
export function quantize(
  type: QuantType | number,
  src: Float32Array,
  nrows: number,
  ncols: number,
  out?: Uint8Array,
  importance?: Float32Array,
  plain = false,
): Uint8Array {
  const t = typeOf(type);
  if (!t.hasQuantize) throw new KilnError('E_NATIVE', `kiln has no quantizer for ${t.name} (it reads the type only)`);
  if (plain && !hasPlainQuantizer(t.id)) throw new KilnError('E_NATIVE', `kiln has no plain quantizer for ${t.name}`);
  if (plain && importance !== undefined) throw new KilnError('E_NATIVE', 'a plain quantizer takes no importance');
  checkCount('nrows', nrows);
  const rowBytes = rowSize(t.id, ncols);
  if (nrows * ncols > MAX_ELEMS) throw new KilnError('E_NATIVE', 'nrows * ncols is too large');
  checkView('src', src, Float32Array, nrows * ncols);
  const dst = out ?? new Uint8Array(rowBytes * nrows);
  checkView('out', dst, Uint8Array, rowBytes * nrows);
  if (importance !== undefined) checkView('importance', importance, Float32Array, ncols);
  call(() => native().quantize(t.id, src, nrows, ncols, dst, importance ?? null, plain));
  return dst;
}

/** Types with a plain quantizer (quantize's `plain`): Q3_K (11) and Q4_K (12). */
export function hasPlainQuantizer(type: number): boolean {
  return type === 11 || type === 12;
}

/**
 * A row quantized by a variant's activation quantizer, the one matvec uses for
 * this type's vecDotType. Every variant must give the reference's bytes.
 */
export function quantizeActivations(type: QuantType | number, src: Float32Array, n: number, variant?: Variant): Uint8Array {
  const t = typeOf(type);
  const bytes = rowSize(t.id, n);
  checkView('src', src, Float32Array, n);
  const dst = new Uint8Array(bytes);
  const v = variantIndex(variant);
  call(() => native().quantizeActivations(t.id, src, n, dst, v));
  return dst;
}

/**
 * Dot product of one quantized weight row with float activations; the
 * activations are first quantized to the type's vecDotType (as in matvec).
 */
export function vecDot(type: QuantType | number, row: Uint8Array, act: Float32Array, n: number, variant?: Variant): number {
  const t = dotType(type);
  checkView('row', row, Uint8Array, rowSize(t.id, n));
  checkBlocks(typeOf(t.vecDotType), 'n', n);
  checkView('act', act, Float32Array, n);
  const v = variantIndex(variant);
  return call(() => native().vecDot(t.id, row, act, n, v));
}

/** out[r] = dot(weights row r, x) for r < rows. Returns out. */
export function matvec(
  type: QuantType | number,
  weights: Uint8Array,
  rows: number,
  cols: number,
  x: Float32Array,
  out: Float32Array,
  variant?: Variant,
): Float32Array {
  const t = dotType(type);
  checkCount('rows', rows);
  const rowBytes = rowSize(t.id, cols);
  checkBlocks(typeOf(t.vecDotType), 'cols', cols);
  if (rows * cols > MAX_ELEMS) throw new KilnError('E_NATIVE', 'rows * cols is too large');
  checkView('weights', weights, Uint8Array, rowBytes * rows);
  checkView('x', x, Float32Array, cols);
  checkView('out', out, Float32Array, rows);
  const v = variantIndex(variant);
  call(() => native().matvec(t.id, weights, rows, cols, x, out, v));
  return out;
}

/**
 * out[t * rows + r] = dot(weights row r, x row t) for n activation rows of
 * cols values (a prompt batch), through the tiled kernels: each result equals
 * vecDot of that pair bit for bit. Returns out.
 */
export function matmul(
  type: QuantType | number,
  weights: Uint8Array,
  rows: number,
  cols: number,
  x: Float32Array,
  n: number,
  out: Float32Array,
  variant?: Variant,
): Float32Array {
  const t = dotType(type);
  checkCount('rows', rows);
  checkCount('n', n);
  if (n > 2 ** 31 - 1) throw new KilnError('E_NATIVE', 'n is too large');
  const rowBytes = rowSize(t.id, cols);
  checkBlocks(typeOf(t.vecDotType), 'cols', cols);
  if (rows * cols > MAX_ELEMS || n * cols > MAX_ELEMS || n * rows > MAX_ELEMS) throw new KilnError('E_NATIVE', 'matrix is too large');
  checkView('weights', weights, Uint8Array, rowBytes * rows);
  checkView('x', x, Float32Array, n * cols);
  checkView('out', out, Float32Array, n * rows);
  const v = variantIndex(variant);
  call(() => native().matmul(t.id, weights, rows, cols, x, n, out, v));
  return out;
}
