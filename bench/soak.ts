/**
 * Soak: many mixed requests against one real daemon, then a look at what it
 * kept. The mix is what a busy local server sees: model lists, shows, embeds,
 * short generates, requests that fail validation, clients that hang up in
 * the middle of a stream, and pulls that are cancelled part way (from the
 * real docker-registry on 127.0.0.1, a 24 MiB layer so a pull takes long
 * enough to be cut).
 *
 *     npm run build && npx vite-node bench/soak.ts -- [--requests 100000] [--concurrency 8] [--only KIND]
 *
 * Pass marks (issue 11): the daemon's RSS at the end over its RSS after the
 * warm-up ≤ 1.10; no request lost (each gets an HTTP answer below 500, or is
 * cancelled by the client on purpose); `kiln verify` clean at the end; the
 * daemon still up. Prints the figures and exits 1 when a mark is missed.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Agent, request } from 'undici';
import { cleanup, kiln, startDaemon, tempHome } from '../test/helpers/daemon.js';
import { putModel, startRegistry, type Registry } from '../test/helpers/registry.js';

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
}

const TOTAL = arg('requests', 100_000);
const CONCURRENCY = arg('concurrency', 8);
const WARMUP = Math.min(5000, Math.floor(TOTAL / 10));
const PULL_BYTES = 24 << 20;

type Kind = 'tags' | 'show' | 'embed' | 'generate' | 'invalid' | 'disconnect' | 'pull-cancel';
/** Weights of the mix, out of 100. */
const MIX: [Kind, number][] = [
  ['tags', 24],
  ['show', 12],
  ['embed', 12],
  ['generate', 10],
  ['invalid', 26],
  ['disconnect', 14],
  ['pull-cancel', 2],
];

const INVALID: [string, string, string][] = [
  ['POST', '/api/generate', '{"model":'],
  ['POST', '/api/generate', '{"model":"nosuch"}'],
  ['POST', '/api/chat', '{"model":"kjv","messages":[null]}'],
  ['POST', '/api/chat', '{"model":"kjv","messages":"hi"}'],
  ['POST', '/api/embed', '{"model":"kjv","input":[1,2,{}]}'],
  ['POST', '/api/show', '{"model":42}'],
  ['POST', '/api/pull', '{"model":"../../etc/passwd"}'],
  ['POST', '/v1/chat/completions', '{"model":"kjv","messages":[{"role":"user","content":[null]}]}'],
  ['POST', '/v1/chat/completions', '{"model":"kjv","messages":[{"role":"assistant","tool_calls":[{}]}]}'],
  ['POST', '/v1/embeddings', '{"model":"kjv"}'],
  ['POST', '/v1/completions', '[]'],
  ['DELETE', '/api/delete', '{"model":"nosuch:latest"}'],
  ['GET', '/api/nosuch', ''],
];

function rssKiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : NaN;
}

/** A model in the registry whose one layer is 24 MiB of random bytes (pulls of it take a while). */
async function seedRegistry(reg: Registry): Promise<string> {
  await putModel(reg, 'soak/big', 'latest', randomBytes(PULL_BYTES));
  return `${reg.host}/soak/big:latest`;
}

interface Tally {
  answered: Map<number, number>;
  cancelled: number;
  lost: { kind: Kind; error: string }[];
  fivexx: { kind: Kind; status: number; body: string }[];
}

async function main(): Promise<void> {
  const reg = await startRegistry();
  const pullName = await seedRegistry(reg);
  const home = tempHome('kiln-soak-');
  // KILN_DEBUG opens /api/debug/internals, whose ?gc collects garbage before each measurement
  // (with --expose-gc), so the figures compare live memory rather than where the collector happens to be.
  const d = await startDaemon(home, { KILN_KEEP_ALIVE: '-1', KILN_MAX_QUEUE: '64', KILN_DEBUG: '1', NODE_OPTIONS: '--expose-gc' });
  const internals = async () => (await (await fetch(`${d.url}/api/debug/internals?gc`)).json()) as { open_streams: number; heap_used: number };
  const pid = d.proc.pid!;
  const agent = new Agent({ connections: CONCURRENCY * 2, keepAliveTimeout: 30_000 });
  const tally: Tally = { answered: new Map(), cancelled: 0, lost: [], fivexx: [] };
  let pullRunning = false;
  const started = performance.now();
  const counts = new Map<Kind, number>();
  const busy = new Map<Kind, number>();

  const only = process.argv.includes('--only') ? (process.argv[process.argv.indexOf('--only') + 1] as Kind) : undefined;
  const pick = (): Kind => {
    if (only) return only;
    let r = Math.random() * 100;
    for (const [k, w] of MIX) if ((r -= w) < 0) return k;
    return 'tags';
  };

  async function send(kind: Kind, seq: number): Promise<void> {
    const url = d.url;
    const post = (path: string, body: unknown, signal?: AbortSignal) =>
      request(url + path, { method: 'POST', body: JSON.stringify(body), dispatcher: agent, signal, headers: { 'content-type': 'application/json' } });
    const answered = async (res: Awaited<ReturnType<typeof request>>) => {
      const body = await res.body.text();
      tally.answered.set(res.statusCode, (tally.answered.get(res.statusCode) ?? 0) + 1);
      if (res.statusCode >= 500) tally.fivexx.push({ kind, status: res.statusCode, body: body.slice(0, 200) });
    };
    try {
      switch (kind) {
        case 'tags':
          return await answered(await request(`${url}/api/tags`, { dispatcher: agent }));
        case 'show':
          return await answered(await post('/api/show', { model: 'kjv' }));
        case 'embed':
          return await answered(await post('/api/embed', { model: 'kjv', input: ['In the beginning', `verse ${seq}`] }));
        case 'generate':
          return await answered(await post('/api/generate', { model: 'kjv', prompt: 'And the LORD said', stream: false, options: { num_predict: 6, temperature: 0 } }));
        case 'invalid': {
          const [method, path, body] = INVALID[seq % INVALID.length];
          return await answered(await request(url + path, { method: method as 'POST', body: body || undefined, dispatcher: agent }));
        }
        case 'disconnect': {
          const ac = new AbortController();
          const res = await post('/api/generate', { model: 'kjv', prompt: 'In the beginning', options: { num_predict: 200 } }, ac.signal);
          try {
            for await (const _chunk of res.body) {
              ac.abort();
              break;
            }
          } catch {
            /* the abort */
          }
          tally.cancelled++;
          return;
        }
        case 'pull-cancel': {
          if (pullRunning) return await answered(await request(`${url}/api/tags`, { dispatcher: agent }));
          pullRunning = true;
          try {
            const ac = new AbortController();
            const res = await post('/api/pull', { model: pullName, insecure: true }, ac.signal);
            let lines = 0;
            try {
              for await (const _chunk of res.body) {
                if (++lines >= 3) {
                  ac.abort();
                  break;
                }
              }
            } catch {
              /* the abort */
            }
            tally.cancelled++;
            // A pull that finished before the cut is removed, so the next one downloads again.
            await answered(await request(`${url}/api/delete`, { method: 'DELETE', body: JSON.stringify({ model: pullName }), dispatcher: agent }));
          } finally {
            pullRunning = false;
          }
          return;
        }
      }
    } catch (e) {
      tally.lost.push({ kind, error: String((e as Error).message ?? e) });
    }
  }

  let rssWarm = 0;
  let heapWarm = 0;
  let next = 0;
  const worker = async () => {
    for (;;) {
      const i = next++;
      if (i >= TOTAL) return;
      if (i === WARMUP) {
        heapWarm = (await internals()).heap_used;
        rssWarm = rssKiB(pid);
      }
      const kind = pick();
      counts.set(kind, (counts.get(kind) ?? 0) + 1);
      const t0 = performance.now();
      await send(kind, i);
      busy.set(kind, (busy.get(kind) ?? 0) + performance.now() - t0);
      if (i > 0 && i % 10_000 === 0) {
        const s = (performance.now() - started) / 1000;
        console.error(`  ${i} requests, ${(i / s).toFixed(0)}/s, daemon RSS ${(rssKiB(pid) / 1024).toFixed(1)} MiB`);
      }
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const seconds = (performance.now() - started) / 1000;
  // Let the last cancellations settle before the final measurement.
  await new Promise((r) => setTimeout(r, 2000));
  const end = await internals();
  const rssEnd = rssKiB(pid);
  const alive = d.proc.exitCode === null && d.proc.signalCode === null;
  const verify = await kiln(['verify'], d.env);
  const verifyClean = verify.code === 0;

  const ratio = rssEnd / rssWarm;
  console.log(`soak: ${TOTAL} requests in ${seconds.toFixed(1)} s (${(TOTAL / seconds).toFixed(0)}/s), concurrency ${CONCURRENCY}`);
  console.log(`  mix (count, mean ms): ${[...counts].map(([k, n]) => `${k} ${n} ${((busy.get(k) ?? 0) / n).toFixed(1)}`).join(', ')}`);
  console.log(`  answers by status: ${[...tally.answered].sort((a, b) => a[0] - b[0]).map(([s, n]) => `${s}×${n}`).join(' ')}; cancelled by the client: ${tally.cancelled}`);
  console.log(`  lost (no answer, not cancelled): ${tally.lost.length}${tally.lost.length ? ` e.g. ${JSON.stringify(tally.lost.slice(0, 3))}` : ''}`);
  console.log(`  5xx: ${tally.fivexx.length}${tally.fivexx.length ? ` e.g. ${JSON.stringify(tally.fivexx.slice(0, 3))}` : ''}`);
  console.log(`  daemon RSS after warm-up (${WARMUP} requests) ${(rssWarm / 1024).toFixed(1)} MiB, at the end ${(rssEnd / 1024).toFixed(1)} MiB: ratio ${ratio.toFixed(3)} (mark ≤ 1.10)`);
  console.log(`  daemon heap after GC: ${(heapWarm / 2 ** 20).toFixed(1)} MiB after warm-up, ${(end.heap_used / 2 ** 20).toFixed(1)} MiB at the end; open request controllers at the end: ${end.open_streams}`);
  console.log(`  kiln verify: ${verifyClean ? 'clean' : `FAILED\n${verify.stdout}${verify.stderr}`}; daemon ${alive ? 'up' : 'DOWN'}`);
  const pass = ratio <= 1.1 && end.open_streams === 0 && tally.lost.length === 0 && tally.fivexx.length === 0 && verifyClean && alive;
  console.log(pass ? 'soak: PASS' : 'soak: FAIL');

  await agent.close();
  await d.stop();
  await reg.stop();
  cleanup(home);
  process.exit(pass ? 0 : 1);
}

await main();
