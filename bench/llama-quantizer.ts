/**
 * llama.cpp's own quantizer, for comparisons: node-llama-cpp ships no
 * llama-quantize binary, but its prebuilt libllama exports
 * llama_model_quantize, the function that binary calls. bench/tools/
 * llama-quantize.c calls it with the binary's default parameters; it is built
 * once with the system C compiler against llama.h from the llama.cpp source
 * that node-llama-cpp ships as a git bundle.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { findPackageRoot } from '../kernels/native.js';
import { benchDir } from './models.js';

const ROOT = findPackageRoot(fileURLToPath(new URL('.', import.meta.url)));
const LIBDIR = join(ROOT, 'node_modules/@node-llama-cpp/linux-x64/bins/linux-x64');
const BUNDLE = join(ROOT, 'node_modules/node-llama-cpp/llama/gitRelease.bundle');
const DRIVER = join(ROOT, 'bench/tools/llama-quantize.c');

/** Builds the llama.cpp quantizer driver once (again when its source changes); returns its path, or why it cannot. */
export function llamaQuantizer(): { path?: string; why?: string } {
  const out = join(benchDir(), `llama-quantize-${statSync(DRIVER).mtimeMs.toFixed(0)}`);
  if (existsSync(out)) return { path: out };
  const lib = join(LIBDIR, 'libllama.v0.4.0.so');
  if (!existsSync(lib)) return { why: `${lib} is missing` };
  const src = join(benchDir(), `llama-src-${statSync(BUNDLE).size}`);
  try {
    if (!existsSync(join(src, 'include', 'llama.h'))) {
      rmSync(src, { recursive: true, force: true });
      execFileSync('git', ['clone', '--quiet', '--no-checkout', BUNDLE, src], { stdio: 'pipe' });
      execFileSync('git', ['-C', src, 'checkout', '--quiet', 'HEAD', '--', 'include', 'ggml/include'], { stdio: 'pipe' });
    }
    execFileSync('cc', ['-O2', `-I${join(src, 'include')}`, `-I${join(src, 'ggml/include')}`, DRIVER, '-o', out,
      `-L${LIBDIR}`, '-l:libllama.v0.4.0.so', `-Wl,-rpath,${LIBDIR}`], { stdio: 'pipe' });
    return { path: out };
  } catch (e) {
    return { why: (e as Error).message.split('\n')[0] };
  }
}

/**
 * Quantizes IN to OUT with llama.cpp to a file type (llama_ftype), optionally
 * with importance data (per weight name, the values already divided by the
 * counts, as llama-quantize passes them). Returns the seconds it took.
 */
export function llamaQuantize(inPath: string, outPath: string, fileType: number, opts: { threads?: number; imatrix?: Map<string, Float32Array> } = {}): number {
  const q = llamaQuantizer();
  if (!q.path) throw new Error(`llama.cpp's quantizer is not available: ${q.why}`);
  const args = [inPath, outPath, String(fileType), String(opts.threads ?? 1)];
  if (opts.imatrix) {
    const parts: Buffer[] = [];
    for (const [name, v] of opts.imatrix) {
      const n = Buffer.from(name, 'utf8');
      const head = Buffer.alloc(4);
      head.writeUInt32LE(n.length);
      const count = Buffer.alloc(4);
      count.writeUInt32LE(v.length);
      parts.push(head, n, count, Buffer.from(v.buffer, v.byteOffset, v.byteLength));
    }
    const file = `${outPath}.imatrix.bin`;
    writeFileSync(file, Buffer.concat(parts));
    args.push(file);
  }
  try {
    const out = execFileSync(q.path, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    return Number(/seconds ([\d.]+)/.exec(out)?.[1]);
  } finally {
    if (opts.imatrix) rmSync(`${outPath}.imatrix.bin`, { force: true });
  }
}
