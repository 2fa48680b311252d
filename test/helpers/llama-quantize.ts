import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { existsSync, mkdirSync, renameSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { llamaSource } from './llama-src.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const LIBDIR = join(ROOT, 'node_modules/@node-llama-cpp/linux-x64/bins/linux-x64');
const LIB = 'libllama.v0.4.0.so';

/**
 * llama.cpp's own quantizer: bench/tools/llama-quantize.c (the call the
 * llama-quantize binary makes, default parameters, no imatrix) built once
 * against the libllama node-llama-cpp ships and llama.h from its source
 * bundle. Returns the driver's path; a missing library or compiler is an
 * error, never a skip.
 */
export function llamaQuantizer(): string {
  const src = llamaSource();
  const lib = join(LIBDIR, LIB);
  const out = join(tmpdir(), `kiln-llama-quantize-${statSync(lib).size}-${Math.trunc(statSync(join(ROOT, 'bench/tools/llama-quantize.c')).mtimeMs)}`);
  if (existsSync(out)) return out;
  mkdirSync(tmpdir(), { recursive: true });
  const tmp = `${out}.${process.pid}`;
  execFileSync('cc', ['-O2', `-I${join(src, 'include')}`, `-I${join(src, 'ggml/include')}`, join(ROOT, 'bench/tools/llama-quantize.c'), '-o', tmp,
    `-L${LIBDIR}`, `-l:${LIB}`, '-l:libggml-base.so', `-Wl,-rpath,${LIBDIR}`], { stdio: 'pipe' });
  renameSync(tmp, out);
  return out;
}

/**
 * Quantizes `input` to llama.cpp file type `ftype` (llama_ftype) with
 * llama.cpp's quantizer; `unitImatrix` passes an importance matrix of ones
 * (the IQ2/IQ1 file types refuse to run without one).
 */
export async function llamaQuantize(input: string, output: string, ftype: number, opts: { threads?: number; unitImatrix?: boolean } = {}): Promise<void> {
  const args = [input, output, String(ftype), String(opts.threads ?? 2), ...(opts.unitImatrix ? ['unit-imatrix'] : [])];
  // not execFileSync: the IQ searches take seconds, and a blocked worker misses vitest's RPC deadlines
  await promisify(execFile)(llamaQuantizer(), args, { maxBuffer: 1 << 24 });
}
