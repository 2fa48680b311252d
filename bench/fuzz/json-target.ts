/**
 * The JSON request-body target: mutated bodies for the daemon's JSON routes,
 * sent as real HTTP requests (keep-alive, one at a time) to a real daemon
 * (`kiln serve` from dist/, on a temporary home with the kjv demo model).
 *
 *   ok        a 2xx, or a 502 from pull/push (their registry, 127.0.0.1:9, is
 *             closed on purpose: an upstream failure, not the client's mistake)
 *   rejected  a 4xx
 *   crash     any other 5xx, a connection error, or the daemon exiting (it is
 *             restarted on a fresh home and the sweep goes on)
 *   hang      an answer (body included) taking more than 2 s
 *
 * Generation routes use `fuzzkjv` (kjv with num_ctx 64, num_predict 4); a
 * body that itself asks for many tokens or a large context is allowed to be
 * slow (counted apart as slowByRequest). The daemon's RSS before and after is
 * reported alongside the counts.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cleanup, startDaemon, type RunningDaemon } from '../../test/helpers/daemon.js';
import { mutateBytesN, mutateJson } from './mutate.js';
import { inputSeed, rng } from './rng.js';
import { HANG_MS, type Finding, type Stats } from './runner.js';

const REGISTRY = '127.0.0.1:9/fuzz/m:1';
/** kjv with a short context and a few tokens per answer, created at start: a generation the request does not size stays well under 2 s. */
const MODEL = 'fuzzkjv';
const MODELS = [MODEL, 'fuzzkjv:latest', 'fuzz-made', 'fuzz-copy', 'nope', '', ' ', '../x', 'a:b:c', 'A/B/C/D/E', 'x'.repeat(300), 'sha256:' + 'f'.repeat(64), REGISTRY];
const NOT_KJV = MODELS.filter((m) => !m.startsWith('kjv') && m !== MODEL);
const REMOTE = [REGISTRY, '127.0.0.1:9/a', '127.0.0.1:9/fuzz/m:1@sha256:' + 'a'.repeat(64), '', '../x', 'a:b:c', 'http://127.0.0.1:9/x'];
const STRINGS = ['user', 'assistant', 'system', 'tool', 'function', 'json', 'float', 'base64', 'auto', 'none', 'required', 'stop', 'text', 'image_url', 'data:image/png;base64,AAAA', '5m', '-1', '0s', 'q4_K_M', 'q8_0', 'f16', 'bogus', '{{ .Prompt }}', '{{ range', 'In the beginning'];
const KEYS = ['model', 'name', 'prompt', 'suffix', 'system', 'template', 'context', 'stream', 'raw', 'format', 'images', 'options', 'keep_alive', 'think', 'messages', 'role', 'content',
  'tool_calls', 'function', 'arguments', 'tools', 'input', 'truncate', 'source', 'destination', 'from', 'files', 'adapters', 'parameters', 'license', 'quantize', 'insecure', 'verbose',
  'num_predict', 'num_ctx', 'temperature', 'top_k', 'top_p', 'seed', 'stop', 'max_tokens', 'n', 'logprobs', 'top_logprobs', 'stream_options', 'include_usage', 'response_format', 'echo',
  'encoding_format', 'dimensions', 'tool_choice', 'type', 'image_url', 'url', '__proto__', 'constructor'];

interface Route {
  method: string;
  path: string;
  body: object;
  /** The model names this route's mutations may use (pull and push only remote ones, delete never kjv). */
  names: readonly string[];
}

const chatMessages = [{ role: 'system', content: 'be brief' }, { role: 'user', content: 'In the beginning' }];
const ROUTES: Route[] = [
  { method: 'POST', path: '/api/generate', body: { model: MODEL, prompt: 'In the beginning', stream: false, options: { num_predict: 2, temperature: 0 } }, names: MODELS },
  { method: 'POST', path: '/api/generate', body: { model: MODEL, prompt: 'And God', system: 's', template: '{{ .System }} {{ .Prompt }}', options: { num_predict: 1, seed: 3, stop: ['x'] }, keep_alive: '5m' }, names: MODELS },
  { method: 'POST', path: '/api/chat', body: { model: MODEL, messages: chatMessages, stream: false, options: { num_predict: 2 } }, names: MODELS },
  { method: 'POST', path: '/api/chat', body: { model: MODEL, messages: [...chatMessages, { role: 'assistant', content: '', tool_calls: [{ function: { name: 'f', arguments: { a: 1 } } }] }, { role: 'tool', content: '1' }], tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'object', properties: { a: { type: 'number' } } } } }], format: 'json', options: { num_predict: 1 } }, names: MODELS },
  { method: 'POST', path: '/api/embed', body: { model: MODEL, input: ['In the beginning', 'God'], truncate: true }, names: MODELS },
  { method: 'POST', path: '/api/embeddings', body: { model: MODEL, prompt: 'In the beginning' }, names: MODELS },
  { method: 'POST', path: '/api/show', body: { model: MODEL, verbose: true }, names: MODELS },
  { method: 'POST', path: '/api/copy', body: { source: MODEL, destination: 'fuzz-copy' }, names: NOT_KJV.concat(MODEL) },
  { method: 'DELETE', path: '/api/delete', body: { model: 'fuzz-copy' }, names: NOT_KJV },
  { method: 'POST', path: '/api/create', body: { model: 'fuzz-made', from: MODEL, system: 'be brief', template: '{{ .Prompt }}', parameters: { temperature: 0.5, stop: ['x'] }, license: 'MIT', messages: [{ role: 'user', content: 'hi' }], stream: false }, names: NOT_KJV.concat(MODEL) },
  { method: 'POST', path: '/api/pull', body: { model: REGISTRY, insecure: true, stream: false }, names: REMOTE },
  { method: 'POST', path: '/api/push', body: { model: REGISTRY, insecure: true, stream: false }, names: REMOTE },
  { method: 'POST', path: '/api/export', body: { model: 'nope' }, names: NOT_KJV },
  { method: 'POST', path: '/v1/chat/completions', body: { model: MODEL, messages: [...chatMessages, { role: 'user', content: [{ type: 'text', text: 'hi' }] }], max_tokens: 2, temperature: 0, stream: false, stop: ['x'], seed: 1 }, names: MODELS },
  { method: 'POST', path: '/v1/chat/completions', body: { model: MODEL, messages: chatMessages, max_tokens: 1, stream: true, stream_options: { include_usage: true }, tools: [{ type: 'function', function: { name: 'f', parameters: {} } }], response_format: { type: 'json_object' } }, names: MODELS },
  { method: 'POST', path: '/v1/completions', body: { model: MODEL, prompt: 'In the beginning', max_tokens: 2, echo: true, stream: false }, names: MODELS },
  { method: 'POST', path: '/v1/embeddings', body: { model: MODEL, input: ['In the beginning', 'God'], encoding_format: 'float' }, names: MODELS },
];

const SEEDS = ROUTES.map((r) => new Uint8Array(Buffer.from(JSON.stringify(r.body))));

/** Request `index` of a sweep seeded `seed`: a route and a mutated body. */
export function jsonInput(seed: number, index: number): { route: Route; body: Uint8Array } {
  const r = rng(inputSeed(seed, 'json', index));
  const i = r.int(ROUTES.length);
  const route = ROUTES[i];
  const body = r.chance(0.85) ? mutateJson(SEEDS[i], r, KEYS, [...route.names, ...route.names, ...STRINGS], SEEDS) : mutateBytesN(SEEDS[i], r, ['"', '{', '}', '[', ']', ':', ',', 'null', '-1', '1e999'], SEEDS);
  return { route, body };
}

function rssOf(pid: number | undefined): number {
  try {
    return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) * 1024;
  } catch {
    return NaN;
  }
}

async function start(): Promise<RunningDaemon> {
  // Pull and push fail fast against the closed port instead of retrying for a minute.
  const d = await startDaemon(undefined, { KILN_PULL_RETRIES: '1', KILN_PULL_RETRY_DELAY: '10' });
  const r = await fetch(`${d.url}/api/create`, { method: 'POST', body: JSON.stringify({ model: MODEL, from: 'kjv', parameters: { num_ctx: 64, num_predict: 4 }, stream: false }) });
  if (r.status !== 200) throw new Error(`creating ${MODEL}: ${r.status} ${await r.text()}`);
  // Loaded before the clock starts: the first request is not charged with the load.
  const g = await fetch(`${d.url}/api/generate`, { method: 'POST', body: JSON.stringify({ model: MODEL, prompt: 'In', stream: false }) });
  if (g.status !== 200) throw new Error(`loading ${MODEL}: ${g.status} ${await g.text()}`);
  return d;
}

/**
 * A body that asks for a long generation by itself (many tokens, unbounded,
 * or a large context): a slow answer to it is what was asked for, not a hang.
 * A null counts: kiln reads `num_predict: null` as unset, over the model's own
 * num_predict (where Ollama, decoding into a Go int, would keep the model's).
 */
export function asksForLongGeneration(body: Uint8Array): boolean {
  return /"(num_predict|max_tokens|max_completion_tokens|num_ctx|num_keep)"\s*:\s*("?(-|[0-9]{3,}|[0-9.]+e)|null)/.test(Buffer.from(body).toString('latin1'));
}

export interface JsonStats extends Stats {
  rssBefore: number;
  rssAfter: number;
  statuses: Record<number, number>;
  /** Answers over 2 s to bodies that asked for a long generation (not counted as hangs). */
  slowByRequest: number;
}

export async function runJsonTarget(opts: { seed: number; runs: number; from?: number; findingsDir?: string; onProgress?: (n: number) => void }): Promise<JsonStats> {
  let d = await start();
  const st: JsonStats = { target: 'json', runs: 0, ok: 0, rejected: 0, crashes: 0, hangs: 0, allocs: 0, maxMs: 0, maxAt: -1, elapsedMs: 0, findings: [], rssBefore: rssOf(d.proc.pid), rssAfter: NaN, statuses: {}, slowByRequest: 0 };
  const started = performance.now();
  const from = opts.from ?? 0;
  const record = (f: Finding, route: Route, body: Uint8Array) => {
    st.findings.push(f);
    if (opts.findingsDir) {
      mkdirSync(opts.findingsDir, { recursive: true });
      f.path = join(opts.findingsDir, `json-${opts.seed}-${f.index}.http`);
      writeFileSync(f.path, Buffer.concat([Buffer.from(`${route.method} ${route.path}\n${f.kind}: ${f.detail}\n\n`), body]));
    }
  };
  try {
    for (let i = from; i < from + opts.runs; i++) {
      const { route, body } = jsonInput(opts.seed, i);
      const t0 = performance.now();
      let status = 0;
      let text = '';
      let failure: string | undefined;
      try {
        const res = await fetch(d.url + route.path, { method: route.method, body, headers: { 'content-type': 'application/json' }, signal: AbortSignal.timeout(30_000) });
        status = res.status;
        text = await res.text();
      } catch (e) {
        failure = `request failed: ${(e as Error).message} ${String((e as { cause?: unknown }).cause ?? '')}`;
      }
      const ms = performance.now() - t0;
      st.runs++;
      if (ms > st.maxMs) [st.maxMs, st.maxAt] = [ms, i];
      st.statuses[status] = (st.statuses[status] ?? 0) + 1;
      const upstream = status === 502 && (route.path === '/api/pull' || route.path === '/api/push');
      if (failure !== undefined || (status >= 500 && !upstream)) {
        st.crashes++;
        const dead = d.proc.exitCode !== null || d.proc.signalCode !== null;
        record({ target: 'json', index: i, kind: 'crash', ms, detail: failure ?? `${status} from ${route.method} ${route.path}: ${text.slice(0, 300)}${dead ? ' (daemon died)' : ''}` }, route, body);
        if (dead) {
          record({ target: 'json', index: i, kind: 'crash', ms, detail: `daemon exited (${d.proc.exitCode ?? d.proc.signalCode}); log tail: ${d.log().slice(-1500)}` }, route, body);
          cleanup(d.home);
          d = await start();
        }
      } else if (ms > HANG_MS && asksForLongGeneration(body)) {
        st.slowByRequest++;
        if (status >= 400) st.rejected++;
        else st.ok++;
      } else if (ms > HANG_MS) {
        st.hangs++;
        record({ target: 'json', index: i, kind: 'hang', ms, detail: `${route.method} ${route.path} answered ${status} after ${ms.toFixed(0)} ms` }, route, body);
      } else if (status >= 400) st.rejected++;
      else st.ok++;
      if ((i - from + 1) % 1000 === 0) opts.onProgress?.(i - from + 1);
    }
  } finally {
    st.rssAfter = rssOf(d.proc.pid);
    st.elapsedMs = performance.now() - started;
    await d.stop();
    cleanup(d.home);
  }
  return st;
}
