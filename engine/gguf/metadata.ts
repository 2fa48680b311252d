/**
 * What the daemon shows about a GGUF: the summary stored in a model's config
 * (family, parameter size, quantization level) and /api/show's model_info,
 * both shaped the way Ollama reports them.
 */
import type { GGUFFile } from './parser.js';
import { fileTypeName, ggmlTypeName, GGUFValueType as VT, tensorElementCount, type GGUFValue } from './types.js';

export interface ModelSummary {
  /** general.architecture, or "unknown" like Ollama when absent. */
  architecture: string;
  /** Sum of the element counts of all tensors (what Ollama reports as general.parameter_count). */
  parameterCount: number;
  contextLength?: number;
  embeddingLength?: number;
  blockCount?: number;
  /** For per-layer head counts (an array), the largest. */
  headCount?: number;
  /** File type name ("Q4_K_M"), else the predominant tensor type ("F16"), else "unknown". */
  fileType: string;
  quantizationVersion?: number;
}

/** A numeric KV as a number; arrays give their maximum; anything else undefined. */
export function kvNumber(file: GGUFFile, key: string): number | undefined {
  const v = file.kv.get(key);
  if (!v || v.type === VT.STRING || v.type === VT.BOOL) return undefined;
  if (v.type !== VT.ARRAY) return Number(v.value);
  if (v.itemType === VT.STRING || v.itemType === VT.BOOL || v.value.length === 0) return undefined;
  let max = -Infinity;
  for (const x of v.value as Iterable<number | bigint>) max = Math.max(max, Number(x));
  return max;
}

export function kvString(file: GGUFFile, key: string): string | undefined {
  const v = file.kv.get(key);
  return v?.type === VT.STRING ? v.value : undefined;
}

export function parameterCount(file: GGUFFile): number {
  let n = 0;
  for (const t of file.tensors) n += tensorElementCount(t.dims);
  return n;
}

function predominantTensorType(file: GGUFFile): string {
  const elements = new Map<number, number>();
  for (const t of file.tensors) elements.set(t.type, (elements.get(t.type) ?? 0) + tensorElementCount(t.dims));
  let best: number | undefined;
  for (const [type, n] of elements) if (best === undefined || n > elements.get(best)!) best = type;
  return best === undefined ? 'unknown' : ggmlTypeName(best);
}

export function summarizeModel(file: GGUFFile): ModelSummary {
  const architecture = kvString(file, 'general.architecture') ?? 'unknown';
  const ft = kvNumber(file, 'general.file_type');
  const a = (key: string) => kvNumber(file, `${architecture}.${key}`);
  return {
    architecture,
    parameterCount: parameterCount(file),
    contextLength: a('context_length'),
    embeddingLength: a('embedding_length'),
    blockCount: a('block_count'),
    headCount: a('attention.head_count'),
    fileType: (ft !== undefined ? fileTypeName(ft) : undefined) ?? predominantTensorType(file),
    quantizationVersion: kvNumber(file, 'general.quantization_version'),
  };
}

const UNITS: ReadonlyArray<[bigint, string]> = [
  [1_000_000_000_000n, 'T'], [1_000_000_000n, 'B'], [1_000_000n, 'M'], [1_000n, 'K'],
];

/**
 * Ollama's parameter_size: "5.5M", "8.0B", "494.0M"; no decimal when the count
 * is a whole number of units ("7B"), plain digits below 1000. Integer
 * arithmetic with ties to even matches Go's %.1f (5,250,000 → "5.2M").
 */
export function formatParameterCount(n: number | bigint): string {
  const count = BigInt(n);
  for (const [unit, suffix] of UNITS) {
    if (count < unit) continue;
    if (count % unit === 0n) return `${count / unit}${suffix}`;
    let tenths = (count * 10n) / unit;
    const twiceRest = 2n * (count * 10n - tenths * unit);
    if (twiceRest > unit || (twiceRest === unit && tenths % 2n === 1n)) tenths += 1n;
    return `${tenths / 10n}.${tenths % 10n}${suffix}`;
  }
  return count.toString();
}

/** The shortest decimal that reads back as the same float32, as Go prints a float32 (1e-05, not 9.99999974e-06). */
function f32(x: number): number {
  if (!Number.isFinite(x)) return x;
  for (let p = 1; p <= 9; p++) {
    const y = Number(x.toPrecision(p));
    if (Math.fround(y) === x) return y;
  }
  return x;
}

function jsonScalar(t: number, v: unknown): unknown {
  if (typeof v === 'bigint') return Number(v);
  return t === VT.F32 ? f32(v as number) : v;
}

function jsonValue(v: GGUFValue, verbose: boolean): unknown {
  if (v.type !== VT.ARRAY) return jsonScalar(v.type, v.value);
  // Ollama reads /api/show metadata collecting no array elements unless verbose: non-empty arrays become null.
  if (!verbose && v.value.length > 0) return null;
  return Array.from(v.value as ArrayLike<unknown>, (x) => jsonScalar(v.itemType, x));
}

/**
 * /api/show's model_info: every KV as JSON, keys sorted (Go marshals maps
 * sorted), general.parameter_count added, general.name and
 * tokenizer.chat_template left out, and arrays null unless verbose — all as
 * Ollama does.
 */
export function modelInfo(file: GGUFFile, verbose = false): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const entries = new Map<string, unknown>();
  for (const [k, v] of file.kv) {
    if (k === 'general.name' || k === 'tokenizer.chat_template') continue;
    entries.set(k, jsonValue(v, verbose));
  }
  entries.set('general.parameter_count', parameterCount(file));
  for (const k of [...entries.keys()].sort()) out[k] = entries.get(k);
  return out;
}
