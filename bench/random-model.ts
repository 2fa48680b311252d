/**
 * Random-weight GGUF models of any architecture, written with kiln's own GGUF
 * writer: the oracle tests build small ones (a few layers, shapes unlike
 * kjv's) and the benchmarks large ones. The caller names the architecture's
 * metadata and tensors; this module fills them deterministically and borrows
 * a complete tokenizer from another GGUF (kjv's by default), so the file
 * loads as a whole model in kiln and in llama.cpp alike.
 *
 * Values: a matrix of `cols` columns gets xorshift32 uniforms with standard
 * deviation gain/√cols (so activations keep their scale through the layers
 * and the logits are peaked enough for greedy tests); a norm weight gets
 * 1 + uniform noise of ±`spread`; a bias gets small uniforms.
 */
import { existsSync, renameSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { readGGUFFile } from '../engine/gguf/reader.js';
import { gv, type GGUFValue } from '../engine/gguf/types.js';
import { writeGGUF, type GGUFWriteTensor } from '../engine/gguf/writer.js';
import { quantize } from '../kernels/quants.js';

/** kjv's F32 file in the repository, found from here whether this runs from bench/ (vitest) or dist/bench/ (node). */
function repoFile(rel: string): string {
  for (let dir = dirname(fileURLToPath(import.meta.url)); ; dir = dirname(dir)) {
    if (existsSync(join(dir, rel))) return join(dir, rel);
    if (dirname(dir) === dir) throw new Error(`cannot find ${rel} above ${fileURLToPath(import.meta.url)}`);
  }
}

export const KJV_F32_PATH = repoFile('models/kjv/kjv-f32.gguf');

/** How a tensor is filled. */
export type Fill =
  /** uniforms with standard deviation gain/√(row length) */
  | { kind: 'matrix'; gain?: number }
  /** 1 + uniform noise in ±spread: a norm weight */
  | { kind: 'norm'; spread?: number }
  /** uniforms with this standard deviation */
  | { kind: 'uniform'; sigma: number }
  /** every value the same */
  | { kind: 'const'; value: number }
  /** the given values */
  | { kind: 'values'; values: Float32Array };

export interface RandomTensor {
  name: string;
  /** ggml order: dims[0] is the row length. */
  dims: number[];
  fill: Fill;
  /** Storage: F32 (default for 1-D tensors) or F16 (default for matrices when the model is F16). */
  type?: 'F32' | 'F16';
}

export interface RandomModelSpec {
  arch: string;
  /** Metadata besides general.* and tokenizer.* (full key names); a tokenizer.* key here overrides the borrowed one. */
  kv: Record<string, GGUFValue>;
  tensors: RandomTensor[];
  /** A GGUF whose tokenizer.* metadata the model takes (default kjv's). */
  vocabFrom?: string;
  /** Matrix storage: F32 (default) or F16. */
  matrixType?: 'F32' | 'F16';
  seed?: number;
}

/** xorshift32 state → uniform in [-1, 1). */
function xorshift(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return ((s >>> 0) - 2147483648) / 2147483648;
  };
}

/** The values of one tensor, in rows of dims[0], produced in chunks of about 4M values. */
function* values(t: RandomTensor, seed: number): Generator<{ f: Float32Array; rows: number }> {
  const cols = t.dims[0];
  const rows = t.dims.slice(1).reduce((a, b) => a * b, 1);
  const rng = xorshift(seed);
  const rowsPerChunk = Math.max(1, Math.floor((1 << 22) / cols));
  for (let r = 0; r < rows; r += rowsPerChunk) {
    const n = Math.min(rowsPerChunk, rows - r);
    const f = new Float32Array(n * cols);
    const fill = t.fill;
    switch (fill.kind) {
      case 'matrix': {
        const a = ((fill.gain ?? 1) / Math.sqrt(cols)) * Math.sqrt(3);
        for (let i = 0; i < f.length; i++) f[i] = rng() * a;
        break;
      }
      case 'norm': {
        const a = fill.spread ?? 0.1;
        for (let i = 0; i < f.length; i++) f[i] = 1 + rng() * a;
        break;
      }
      case 'uniform': {
        const a = fill.sigma * Math.sqrt(3);
        for (let i = 0; i < f.length; i++) f[i] = rng() * a;
        break;
      }
      case 'const':
        f.fill(fill.value);
        break;
      case 'values':
        f.set(fill.values.subarray(r * cols, (r + n) * cols));
        break;
    }
    yield { f, rows: n };
  }
}

/** Tokenizer metadata copied from another GGUF, and its vocabulary size. */
export async function borrowedVocab(path: string = KJV_F32_PATH): Promise<{ kv: Map<string, GGUFValue>; nVocab: number }> {
  const src = await readGGUFFile(path);
  const kv = new Map<string, GGUFValue>();
  for (const [k, v] of src.kv) if (k.startsWith('tokenizer.')) kv.set(k, v);
  const tokens = src.kv.get('tokenizer.ggml.tokens');
  if (!tokens) throw new Error(`${path} has no tokenizer.ggml.tokens`);
  return { kv, nVocab: (tokens.value as unknown[]).length };
}

/** Writes the model (atomically: a .partial file renamed at the end). */
export async function writeRandomModel(path: string, spec: RandomModelSpec): Promise<string> {
  const vocab = await borrowedVocab(spec.vocabFrom);
  const kv = new Map<string, GGUFValue>();
  kv.set('general.architecture', gv.str(spec.arch));
  kv.set('general.name', gv.str(`random-${spec.arch}`)); // spec.kv may name it otherwise
  kv.set('general.file_type', gv.u32(spec.matrixType === 'F16' ? 1 : 0));
  for (const [k, v] of Object.entries(spec.kv)) kv.set(k, v);
  for (const [k, v] of vocab.kv) if (!(k in spec.kv)) kv.set(k, v); // spec.kv may override a tokenizer key (its pre-tokenizer)
  let seed = spec.seed ?? 1;
  const tensors: GGUFWriteTensor[] = spec.tensors.map((t) => {
    const type = t.type ?? (t.dims.length > 1 && spec.matrixType === 'F16' ? 'F16' : 'F32');
    const sd = seed++ * 2654435761;
    return {
      name: t.name,
      dims: t.dims,
      type: type === 'F16' ? 1 : 0,
      data: function* () {
        for (const { f, rows } of values(t, sd)) yield type === 'F16' ? quantize('F16', f, rows, t.dims[0]) : new Uint8Array(f.buffer);
      },
    };
  });
  const tmp = `${path}.partial`;
  await writeGGUF(tmp, { kv, tensors });
  renameSync(tmp, path);
  return path;
}

/** The vocabulary size a spec borrowing this GGUF's tokenizer must use for token_embd/output. */
export async function vocabSize(path: string = KJV_F32_PATH): Promise<number> {
  return (await borrowedVocab(path)).nVocab;
}
