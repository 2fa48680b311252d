/**
 * Importance matrices in llama.cpp's imatrix GGUF format, so files move both
 * ways between kiln and llama.cpp:
 *   - general.type = "imatrix", imatrix.datasets (strings), imatrix.chunk_count
 *     and imatrix.chunk_size (u32);
 *   - per matmul weight W (e.g. blk.0.attn_q.weight), two F32 tensors:
 *     `W.in_sum2` [ncols, nmat], the sum over the calibration tokens of each
 *     input column's squared activation, and `W.counts` [1, nmat], how many
 *     tokens were summed (nmat is 1, or the number of experts).
 * The quantizers take the means in_sum2 / counts (`importance`).
 */
import { readFileSync } from 'node:fs';
import { KilnError } from '../../common/errors.js';
import { parseGGUF } from '../gguf/reader.js';
import { gv, type GGUFValue } from '../gguf/types.js';
import { writeGGUF } from '../gguf/writer.js';

export interface ImatrixEntry {
  /** ncols * nmat sums of squared activations. */
  sum2: Float64Array;
  /** nmat token counts. */
  counts: Float64Array;
  ncols: number;
}

export interface Imatrix {
  entries: Map<string, ImatrixEntry>;
  datasets: string[];
  chunkCount: number;
  chunkSize: number;
}

export function emptyImatrix(chunkSize: number, datasets: string[] = []): Imatrix {
  return { entries: new Map(), datasets, chunkCount: 0, chunkSize };
}

/** Adds rows of activations (n rows of ncols values, the input of weight `name`). */
export function accumulate(m: Imatrix, name: string, x: Float32Array, n: number, ncols: number): void {
  let e = m.entries.get(name);
  if (!e) {
    e = { sum2: new Float64Array(ncols), counts: new Float64Array(1), ncols };
    m.entries.set(name, e);
  }
  if (e.ncols !== ncols) throw new KilnError('E_BAD_REQUEST', `imatrix: ${name} has ${e.ncols} columns, got ${ncols}`);
  for (let r = 0; r < n; r++) {
    const o = r * ncols;
    for (let c = 0; c < ncols; c++) e.sum2[c] += x[o + c] * x[o + c];
  }
  e.counts[0] += n;
}

/** Per weight, the mean squared activation of each column (per expert), as the quantizers take it. */
export function importance(m: Imatrix): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  for (const [name, e] of m.entries) {
    const v = new Float32Array(e.sum2.length);
    for (let j = 0; j < e.counts.length; j++) {
      const c = e.counts[j];
      // a matrix (expert) that saw no token: every column equally important
      for (let i = 0; i < e.ncols; i++) v[j * e.ncols + i] = c > 0 ? e.sum2[j * e.ncols + i] / c : 1;
    }
    out.set(name, v);
  }
  return out;
}

export async function writeImatrix(path: string, m: Imatrix): Promise<void> {
  const kv = new Map<string, GGUFValue>([
    ['general.type', gv.str('imatrix')],
    ['imatrix.datasets', gv.array(8, m.datasets)],
    ['imatrix.chunk_count', gv.u32(m.chunkCount)],
    ['imatrix.chunk_size', gv.u32(m.chunkSize)],
  ]);
  const tensors = [...m.entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).flatMap(([name, e]) => {
    const nmat = e.counts.length;
    return [
      { name: `${name}.in_sum2`, dims: [e.ncols, nmat], type: 0, data: f32Bytes(Float32Array.from(e.sum2)) },
      { name: `${name}.counts`, dims: [1, nmat], type: 0, data: f32Bytes(Float32Array.from(e.counts)) },
    ];
  });
  await writeGGUF(path, { kv, tensors });
}

function f32Bytes(v: Float32Array): Uint8Array {
  return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
}

/** Reads an imatrix GGUF (kiln's or llama.cpp's). Throws E_BAD_REQUEST on anything else. */
export function readImatrix(path: string): Imatrix {
  let buf: Buffer;
  try {
    buf = readFileSync(path);
  } catch (e) {
    throw new KilnError('E_BAD_REQUEST', `cannot read the imatrix ${path}: ${(e as Error).message}`);
  }
  let file;
  try {
    file = parseGGUF(buf, { fileSize: buf.length });
  } catch (e) {
    throw new KilnError('E_BAD_REQUEST', `${path} is not a GGUF imatrix file: ${(e as Error).message}`);
  }
  const type = file.kv.get('general.type')?.value;
  if (type !== 'imatrix') throw new KilnError('E_BAD_REQUEST', `${path} is not an imatrix file (general.type is ${type === undefined ? 'missing' : JSON.stringify(type)})`);
  const u32 = (k: string) => {
    const v = file.kv.get(k)?.value;
    return typeof v === 'number' ? v : 0;
  };
  const ds = file.kv.get('imatrix.datasets')?.value;
  const m: Imatrix = {
    entries: new Map(),
    datasets: Array.isArray(ds) ? ds.map(String) : [],
    chunkCount: u32('imatrix.chunk_count'),
    chunkSize: u32('imatrix.chunk_size'),
  };
  const byName = new Map(file.tensors.map((t) => [t.name, t]));
  const f32 = (t: { type: number; absOffset: number; byteSize: number; name: string }) => {
    if (t.type !== 0) throw new KilnError('E_BAD_REQUEST', `${path}: ${t.name} is not F32`);
    if (t.absOffset + t.byteSize > buf.length) throw new KilnError('E_BAD_REQUEST', `${path}: ${t.name} runs past the end of the file`);
    const copy = new Uint8Array(buf.subarray(t.absOffset, t.absOffset + t.byteSize));
    return new Float32Array(copy.buffer, 0, t.byteSize / 4);
  };
  for (const t of file.tensors) {
    if (!t.name.endsWith('.in_sum2')) continue;
    const name = t.name.slice(0, -'.in_sum2'.length);
    const c = byName.get(`${name}.counts`);
    if (!c) throw new KilnError('E_BAD_REQUEST', `${path}: ${name} has in_sum2 but no counts`);
    const sums = f32(t);
    const counts = f32(c);
    const nmat = counts.length;
    if (nmat === 0 || sums.length % nmat !== 0) throw new KilnError('E_BAD_REQUEST', `${path}: ${name} has ${sums.length} sums for ${nmat} counts`);
    m.entries.set(name, { sum2: Float64Array.from(sums), counts: Float64Array.from(counts), ncols: sums.length / nmat });
  }
  if (m.entries.size === 0) throw new KilnError('E_BAD_REQUEST', `${path} holds no importance data`);
  return m;
}
