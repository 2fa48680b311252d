/**
 * A one-layer cut of kjv-f32 (its first block, embeddings, output norm and
 * projection), for tests of the paths that move KV cache rows: small enough
 * that a context shift or a save/load is checked in milliseconds.
 */
import { readFileSync } from 'node:fs';
import { readGGUFFile } from '../../engine/gguf/reader.js';
import { gv, type GGUFValue } from '../../engine/gguf/types.js';
import { writeGGUF } from '../../engine/gguf/writer.js';
import { KJV_F32 } from './fixtures.js';

/** Writes kjv-f32 with only block 0 to `path`. */
export async function writeOneLayerKjv(path: string): Promise<void> {
  const file = await readGGUFFile(KJV_F32);
  const bytes = readFileSync(KJV_F32);
  const kv = new Map<string, GGUFValue>(file.kv);
  kv.set('llama.block_count', gv.u32(1));
  const tensors = file.tensors
    .filter((t) => !/^blk\.[1-9]\d*\./.test(t.name))
    .map((t) => ({ name: t.name, dims: t.dims, type: t.type, data: bytes.subarray(t.absOffset, t.absOffset + t.byteSize) }));
  await writeGGUF(path, { kv, tensors, alignment: file.alignment });
}

/** Largest absolute difference between two equally long vectors. */
export function maxDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}
