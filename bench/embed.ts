/**
 * Embedding throughput, kiln against llama.cpp (node-llama-cpp 3.21.1,
 * prebuilt, CPU) on the same file and thread count:
 *
 *     npm run build && node dist/bench/embed.js [--reps 3] [--threads 1,2] [--inputs 16] [--tokens 128] [--type f16]
 *
 * The model is a random-weight bert-base (768 wide, 12 layers, 12 heads,
 * FFN 3072; bench/arch-specs.ts BERT_BASE) with the bge WordPiece vocabulary
 * from llama.cpp's source, mean pooling, written once by kiln's writer in F32
 * and quantized by kiln to --type (F16 as Ollama ships most embedding
 * models), cached under $KILN_BENCH_DIR.
 *
 * Each measurement runs in a fresh child process, alternating kiln and
 * llama.cpp, --reps times; the table gives medians and the ratio's spread.
 * Both embed the same --inputs inputs of --tokens token ids each ([CLS] …
 * [SEP]), one input per call as an application would: kiln's
 * `EmbeddingModel.embedTokens` and node-llama-cpp's
 * `LlamaEmbeddingContext.getEmbeddingFor`, after one warm-up input.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { EmbeddingModel } from '../engine/model/embedding.js';
import { parseMix } from '../engine/quantize/policy.js';
import { quantizeFile } from '../engine/quantize/quantize.js';
import { setThreads } from '../kernels/cpu.js';
import { llamaSource } from '../test/helpers/llama-src.js';
import { BERT_BASE, encoderSpec } from './arch-specs.js';
import { benchDir } from './models.js';
import { vocabSize, writeRandomModel } from './random-model.js';

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && i + 1 < process.argv.length ? process.argv[i + 1] : def;
}

const median = (xs: number[]): number => {
  const s = xs.slice().sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/** Inputs of word-piece ids (no special tokens inside), wrapped in [CLS] … [SEP]. */
function inputs(count: number, tokens: number): number[][] {
  let s = 12345;
  const next = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0), s);
  return Array.from({ length: count }, () => [101, ...Array.from({ length: tokens - 2 }, () => 1000 + (next() % 29000)), 102]);
}

async function model(type: string): Promise<string> {
  const dir = benchDir();
  const f32 = join(dir, 'random-bert-base-f32.gguf');
  if (!existsSync(f32)) {
    const vocabFrom = join(llamaSource(), 'models', 'ggml-vocab-bert-bge.gguf');
    await writeRandomModel(f32, encoderSpec('bert', BERT_BASE, await vocabSize(vocabFrom), { pooling: 1, vocabFrom }));
  }
  if (type === 'f32') return f32;
  const out = join(dir, `random-bert-base-${type}.gguf`);
  if (!existsSync(out)) {
    await quantizeFile(f32, `${out}.partial`, parseMix(type));
    renameSync(`${out}.partial`, out);
  }
  return out;
}

async function runKiln(path: string, threads: number, xs: number[][]): Promise<number> {
  setThreads(threads);
  const m = await EmbeddingModel.load(path);
  try {
    m.embedTokens(xs[0]);
    const t0 = performance.now();
    for (const x of xs) m.embedTokens(x);
    return (xs.length * xs[0].length) / ((performance.now() - t0) / 1000);
  } finally {
    m.close();
  }
}

async function runLlama(path: string, threads: number, xs: number[][]): Promise<number> {
  const { getLlama } = await import('node-llama-cpp');
  const llama = await getLlama({ gpu: false, build: 'never', logLevel: 'error' as never, maxThreads: threads });
  const m = await llama.loadModel({ modelPath: path });
  const ctx = await m.createEmbeddingContext({ contextSize: xs[0].length + 16, batchSize: xs[0].length + 16, threads });
  try {
    await ctx.getEmbeddingFor(xs[0] as never);
    const t0 = performance.now();
    for (const x of xs) await ctx.getEmbeddingFor(x as never);
    return (xs.length * xs[0].length) / ((performance.now() - t0) / 1000);
  } finally {
    await ctx.dispose();
    await m.dispose();
  }
}

async function child(): Promise<void> {
  const xs = inputs(Number(arg('inputs', '16')), Number(arg('tokens', '128')));
  const threads = Number(arg('threads', '1'));
  const path = arg('model', '');
  const tokS = arg('engine', 'kiln') === 'kiln' ? await runKiln(path, threads, xs) : await runLlama(path, threads, xs);
  process.stdout.write(`RESULT ${JSON.stringify({ tokS })}\n`);
}

async function main(): Promise<void> {
  if (process.argv.includes('--child')) return child();
  const reps = Number(arg('reps', '3'));
  const threadCounts = arg('threads', '1,2').split(',').map(Number);
  const type = arg('type', 'f16');
  const path = await model(type);
  const self = fileURLToPath(import.meta.url);
  const run = (engine: string, t: number): number => {
    const out = execFileSync(
      process.execPath,
      [self, '--child', '--engine', engine, '--model', path, '--threads', String(t), '--inputs', arg('inputs', '16'), '--tokens', arg('tokens', '128')],
      { encoding: 'utf8', maxBuffer: 1 << 24 },
    );
    const line = out.split('\n').find((l) => l.startsWith('RESULT '));
    if (!line) throw new Error(`${engine} child printed no result:\n${out}`);
    return (JSON.parse(line.slice(7)) as { tokS: number }).tokS;
  };
  console.log(`bert-base ${type}, ${arg('inputs', '16')} inputs × ${arg('tokens', '128')} tokens, ${reps} alternating runs per cell, medians`);
  for (const t of threadCounts) {
    const k: number[] = [];
    const l: number[] = [];
    for (let r = 0; r < reps; r++) {
      k.push(run('kiln', t));
      l.push(run('llama', t));
    }
    const ratio = k.map((x, i) => x / l[i]);
    console.log(
      `threads ${t}: kiln ${median(k).toFixed(0)} tok/s, llama.cpp ${median(l).toFixed(0)} tok/s, ` +
        `kiln / llama.cpp ${median(ratio).toFixed(2)}x (${Math.min(...ratio).toFixed(2)}-${Math.max(...ratio).toFixed(2)})`,
    );
  }
}

await main();
