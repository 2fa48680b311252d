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

async function main(): Promise<void> {
  const runs = Number(arg('runs', '5'));
  const tokens = Number(arg('tokens', '200'));
  const tagsN = Number(arg('tags', '400'));
  const gguf = arg('gguf', join(ROOT, 'models', 'kjv', 'kjv-f16.gguf'));
  const numCtx = Number(arg('ctx', '256'));

  const home = tempHome('kiln-bench-serve-');
  const isKjv = gguf.endsWith('kjv-f16.gguf');
  const name = isKjv ? 'kjv' : 'bench';
  const start = async () => {
    const d = await startDaemon(home, { KILN_NUM_PARALLEL: '1', KILN_DEMO_MODEL: isKjv ? '1' : '0' });
    if (!isKjv) {
      // as a user would: `kiln create` uploads the file's blob, then creates the model from it
      writeFileSync(join(home, 'Modelfile'), `FROM ${gguf}\n`);
      const r = await kiln(['create', name, '-f', join(home, 'Modelfile')], kilnEnv(home));
      if (r.code !== 0) throw new Error(`kiln create: ${r.stderr}`);
    }
    return d;
  };
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
