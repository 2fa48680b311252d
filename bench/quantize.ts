/**
 * `kiln quantize` to q4_K_M of a 2.2 GB model (the random 1.1 B llama of
 * bench/models.ts in F16), against llama.cpp's own quantizer on the same file
 * and thread count (issue 3):
 *
 *     npm run build && node dist/bench/quantize.js [--reps 1] [--threads 2] [--mix q4_K_M]
 *
 * node-llama-cpp ships no llama-quantize binary, but its prebuilt libllama
 * exports llama_model_quantize, the function that binary calls: bench/tools/
 * llama-quantize.c calls it with the binary's default parameters, built here
 * with the system C compiler against llama.h from the llama.cpp source that
 * node-llama-cpp ships as a git bundle. Runs alternate kiln / llama.cpp; both
 * read the input from the page cache and write the output to it. The table
 * gives each run's wall time and seconds per GB of input, and checks that the
 * two outputs have the same tensor types.
 */
import { rmSync, statSync } from 'node:fs';
import { join } from 'node:path';

import { readGGUFFile } from '../engine/gguf/reader.js';
import { MIXES, parseMix } from '../engine/quantize/policy.js';
import { quantizeFile } from '../engine/quantize/quantize.js';
import { setThreads, threads as poolThreads } from '../kernels/cpu.js';
import { llamaQuantize } from './llama-quantizer.js';
import { benchDir, randomLlamaF16 } from './models.js';

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && i + 1 < process.argv.length ? process.argv[i + 1] : def;
}

async function tensorTypes(path: string): Promise<Map<string, number>> {
  const f = await readGGUFFile(path);
  return new Map(f.tensors.map((t) => [t.name, t.type]));
}

async function main(): Promise<void> {
  const reps = Number(arg('reps', '1'));
  const threadCounts = arg('threads', '2').split(',').map(Number);
  const mix = parseMix(arg('mix', 'q4_K_M'));
  const src = await randomLlamaF16();
  const gb = statSync(src).size / 1e9;
  const kilnOut = join(benchDir(), 'quantize-kiln.gguf');
  const llamaOut = join(benchDir(), 'quantize-llama.gguf');
  console.log(`${src}: ${gb.toFixed(2)} GB F16 -> ${mix}`);
  console.log('threads  engine      seconds   s/GB    output MB');
  const before = poolThreads();
  try {
    for (const t of threadCounts) {
      for (let r = 0; r < reps; r++) {
        setThreads(t);
        const k = await quantizeFile(src, kilnOut, mix);
        console.log(`${String(t).padStart(7)}  kiln      ${k.seconds.toFixed(1).padStart(9)}  ${(k.seconds / gb).toFixed(1).padStart(5)}  ${(k.outputBytes / 1e6).toFixed(0).padStart(11)}`);
        const s = llamaQuantize(src, llamaOut, MIXES[mix].fileType, { threads: t });
        console.log(`${String(t).padStart(7)}  llama.cpp ${s.toFixed(1).padStart(9)}  ${(s / gb).toFixed(1).padStart(5)}  ${(statSync(llamaOut).size / 1e6).toFixed(0).padStart(11)}   kiln / llama.cpp time ${(k.seconds / s).toFixed(2)}x`);
        if (r === 0) {
          const [a, b] = [await tensorTypes(kilnOut), await tensorTypes(llamaOut)];
          const differ = [...a].filter(([name, type]) => b.get(name) !== type).map(([name]) => name);
          console.log(differ.length === 0 && a.size === b.size ? `         same tensor types in both outputs (${a.size} tensors)` : `         tensor types differ: ${differ.slice(0, 5).join(', ')}`);
        }
      }
    }
  } finally {
    setThreads(before);
    rmSync(kilnOut, { force: true });
    rmSync(llamaOut, { force: true });
  }
}

await main();
