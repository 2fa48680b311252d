/**
 * Overhead of the serving path, issue #5: tokens/s through POST /api/generate
 * (streaming NDJSON, daemon → runner process over IPC → back) against the
 * engine called directly in this process on the same GGUF, alternating runs,
 * medians; time to first token both ways; /api/tags latency (p50/p99) while
 * a generation runs, against an idle daemon, with two clients (fetch and undici).
 *
 *     npm run build && npx vite-node bench/serve.ts -- [--runs 5] [--tokens 200] [--gguf PATH] [--tags 400]
 *
 * Both paths run greedy from the same raw prompt with the same num_ctx, so
 * they sample the same tokens. Rates are measured by the client, from the
 * first generated text to the last ((n-1)/Δt), so the API figure pays for
 * every hop a real client sees; the engine's own eval rate is printed beside.
 * The default model is the bundled kjv (5.5M parameters, ~2 ms a token),
 * where fixed per-token costs weigh the most.
 *
 * Concurrency (issue #14, continuous batching; `--concurrency 0` skips it):
 * aggregate tokens/s of 1, 4 and 8 streaming clients at once (a daemon with
 * KILN_NUM_PARALLEL=8, every client its own prompt), against llama.cpp
 * decoding 4 sequences of one context (node-llama-cpp evaluates sequences of
 * one context in one batch), and the time to first token of a new request
 * while 3 others stream against the same request on an idle daemon.
 * `--llamacpp 0` skips the llama.cpp run; kiln's figures print before it.

 */
import { writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { request } from 'undici';
import { join } from 'node:path';
import { Generator } from '../engine/generate/index.js';
import { Model } from '../engine/model/model.js';
import { cleanup, kiln, kilnEnv, ROOT, startDaemon, tempHome } from '../test/helpers/daemon.js';

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : def;
}

const median = (xs: number[]) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const pct = (xs: number[], p: number) => xs.slice().sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))];

interface Run {
  ttftMs: number;
  tokPerS: number;
  engineTokPerS: number;
  tokens: number;
}

const PROMPT = 'In the beginning God created the heaven and the earth.';

async function viaApi(url: string, model: string, tokens: number, numCtx: number): Promise<Run> {
  const t0 = performance.now();
  const res = await fetch(`${url}/api/generate`, {
    method: 'POST',
    body: JSON.stringify({ model, prompt: PROMPT, raw: true, options: { temperature: 0, num_predict: tokens, num_ctx: numCtx } }),
  });
  const reader = res.body!.getReader();
  const dec = new TextDecoder();
  let buf = '';
  let first = 0;
  let last = 0;
  let final: Record<string, number> | undefined;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    buf += dec.decode(value, { stream: true });
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const o = JSON.parse(buf.slice(0, nl));
      buf = buf.slice(nl + 1);
      if (o.error) throw new Error(o.error);
      if (!o.done && o.response) {
        last = performance.now();
        if (!first) first = last;
      }
      if (o.done) final = o;
    }
  }
  const n = final!.eval_count;
  return { ttftMs: first - t0, tokPerS: ((n - 1) * 1000) / (last - first), engineTokPerS: (n * 1e9) / final!.eval_duration, tokens: n };
}

async function direct(gen: Generator, model: Model, tokens: number, numCtx: number): Promise<Run> {
  const t0 = performance.now();
  const prompt = model.tokenizer.encode(PROMPT, { addSpecial: true });
  const it = gen.generate(prompt, { temperature: 0, num_predict: tokens, num_ctx: numCtx });
  let first = 0;
  let last = 0;
  for (;;) {
    const r = await it.next();
    if (r.done) {
      const n = r.value.evalCount;
      return { ttftMs: first - t0, tokPerS: ((n - 1) * 1000) / (last - first), engineTokPerS: (n * 1e9) / r.value.evalDurationNs, tokens: n };
    }
    if (r.value.text) {
      last = performance.now();
      if (!first) first = last;
    }
  }
}

/**
 * /api/tags latencies, alternating two clients: WHATWG fetch (what most
 * Node programs and the ollama npm client use) and undici's request (what
 * kiln's CLI uses, and the lighter of the two: its figure is closer to the
 * daemon's own time).
 */
async function tagsLatency(url: string, n: number): Promise<{ fetch: number[]; undici: number[] }> {
  const out = { fetch: [] as number[], undici: [] as number[] };
  for (let i = 0; i < n; i++) {
    let t = performance.now();
    await (await fetch(`${url}/api/tags`)).arrayBuffer();
    out.fetch.push(performance.now() - t);
    t = performance.now();
    await (await request(`${url}/api/tags`)).body.arrayBuffer();
    out.undici.push(performance.now() - t);
  }
  return out;
}

/** /api/tags latencies measured while a long generation streams. */
async function tagsWhileGenerating(url: string, name: string, numCtx: number, n: number): Promise<{ fetch: number[]; undici: number[] }> {
  // Long enough to outlast the probes (a larger context where the model allows it).
  const busyCtx = Math.max(numCtx, 2048);
  const ac = new AbortController();
  const res = await fetch(`${url}/api/generate`, {
    method: 'POST',
    signal: ac.signal,
    body: JSON.stringify({ model: name, prompt: PROMPT, raw: true, options: { temperature: 0, num_predict: busyCtx - 64, num_ctx: busyCtx } }),
  });
  const reader = res.body!.getReader();
  await reader.read(); // generating
  const drain = (async () => {
    for (;;) if ((await reader.read()).done) return;
  })().catch(() => {});
  const out = await tagsLatency(url, n);
  ac.abort();
  await drain;
  return out;
}

/** One streaming /api/generate: tokens, first and last text times (ms, performance.now()). */
async function stream(url: string, model: string, prompt: string, tokens: number, numCtx: number): Promise<{ n: number; start: number; first: number; last: number }> {
  const start = performance.now();
  const res = await fetch(`${url}/api/generate`, {
    method: 'POST',
    body: JSON.stringify({ model, prompt, raw: true, options: { temperature: 0, num_predict: tokens, num_ctx: numCtx, stop: [] } }),
  });
  const reader = res.body!.getReader();
  const dec = new TextDecoder();
  let buf = '';
  let first = 0;
  let last = 0;
  let n = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    buf += dec.decode(value, { stream: true });
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const o = JSON.parse(buf.slice(0, nl));
      buf = buf.slice(nl + 1);
      if (o.error) throw new Error(o.error);
      if (!o.done && o.response) {
        last = performance.now();
        if (!first) first = last;
      }
      if (o.done) n = o.eval_count;
    }
  }
  return { n, start, first, last };
}

/** Aggregate generated tokens/s of `clients` concurrent streams, from the first client's first text to the last one's last. */
async function aggregate(url: string, model: string, clients: number, tokens: number, numCtx: number, run: number): Promise<number> {
  const rs = await Promise.all(Array.from({ length: clients }, (_, i) => stream(url, model, `${run * 100 + i}. ${PROMPT}`, tokens, numCtx)));
  const t0 = Math.min(...rs.map((r) => r.first));
  const t1 = Math.max(...rs.map((r) => r.last));
  return (rs.reduce((s, r) => s + r.n, 0) - clients) / ((t1 - t0) / 1000);
}

/** llama.cpp: `seqs` sequences of one context, each step one token for every sequence (node-llama-cpp batches them). */
async function llamaCppAggregate(path: string, seqs: number, tokens: number, threads: number): Promise<number> {
  const { getLlama } = await import('node-llama-cpp');
  const llama = await getLlama({ gpu: false, build: 'never', logLevel: 'error' as never, maxThreads: threads });
  const model = await llama.loadModel({ modelPath: path });
  const context = await model.createContext({ contextSize: seqs * (tokens + 32), sequences: seqs, batchSize: 512, threads: { ideal: threads, min: threads } });
  const ss = Array.from({ length: seqs }, () => context.getSequence());
  try {
    const tok = (i: number, k: number) => 10 + ((i * 7 + k * 13) % 1000);
    await Promise.all(ss.map((s, k) => s.evaluateWithoutGeneratingNewTokens([1, tok(0, k)] as never)));
    const t0 = performance.now();
    for (let i = 1; i < tokens; i++) await Promise.all(ss.map((s, k) => s.evaluateWithoutGeneratingNewTokens([tok(i, k)] as never)));
    return (seqs * (tokens - 1)) / ((performance.now() - t0) / 1000);
  } finally {
    for (const s of ss) s.dispose();
    await context.dispose();
    await model.dispose();
  }
}

async function concurrency(gguf: string, start: (parallel: string) => Promise<Awaited<ReturnType<typeof startDaemon>>>, name: string, runs: number, tokens: number, numCtx: number): Promise<void> {
  const d = await start('8');
  try {
    await stream(d.url, name, PROMPT, 8, numCtx); // load
    const agg: Record<number, number[]> = { 1: [], 4: [], 8: [] };
    for (let r = 0; r < runs; r++) for (const c of [1, 4, 8]) agg[c].push(await aggregate(d.url, name, c, tokens, numCtx, r * 10 + c));
    // time to first token of a ~300-token prompt, alone and while 3 stream (a new prompt each time: no cache hit)
    const long = (i: number) => `${i}: ${'And God said, Let there be light: and there was light. '.repeat(24)}`;
    const alone: number[] = [];
    const busy: number[] = [];
    for (let r = 0; r < runs; r++) {
      const a = await stream(d.url, name, long(1000 + r), 1, numCtx);
      alone.push(a.first - a.start);
      const others = [0, 1, 2].map((i) => stream(d.url, name, `${2000 + r * 3 + i}. ${PROMPT}`, Math.min(numCtx - 64, 4 * tokens), numCtx));
      await new Promise((res) => setTimeout(res, 300)); // the three are streaming
      const b = await stream(d.url, name, long(3000 + r), 1, numCtx);
      busy.push(b.first - b.start);
      await Promise.all(others);
    }
    const m = (c: number) => median(agg[c]);
    // kiln's figures first: a crash of the llama.cpp run below (node-llama-cpp) must not lose them
    console.log(`concurrent streaming clients (${tokens} tokens each, medians of ${runs}; load ${loadavg()[0].toFixed(2)}):`);
    for (const c of [1, 4, 8]) console.log(`  ${c} client${c > 1 ? 's' : ' '}  ${m(c).toFixed(1).padStart(8)} tokens/s aggregate  (${(m(c) / m(1)).toFixed(2)}× one client)`);
    console.log(`time to first token of a ~300-token prompt: alone ${median(alone).toFixed(1)} ms, while 3 stream ${median(busy).toFixed(1)} ms`);
    const threads = Number(arg('threads', String(Math.min(2, cpus().length))));
    const cpp4 =
      Number(arg('llamacpp', '1')) === 0
        ? NaN
        : await llamaCppAggregate(gguf, 4, tokens, threads).catch((e) => {
            console.warn(`llama.cpp run failed: ${(e as Error).message}`);
            return NaN;
          });
    console.log(`  llama.cpp, 4 sequences of one context (${threads} threads): ${cpp4.toFixed(1)} tokens/s; kiln 4 clients / llama.cpp: ${(m(4) / cpp4).toFixed(2)}×`);
    console.log(JSON.stringify({ bench: 'serve-concurrency', tokens, runs, aggregate: agg, llamaCpp4: cpp4, ttftAlone: alone, ttftBusy: busy }));
  } finally {
    await d.stop();
  }
}

async function main(): Promise<void> {
  const runs = Number(arg('runs', '5'));
  const tokens = Number(arg('tokens', '200'));
  const tagsN = Number(arg('tags', '400'));
  const gguf = arg('gguf', join(ROOT, 'models', 'kjv', 'kjv-f16.gguf'));
  const numCtx = Number(arg('ctx', '256'));

  const home = tempHome('kiln-bench-serve-');
  const isKjv = gguf.endsWith('kjv-f16.gguf');
  const name = isKjv ? 'kjv' : 'bench';
  const start = async (parallel = '1') => {
    const d = await startDaemon(home, { KILN_NUM_PARALLEL: parallel, KILN_DEMO_MODEL: isKjv ? '1' : '0' });
    if (!isKjv) {
      // as a user would: `kiln create` uploads the file's blob, then creates the model from it
      writeFileSync(join(home, 'Modelfile'), `FROM ${gguf}\n`);
      const r = await kiln(['create', name, '-f', join(home, 'Modelfile')], kilnEnv(home));
      if (r.code !== 0) throw new Error(`kiln create: ${r.stderr}`);
    }
    return d;
  };
  if (Number(arg('concurrency', '1')) > 0) await concurrency(gguf, start, name, Math.max(1, Math.min(runs, 3)), tokens, Math.max(numCtx, 1024));
  if (Number(arg('single', '1')) === 0) {
    cleanup(home);
    return;
  }
  const d = await start();
  try {
    const model = await Model.load(gguf, { nCtx: numCtx });
    const gen = new Generator(model);
    // Warm both: the runner loads, pages are touched, JIT settles.
    await viaApi(d.url, name, 16, numCtx);
    await direct(gen, model, 16, numCtx);

    const api: Run[] = [];
    const eng: Run[] = [];
    for (let i = 0; i < runs; i++) {
      api.push(await viaApi(d.url, name, tokens, numCtx));
      eng.push(await direct(gen, model, tokens, numCtx));
    }
    if (api.some((r) => r.tokens !== eng[0].tokens)) console.warn('warning: the two paths generated different token counts');

    const idle = await tagsLatency(d.url, tagsN);
    const busy = await tagsWhileGenerating(d.url, name, numCtx, tagsN);

    const ratio = median(api.map((r) => r.tokPerS)) / median(eng.map((r) => r.tokPerS));
    const rows = [
      ['', 'API (/api/generate stream)', 'engine direct'],
      ['tokens/s (client-measured)', median(api.map((r) => r.tokPerS)).toFixed(1), median(eng.map((r) => r.tokPerS)).toFixed(1)],
      ['tokens/s (eval_duration)', median(api.map((r) => r.engineTokPerS)).toFixed(1), median(eng.map((r) => r.engineTokPerS)).toFixed(1)],
      ['time to first token (ms)', median(api.map((r) => r.ttftMs)).toFixed(2), median(eng.map((r) => r.ttftMs)).toFixed(2)],
    ];
    console.log(`model ${gguf} (num_ctx ${numCtx}), ${tokens} tokens × ${runs} runs each, alternating; ${cpus().length} CPUs, load ${loadavg()[0].toFixed(2)}`);
    for (const r of rows) console.log(r[0].padEnd(28) + r[1].padStart(28) + r[2].padStart(16));
    console.log(`API / engine tokens/s: ${ratio.toFixed(3)}× (target ≥ 0.97×)`);
    const lat = (xs: number[]) => `p50 ${pct(xs, 50).toFixed(2)} ms, p99 ${pct(xs, 99).toFixed(2)} ms`;
    console.log(`/api/tags latency, ${tagsN} sequential requests per client (target p99 < 5 ms):`);
    console.log(`  idle daemon        fetch  ${lat(idle.fetch)};  undici.request  ${lat(idle.undici)}`);
    console.log(`  while generating   fetch  ${lat(busy.fetch)};  undici.request  ${lat(busy.undici)}`);
    console.log(
      JSON.stringify({ bench: 'serve', tokens, runs, api, engine: eng, ratio, tagsIdleP99: { fetch: pct(idle.fetch, 99), undici: pct(idle.undici, 99) }, tagsBusyP99: { fetch: pct(busy.fetch, 99), undici: pct(busy.undici, 99) } }),
    );
    model.close();
  } finally {
    await d.stop();
    cleanup(home);
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
