/**
 * llama.cpp's own quantizer, for comparisons (the benchmarks and the oracle
 * tests): node-llama-cpp ships no llama-quantize binary, but its prebuilt
 * libllama exports llama_model_quantize, the function that binary calls.
 * bench/tools/llama-quantize.c calls it with the binary's default
 * parameters; it is built once with the system C compiler against llama.h and
 * gguf.h from the llama.cpp source that node-llama-cpp ships as a git bundle.
 * A missing library or compiler is an error, never a skip.
 */
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { findPackageRoot } from '../kernels/native.js';
import { llamaSource } from '../test/helpers/llama-src.js';

const ROOT = findPackageRoot(fileURLToPath(new URL('.', import.meta.url)));
const LIBDIR = join(ROOT, 'node_modules/@node-llama-cpp/linux-x64/bins/linux-x64');
const LIB = 'libllama.v0.4.0.so';
const DRIVER = join(ROOT, 'bench/tools/llama-quantize.c');

/** Builds the driver once (again when the library or the driver's source changes) and returns its path. */
export function llamaQuantizer(): string {
  const lib = join(LIBDIR, LIB);
  if (!existsSync(lib)) throw new Error(`llama.cpp's quantizer is not available: ${lib} is missing`);
  const out = join(tmpdir(), `kiln-llama-quantize-${statSync(lib).size}-${Math.trunc(statSync(DRIVER).mtimeMs)}`);
  if (existsSync(out)) return out;
  const src = llamaSource();
  const tmp = `${out}.${process.pid}`;
  execFileSync('cc', ['-O2', `-I${join(src, 'include')}`, `-I${join(src, 'ggml/include')}`, DRIVER, '-o', tmp,
    `-L${LIBDIR}`, `-l:${LIB}`, '-l:libggml-base.so', `-Wl,-rpath,${LIBDIR}`], { stdio: 'pipe' });
  renameSync(tmp, out);
  return out;
}

export interface LlamaQuantizeOptions {
  threads?: number;
  /** Importance data per weight name, the values already divided by the counts (as llama-quantize passes them). */
  imatrix?: Map<string, Float32Array>;
  /** An importance matrix of ones for every matrix (the IQ2/IQ1 file types refuse to run without one). */
  unitImatrix?: boolean;
}

/** The driver's arguments; an imatrix is written beside the output in the driver's plain layout. */
function driverArgs(inPath: string, outPath: string, fileType: number, o: LlamaQuantizeOptions): { args: string[]; temp?: string } {
  const args = [inPath, outPath, String(fileType), String(o.threads ?? 1)];
  if (o.unitImatrix) return { args: [...args, 'unit-imatrix'] };
  if (!o.imatrix) return { args };
  const parts: Buffer[] = [];
  for (const [name, v] of o.imatrix) {
    const n = Buffer.from(name, 'utf8');
    const head = Buffer.alloc(4);
    head.writeUInt32LE(n.length);
    const count = Buffer.alloc(4);
    count.writeUInt32LE(v.length);
    parts.push(head, n, count, Buffer.from(v.buffer, v.byteOffset, v.byteLength));
  }
  const temp = `${outPath}.imatrix.bin`;
  writeFileSync(temp, Buffer.concat(parts));
  return { args: [...args, temp], temp };
}

const seconds = (out: string): number => Number(/seconds ([\d.]+)/.exec(out)?.[1]);

/** Quantizes IN to OUT with llama.cpp to a file type (llama_ftype); returns the seconds it took. */
export function llamaQuantize(inPath: string, outPath: string, fileType: number, opts: LlamaQuantizeOptions = {}): number {
  const { args, temp } = driverArgs(inPath, outPath, fileType, opts);
  try {
    return seconds(execFileSync(llamaQuantizer(), args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }));
  } finally {
    if (temp) rmSync(temp, { force: true });
  }
}

/** The same without blocking the event loop (the IQ searches take seconds; a blocked test worker misses vitest's RPC deadlines). */
export async function llamaQuantizeAsync(inPath: string, outPath: string, fileType: number, opts: LlamaQuantizeOptions = {}): Promise<number> {
  const { args, temp } = driverArgs(inPath, outPath, fileType, opts);
  try {
    return seconds((await promisify(execFile)(llamaQuantizer(), args, { maxBuffer: 1 << 24 })).stdout);
  } finally {
    if (temp) rmSync(temp, { force: true });
  }
}
