/**
 * Test models for the benchmarks, made with kiln's own GGUF writer and
 * quantizer and cached under $KILN_BENCH_DIR (default /tmp/kiln-bench):
 *
 * - a random-weight llama of 1.1 B parameters (4096 wide, 32 query heads
 *   over 8 KV heads, FFN 14336 as in Llama-3-8B's layers, 5 layers), in F16
 *   (2.2 GB), with kjv's tokenizer so it loads as a complete model anywhere;
 * - q4_K_M quantizations of it and of the kjv model.
 */
import { existsSync, mkdirSync, renameSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { readGGUFFile } from '../engine/gguf/reader.js';
import { gv, type GGUFValue } from '../engine/gguf/types.js';
import { writeGGUF, type GGUFWriteTensor } from '../engine/gguf/writer.js';
import { quantizeFile } from '../engine/quantize/quantize.js';
import { quantize } from '../kernels/quants.js';

export const KJV_F32 = fileURLToPath(new URL('../models/kjv/kjv-f32.gguf', import.meta.url));

export function benchDir(): string {
  const dir = process.env.KILN_BENCH_DIR ?? '/tmp/kiln-bench';
  mkdirSync(dir, { recursive: true });
  return dir;
}

export interface RandomLlamaShape {
  nEmbd: number;
  nHead: number;
  nHeadKv: number;
  nFf: number;
  nLayer: number;
  nCtx: number;
}

export const LLAMA_1B: RandomLlamaShape = { nEmbd: 4096, nHead: 32, nHeadKv: 8, nFf: 14336, nLayer: 5, nCtx: 4096 };

export function paramCount(s: RandomLlamaShape, nVocab: number): number {
  const kv = (s.nEmbd / s.nHead) * s.nHeadKv;
  const layer = s.nEmbd * (2 * s.nEmbd + 2 * kv) + 3 * s.nEmbd * s.nFf + 2 * s.nEmbd;
  return s.nLayer * layer + 2 * nVocab * s.nEmbd + s.nEmbd;
}

/** xorshift32 uniforms with standard deviation sigma, as F16 rows (converted natively). */
function* randomF16(rows: number, cols: number, seed: number, sigma: number): Generator<Uint8Array> {
  let s = seed >>> 0 || 1;
  const a = sigma * Math.sqrt(3) * 2 / 4294967296;
  const rowsPerChunk = Math.max(1, Math.floor((1 << 22) / cols));
  for (let r = 0; r < rows; r += rowsPerChunk) {
    const n = Math.min(rowsPerChunk, rows - r);
    const f = new Float32Array(n * cols);
    for (let i = 0; i < f.length; i++) {
      s ^= s << 13;
      s ^= s >>> 17;
      s ^= s << 5;
      f[i] = ((s >>> 0) - 2147483648) * a;
    }
    yield quantize('F16', f, n, cols);
  }
}

function ones(n: number): Uint8Array {
  return new Uint8Array(new Float32Array(n).fill(1).buffer);
}

/** Writes (once) the random F16 llama and returns its path. */
export async function randomLlamaF16(shape: RandomLlamaShape = LLAMA_1B): Promise<string> {
  const path = join(benchDir(), `random-llama-${shape.nEmbd}x${shape.nLayer}-f16.gguf`);
  if (existsSync(path)) return path;
  const kjv = await readGGUFFile(KJV_F32);
  const kv = new Map<string, GGUFValue>();
  kv.set('general.architecture', gv.str('llama'));
  kv.set('general.name', gv.str('random-llama'));
  kv.set('general.file_type', gv.u32(1));
  kv.set('llama.context_length', gv.u32(shape.nCtx));
  kv.set('llama.embedding_length', gv.u32(shape.nEmbd));
  kv.set('llama.block_count', gv.u32(shape.nLayer));
  kv.set('llama.feed_forward_length', gv.u32(shape.nFf));
  kv.set('llama.attention.head_count', gv.u32(shape.nHead));
  kv.set('llama.attention.head_count_kv', gv.u32(shape.nHeadKv));
  kv.set('llama.rope.freq_base', gv.f32(500000));
  kv.set('llama.attention.layer_norm_rms_epsilon', gv.f32(1e-5));
  kv.set('llama.rope.dimension_count', gv.u32(shape.nEmbd / shape.nHead));
  for (const [k, v] of kjv.kv) if (k.startsWith('tokenizer.')) kv.set(k, v);
  const nVocab = (kjv.kv.get('tokenizer.ggml.tokens')!.value as string[]).length;
  kv.set('llama.vocab_size', gv.u32(nVocab));
  const d = shape.nEmbd;
  const kvDim = (d / shape.nHead) * shape.nHeadKv;
  let seed = 1;
  const mat = (name: string, cols: number, rows: number): GGUFWriteTensor => {
    const sd = seed++;
    return { name, dims: [cols, rows], type: 1, data: () => randomF16(rows, cols, sd, 0.02) };
  };
  const norm = (name: string): GGUFWriteTensor => ({ name, dims: [d], type: 0, data: ones(d) });
  const tensors: GGUFWriteTensor[] = [mat('token_embd.weight', d, nVocab)];
  for (let l = 0; l < shape.nLayer; l++) {
    const b = `blk.${l}.`;
    tensors.push(
      norm(`${b}attn_norm.weight`),
      mat(`${b}attn_q.weight`, d, d),
      mat(`${b}attn_k.weight`, d, kvDim),
      mat(`${b}attn_v.weight`, d, kvDim),
      mat(`${b}attn_output.weight`, d, d),
      norm(`${b}ffn_norm.weight`),
      mat(`${b}ffn_gate.weight`, d, shape.nFf),
      mat(`${b}ffn_up.weight`, d, shape.nFf),
      mat(`${b}ffn_down.weight`, shape.nFf, d),
    );
  }
  tensors.push(norm('output_norm.weight'), mat('output.weight', d, nVocab));
  const tmp = `${path}.partial`;
  await writeGGUF(tmp, { kv, tensors });
  renameSync(tmp, path);
  return path;
}

/** q4_K_M of a float GGUF, made once with kiln's quantizer. */
export async function q4KM(src: string, name: string): Promise<string> {
  const path = join(benchDir(), `${name}-q4_K_M.gguf`);
  if (existsSync(path) && statSync(path).mtimeMs >= statSync(src).mtimeMs) return path;
  const tmp = `${path}.partial`;
  await quantizeFile(src, tmp, 'q4_K_M');
  renameSync(tmp, path);
  return path;
}
