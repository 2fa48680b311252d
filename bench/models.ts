/**
 * Test models for the benchmarks, made with kiln's own GGUF writer and
 * quantizer and cached under $KILN_BENCH_DIR (default /tmp/kiln-bench):
 *
 * - random-weight decoders of about 1 B parameters of each architecture
 *   (bench/arch-specs.ts BENCH_SHAPES; the llama is 4096 wide, 32 query heads
 *   over 8 KV heads, FFN 14336 as in Llama-3-8B's layers, 5 layers), in F16,
 *   with kjv's tokenizer so they load as complete models anywhere;
 * - q4_K_M quantizations of them and of the kjv model.
 */
import { existsSync, mkdirSync, statSync, renameSync } from 'node:fs';
import { join } from 'node:path';

import { quantizeFile } from '../engine/quantize/quantize.js';
import { BENCH_SHAPES, decoderSpec } from './arch-specs.js';
import { KJV_F32_PATH, vocabSize, writeRandomModel } from './random-model.js';

export const KJV_F32 = KJV_F32_PATH;

export function benchDir(): string {
  const dir = process.env.KILN_BENCH_DIR ?? '/tmp/kiln-bench';
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** Writes (once) the random F16 decoder of an architecture at its bench shape and returns its path. */
export async function randomDecoderF16(arch = 'llama'): Promise<string> {
  const shape = BENCH_SHAPES[arch];
  if (!shape) throw new Error(`no bench shape for '${arch}' (have ${Object.keys(BENCH_SHAPES).join(', ')})`);
  const path = join(benchDir(), `random-${arch}-${shape.nEmbd}x${shape.nLayer}-f16.gguf`);
  if (existsSync(path)) return path;
  const spec = decoderSpec(arch, shape, await vocabSize(), { outputGain: 1 });
  return writeRandomModel(path, { ...spec, matrixType: 'F16' });
}

/** The 1.1 B random llama (F16). */
export function randomLlamaF16(): Promise<string> {
  return randomDecoderF16('llama');
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
