/**
 * Token generation (tg128) and prompt processing (pp512), kiln against
 * llama.cpp as node-llama-cpp 3.21.1 ships it prebuilt, on the same GGUF files
 * and thread counts (issue 4, DESIGN §7):
 *
 *     npm run build && node dist/bench/generate.js [--reps 3] [--threads 1,2] [--models kjv,1b] [--pp 512] [--tg 128]
 *
 * Models (bench/models.ts, made once with kiln's own writer and quantizer):
 * kjv-f32 quantized to q4_K_M, and random-weight ~1 B decoders at q4_K_M:
 * `1b` (the llama: 4096 wide, GQA 4:1) and, by architecture name, `qwen3`,
 * `phi3`, `gemma2`, `gemma3`, and the ~2 B mixture of experts `qwen3moe` (8 experts, 2
 * active per token) (shapes in bench/arch-specs.ts BENCH_SHAPES).
 *
 * Each measurement runs in a fresh child process (so peak RSS is that engine's
 * alone), alternating kiln and llama.cpp, `--reps` times; the table gives
 * medians and the spread. Both engines are timed through their JavaScript
 * APIs as an application would call them: kiln's `model.native.eval` (sync,
 * logits copied out) and node-llama-cpp's
 * `sequence.evaluateWithoutGeneratingNewTokens` (async, no sampling).
 * pp: one batch of --pp tokens into an empty cache. tg: --tg single-token
 * evals at positions 0.. (as llama-bench's tg128), after a warm-up.
 *
 * tg is also given as a fraction of the memory-bandwidth limit: bytes of
 * weights read per token (every weight tensor except the embedding table, of
 * which one row is read; of a mixture of experts' expert tensors, only the
 * active experts' share) over a native read of a 768 MiB buffer with the same
 * thread count, measured in the kiln child right after its tg run. kjv's
 * weights (3.4 MB) stay in cache, so its figure is no bandwidth measure; only
 * the 1B model's means anything.
 *
 * llama.cpp's 2-thread token generation through node-llama-cpp is
 * pathological on this 2-core VM (kjv: ~90 tok/s against ~880 on one
 * thread, whatever the threads option), so 2-thread tg ratios overstate
 * kiln's lead; its 1-thread tg is its best here.
 */
import { execFileSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { kvNumber, kvString } from '../engine/gguf/metadata.js';
import { readGGUFFile } from '../engine/gguf/reader.js';
import { Model } from '../engine/model/model.js';
import { setThreads } from '../kernels/cpu.js';
import { timeMemRead } from '../kernels/harness.js';
import { BENCH_SHAPES } from './arch-specs.js';
import { KJV_F32, q4KM, randomDecoderF16 } from './models.js';

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && i + 1 < process.argv.length ? process.argv[i + 1] : def;
}

const median = (xs: number[]): number => {
  const s = xs.slice().sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

interface RunResult {
  ppTokS: number;
  tgTokS: number;
  maxRssMB: number;
  /** kiln only: native read bandwidth (GB/s) with the same thread count. */
  readGBs?: number;
}

/** Tokens from the kjv vocabulary (ids below its special tokens). */
function tokens(n: number, seed: number): number[] {
  return Array.from({ length: n }, (_, i) => (seed * 7919 + i * 104729) % 1990);
}

async function runKiln(path: string, threads: number, pp: number, tg: number): Promise<RunResult> {
  setThreads(threads);
  const model = await Model.load(path, { nCtx: Math.max(pp, tg) + 16 });
  try {
    const ev = model.native;
    // warm-up: page the weights in, size the scratch
    ev.eval(tokens(8, 1), 0);
    ev.truncate(0);
    const p = tokens(pp, 2);
    let t0 = performance.now();
    ev.eval(p, 0);
    const ppS = (performance.now() - t0) / 1000;
    ev.truncate(0);
    ev.eval([1], 0);
    ev.truncate(0);
    const g = tokens(tg, 3);
    t0 = performance.now();
    for (let i = 0; i < tg; i++) ev.eval([g[i]], i);
    const tgS = (performance.now() - t0) / 1000;
    const maxRssMB = process.resourceUsage().maxRSS / 1024; // before the bandwidth buffer below
    const buf = new Uint8Array(768 << 20).fill(1);
    timeMemRead(buf);
    const reads = [0, 1, 2].map(() => buf.length / timeMemRead(buf) / 1e9);
    return { ppTokS: pp / ppS, tgTokS: tg / tgS, maxRssMB, readGBs: median(reads) };
  } finally {
    model.close();
  }
}

async function runLlama(path: string, threads: number, pp: number, tg: number): Promise<RunResult> {
  const { getLlama } = await import('node-llama-cpp');
  const llama = await getLlama({ gpu: false, build: 'never', logLevel: 'error' as never, maxThreads: threads });
  const model = await llama.loadModel({ modelPath: path });
  const context = await model.createContext({ contextSize: Math.max(pp, tg) + 16, batchSize: pp, threads: { ideal: threads, min: threads } });
  const seq = context.getSequence();
  try {
    await seq.evaluateWithoutGeneratingNewTokens(tokens(8, 1) as never);
    await seq.clearHistory();
    const p = tokens(pp, 2);
    let t0 = performance.now();
    await seq.evaluateWithoutGeneratingNewTokens(p as never);
    const ppS = (performance.now() - t0) / 1000;
    await seq.clearHistory();
    await seq.evaluateWithoutGeneratingNewTokens([1] as never);
    await seq.clearHistory();
    const g = tokens(tg, 3);
    t0 = performance.now();
    for (let i = 0; i < tg; i++) await seq.evaluateWithoutGeneratingNewTokens([g[i]] as never);
    const tgS = (performance.now() - t0) / 1000;
    return { ppTokS: pp / ppS, tgTokS: tg / tgS, maxRssMB: process.resourceUsage().maxRSS / 1024 };
  } finally {
    seq.dispose();
    await context.dispose();
    await model.dispose();
  }
}

async function child(): Promise<void> {
  const engine = arg('engine', 'kiln');
  const path = arg('model', '');
  const threads = Number(arg('threads', '1'));
  const pp = Number(arg('pp', '512'));
  const tg = Number(arg('tg', '128'));
  const r = engine === 'kiln' ? await runKiln(path, threads, pp, tg) : await runLlama(path, threads, pp, tg);
  process.stdout.write(`RESULT ${JSON.stringify(r)}\n`);
}

/** Bytes of weights one token reads: every tensor but the embedding table. */
async function bytesPerToken(path: string): Promise<number> {
  const f = await readGGUFFile(path);
  // a mixture of experts reads only the chosen experts' slices: expert_used_count of expert_count
  const arch = kvString(f, 'general.architecture') ?? '';
  const nExpert = kvNumber(f, `${arch}.expert_count`) ?? 0;
  const used = nExpert > 0 ? (kvNumber(f, `${arch}.expert_used_count`) ?? nExpert) / nExpert : 1;
  return f.tensors
    .filter((t) => t.name !== 'token_embd.weight')
    .reduce((s, t) => s + (t.name.includes('_exps.') ? t.byteSize * used : t.byteSize), 0);
}

async function main(): Promise<void> {
  if (process.argv.includes('--child')) return child();
  const reps = Number(arg('reps', '3'));
  const threadCounts = arg('threads', '1,2').split(',').map(Number);
  const pp = arg('pp', '512');
  const tg = arg('tg', '128');
  const wanted = arg('models', 'kjv,1b').split(',');
  const models: [string, string][] = [];
  if (wanted.includes('kjv')) models.push(['kjv q4_K_M', await q4KM(KJV_F32, 'kjv')]);
  for (const w of wanted) {
    const arch = w === '1b' ? 'llama' : w;
    if (arch === 'kjv') continue;
    if (!BENCH_SHAPES[arch]) throw new Error(`unknown bench model '${w}': use kjv, 1b (llama) or one of ${Object.keys(BENCH_SHAPES).join(', ')}`);
    const s = BENCH_SHAPES[arch];
    models.push([`${arch} ~${s.nExpert ? 2 : 1}B q4_K_M`, await q4KM(await randomDecoderF16(arch), `random-${arch}-${s.nEmbd}x${s.nLayer}`)]);
  }
  const self = fileURLToPath(import.meta.url);
  const run = (engine: string, path: string, threads: number): RunResult => {
    const out = execFileSync(process.execPath, [self, '--child', '--engine', engine, '--model', path, '--threads', String(threads), '--pp', pp, '--tg', tg], {
      encoding: 'utf8',
      maxBuffer: 1 << 24,
    });
    const line = out.split('\n').find((l) => l.startsWith('RESULT '));
    if (!line) throw new Error(`${engine} child printed no result:\n${out}`);
    return JSON.parse(line.slice(7)) as RunResult;
  };
  console.log(`pp${pp} / tg${tg}, ${reps} alternating runs per cell, medians (min-max of the ratio)`);
  console.log('model               thr  engine     pp tok/s   tg tok/s   peak RSS MB (file MB)   tg / bandwidth limit');
  for (const [name, path] of models) {
    const fileMB = statSync(path).size / 1e6;
    const perToken = await bytesPerToken(path);
    for (const t of threadCounts) {
      const k: RunResult[] = [];
      const l: RunResult[] = [];
      for (let r = 0; r < reps; r++) {
        k.push(run('kiln', path, t));
        l.push(run('llama', path, t));
      }
      const ppRatio = k.map((x, i) => x.ppTokS / l[i].ppTokS);
      const tgRatio = k.map((x, i) => x.tgTokS / l[i].tgTokS);
      const bw = median(k.map((x) => x.readGBs ?? 0));
      for (const [engine, rs] of [['kiln', k], ['llama.cpp', l]] as const) {
        const tgs = median(rs.map((x) => x.tgTokS));
        console.log(
          `${name.padEnd(19)} ${String(t).padStart(3)}  ${engine.padEnd(9)} ${median(rs.map((x) => x.ppTokS)).toFixed(1).padStart(9)}` +
            `  ${tgs.toFixed(1).padStart(9)}   ${median(rs.map((x) => x.maxRssMB)).toFixed(0).padStart(11)} (${fileMB.toFixed(0)})` +
            `   ${((100 * tgs * perToken) / (bw * 1e9)).toFixed(0).padStart(5)}% of ${bw.toFixed(1)} GB/s`,
        );
      }
      const fmt = (xs: number[]) => `${median(xs).toFixed(2)}x (${Math.min(...xs).toFixed(2)}-${Math.max(...xs).toFixed(2)})`;
      console.log(`${''.padEnd(19)} ${String(t).padStart(3)}  kiln / llama.cpp: pp ${fmt(ppRatio)}, tg ${fmt(tgRatio)}`);
    }
  }
}

await main();
