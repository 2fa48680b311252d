import { execFileSync } from 'node:child_process';
import { Ollama } from 'ollama';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanup, startDaemon, type RunningDaemon } from './helpers/daemon.js';

/**
 * The serving path against the real daemon and the kjv demo model: two
 * slots per model (KILN_NUM_PARALLEL=2) and one queued request at most
 * (KILN_MAX_QUEUE=1), so the queue and slot tests need only four requests.
 */
let d: RunningDaemon;
let ollama: Ollama;

const greedy = { temperature: 0, num_predict: 24 };
// Long enough to hold a slot while a test looks around: far beyond what the tests wait for.
const LONG = { num_ctx: 2048, num_predict: 1900, temperature: 0 };

beforeAll(async () => {
  d = await startDaemon(undefined, { KILN_NUM_PARALLEL: '2', KILN_MAX_QUEUE: '1', KILN_KEEP_ALIVE: '5m' });
  ollama = new Ollama({ host: d.url });
  // A kjv variant whose (Ollama) template renders tools.
  await ollama.create({
    model: 'kjv-tools',
    from: 'kjv',
    template: '{{ if .Tools }}Tools: {{ json .Tools }}\n{{ end }}{{ range .Messages }}{{ .Role }}: {{ .Content }}\n{{ end }}assistant:',
  });
});

afterAll(async () => {
  await d?.stop();
  if (d) cleanup(d.home);
});

function post(path: string, body: unknown, signal?: AbortSignal): Promise<Response> {
  return fetch(`${d.url}${path}`, { method: 'POST', body: JSON.stringify(body), signal });
}

/** Reads NDJSON lines from a streaming response until `until` says stop (or the stream ends). */
async function readLines(res: Response, until: (o: Record<string, unknown>, n: number) => boolean = () => false): Promise<Record<string, unknown>[]> {
  const reader = res.body!.getReader();
  const dec = new TextDecoder();
  let buf = '';
  const out: Record<string, unknown>[] = [];
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    buf += dec.decode(value, { stream: true });
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const o = JSON.parse(buf.slice(0, nl));
      buf = buf.slice(nl + 1);
      out.push(o);
      if (until(o, out.length)) {
        reader.releaseLock();
        return out;
      }
    }
  }
  return out;
}

/** Runner processes of the daemon (children running dist/daemon/runner/main.js). */
function runnerPids(): number[] {
  const out = execFileSync('ps', ['-o', 'pid=,args=', '--ppid', String(d.proc.pid)], { encoding: 'utf8' });
  return out
    .split('\n')
    .filter((l) => l.includes('runner/main.js'))
    .map((l) => Number(l.trim().split(/\s+/)[0]));
}

describe('Ollama generate/chat/embed through the official client', () => {
  it('generates without streaming: text, done_reason and the stats in nanoseconds', async () => {
    const r = await ollama.generate({ model: 'kjv', prompt: 'In the beginning God created', options: greedy });
    expect(r.response.length).toBeGreaterThan(10);
    expect(r.done).toBe(true);
    expect(r.done_reason).toBe('length');
    expect(r.eval_count).toBe(24);
    expect(r.prompt_eval_count).toBeGreaterThan(5);
    for (const k of ['total_duration', 'load_duration', 'prompt_eval_duration', 'eval_duration'] as const) expect(r[k], k).toBeGreaterThan(0);
    expect(r.total_duration).toBeGreaterThanOrEqual(r.eval_duration + r.prompt_eval_duration);
    expect(r.context.length).toBe(r.prompt_eval_count + 24);
  });

  it('streams generate pieces that add up to the non-streamed answer (greedy)', async () => {
    // Enough tokens to span several pieces (the runner sends text at most every 10 ms).
    const opts = { temperature: 0, num_predict: 150 };
    const whole = await ollama.generate({ model: 'kjv', prompt: 'And the LORD said', options: opts });
    const parts: string[] = [];
    let last: Awaited<ReturnType<typeof ollama.generate>> | undefined;
    for await (const p of await ollama.generate({ model: 'kjv', prompt: 'And the LORD said', options: opts, stream: true })) {
      if (p.done) last = p;
      else parts.push(p.response);
    }
    expect(parts.length).toBeGreaterThan(2);
    expect(parts.join('')).toBe(whole.response);
    expect(last?.done_reason).toBe('length');
    expect(last?.eval_count).toBe(150);
  });

  it('continues from an earlier context and honours raw, system and stop', async () => {
    const first = await ollama.generate({ model: 'kjv', prompt: 'In the beginning', raw: true, options: greedy });
    const next = await ollama.generate({ model: 'kjv', prompt: ' And', context: first.context, raw: true, options: greedy });
    expect(next.context.slice(0, first.context.length)).toEqual(first.context);
    // only ' And' is evaluated: the earlier context is in the cache
    expect(next.prompt_eval_count).toBeLessThan(4);
    // raw: the prompt goes in as it is, so it is only a handful of tokens
    expect(first.prompt_eval_count).toBeLessThan(8);
    const sys = await ollama.generate({ model: 'kjv', prompt: 'x', system: 'You are the scribe.', options: greedy });
    const noSys = await ollama.generate({ model: 'kjv', prompt: 'x', options: greedy });
    expect(sys.prompt_eval_count).toBeGreaterThan(noSys.prompt_eval_count);
    const stopped = await ollama.generate({ model: 'kjv', prompt: 'In the beginning', raw: true, options: { ...greedy, num_predict: 200, stop: ['LORD'] } });
    expect(stopped.done_reason).toBe('stop');
    expect(stopped.response).not.toContain('LORD');
  });

  it('says so in the answer and the log when a prompt longer than num_ctx had to be cut; shifts a full context unless shift is false', async () => {
    const long = 'And God said, Let there be light: and there was light. '.repeat(12);
    const opts = { num_ctx: 64, num_predict: 100, temperature: 0 };
    const r = await post('/api/generate', { model: 'kjv', prompt: long, raw: true, stream: false, shift: false, options: opts });
    const o = (await r.json()) as Record<string, number | string>;
    expect(o.prompt_truncated).toBeGreaterThan(0);
    expect(Number(o.prompt_eval_count) + Number(o.prompt_truncated)).toBeGreaterThan(64);
    expect(o.done_reason).toBe('length');
    // shift false: the answer ends when the cache is full (it holds the prompt and every generated token but the last)
    expect(Number(o.prompt_eval_count) + Number(o.eval_count) - 1).toBe(64);
    expect(d.log()).toMatch(new RegExp(`kjv:latest: the prompt was \\d+ tokens, more than num_ctx 64 allows; ${o.prompt_truncated} tokens were dropped`));
    // the default, as Ollama: the context shifts and the answer goes on to num_predict
    const shifted = (await (await post('/api/generate', { model: 'kjv', prompt: long, raw: true, stream: false, options: opts })).json()) as Record<string, number | string>;
    expect(shifted).toMatchObject({ done_reason: 'length', eval_count: 100 });
    expect(String(shifted.response).length).toBeGreaterThan(String(o.response).length);
    const short = (await (await post('/api/generate', { model: 'kjv', prompt: 'In', raw: true, stream: false, options: { num_ctx: 64, num_predict: 1 } })).json()) as Record<string, unknown>;
    expect(short).not.toHaveProperty('prompt_truncated');
  });

  it('chats, streaming and not, through the GGUF chat template', async () => {
    const messages = [{ role: 'user', content: 'Who made the heaven and the earth?' }];
    const r = await ollama.chat({ model: 'kjv', messages, options: greedy });
    expect(r.message.role).toBe('assistant');
    expect(r.message.content.length).toBeGreaterThan(10);
    expect(r.done_reason).toBe('length');
    expect(r.eval_count).toBe(24);
    let text = '';
    let final: Awaited<ReturnType<typeof ollama.chat>> | undefined;
    for await (const p of await ollama.chat({ model: 'kjv', messages, options: greedy, stream: true })) {
      text += p.message.content;
      if (p.done) final = p;
    }
    expect(text).toBe(r.message.content);
    // the same messages again: the cache holds the prompt, only its last token is evaluated (for its logits)
    expect(final?.prompt_eval_count).toBe(1);
    // the template wraps the turn: far more tokens than the words
    expect(r.prompt_eval_count).toBeGreaterThan(12);
  });

  it('fits a conversation longer than the context by dropping its oldest messages', async () => {
    const turns = Array.from({ length: 20 }, (_, i) => ({ role: i % 2 ? 'assistant' : 'user', content: 'And the LORD spake unto Moses, saying, '.repeat(3) }));
    const messages = [{ role: 'system', content: 'Thou art the scribe.' }, ...turns, { role: 'user', content: 'Amen' }];
    const r = await ollama.chat({ model: 'kjv', messages, options: { temperature: 0, num_predict: 8 } });
    expect(r.prompt_eval_count).toBeLessThan(256);
    expect(r.prompt_eval_count).toBeGreaterThan(128); // whole messages dropped, not half the window cut
    expect(r.eval_count).toBe(8);
  });

  it('embeds a string and an array (unit vectors, one per input), and through the legacy endpoint', async () => {
    const one = await ollama.embed({ model: 'kjv', input: 'In the beginning' });
    expect(one.embeddings).toHaveLength(1);
    expect(one.embeddings[0]).toHaveLength(256);
    const norm = Math.hypot(...one.embeddings[0]);
    expect(norm).toBeCloseTo(1, 4);
    const two = await ollama.embed({ model: 'kjv', input: ['In the beginning', 'Jesus wept'] });
    expect(two.embeddings).toHaveLength(2);
    expect(two.embeddings[0]).toEqual(one.embeddings[0]);
    expect(two.embeddings[1]).not.toEqual(two.embeddings[0]);
    expect(two.prompt_eval_count).toBeGreaterThan(one.prompt_eval_count);
    const legacy = await ollama.embeddings({ model: 'kjv', prompt: 'In the beginning' });
    expect(legacy.embedding).toHaveLength(256);
    const long = 'and the LORD said '.repeat(200);
    await expect(ollama.embed({ model: 'kjv', input: long, truncate: false })).rejects.toThrow(/exceeds the context length/);
    expect((await ollama.embed({ model: 'kjv', input: long })).embeddings[0]).toHaveLength(256);
  });

  it('refuses images for a text-only model, tools for a template without them, and bad options, with 400', async () => {
    const img = await post('/api/generate', { model: 'kjv', prompt: 'x', images: ['aGVsbG8='] });
    expect(img.status).toBe(400);
    expect((await img.json()).error).toMatch(/does not support image input/);
    const tools = await post('/api/chat', {
      model: 'kjv',
      messages: [{ role: 'user', content: 'x' }],
      tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'object', properties: {} } } }],
    });
    expect(tools.status).toBe(400);
    expect((await tools.json()).error).toMatch(/does not support tools/);
    const opt = await post('/api/generate', { model: 'kjv', prompt: 'x', options: { temperature: 'hot' } });
    expect(opt.status).toBe(400);
    const ctx = await post('/api/generate', { model: 'kjv', prompt: 'x', context: [1, 99999] });
    expect(ctx.status).toBe(400);
    expect((await ctx.json()).error).toMatch(/context must be an array of token ids of this model \(0\.\.1999\)/);
    const missing = await post('/api/chat', { model: 'nope', messages: [{ role: 'user', content: 'x' }] });
    expect(missing.status).toBe(404);
    expect(await missing.json()).toEqual({ error: "model 'nope' not found" });
  });

  it('renders tools through an Ollama template that has them (capability "tools" in show)', async () => {
    expect((await ollama.show({ model: 'kjv-tools' })).capabilities).toEqual(['completion', 'tools']);
    expect((await ollama.show({ model: 'kjv' })).capabilities).toEqual(['completion']);
    const tools = [{ type: 'function', function: { name: 'get_weather', description: 'Weather of a city', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }];
    const withTools = await ollama.chat({ model: 'kjv-tools', messages: [{ role: 'user', content: 'Weather in Paris?' }], tools, options: greedy });
    const without = await ollama.chat({ model: 'kjv-tools', messages: [{ role: 'user', content: 'Weather in Paris?' }], options: greedy });
    expect(withTools.prompt_eval_count).toBeGreaterThan(without.prompt_eval_count + 20);
    expect(withTools.message.content.length + (withTools.message.tool_calls?.length ?? 0)).toBeGreaterThan(0);
  });
});

describe('constrained output (format)', () => {
  it('format "json" always gives a JSON object; a schema gives a document that validates', async () => {
    for (const seed of [1, 2, 3]) {
      const r = await ollama.generate({ model: 'kjv', prompt: 'In the beginning', format: 'json', options: { seed, num_predict: 400, num_ctx: 1024 } });
      if (r.done_reason === 'stop') expect(typeof JSON.parse(r.response)).toBe('object');
      else expect(r.response.startsWith('{')).toBe(true); // cut by num_predict: a prefix of JSON
    }
    const schema = {
      type: 'object',
      properties: { book: { enum: ['Genesis', 'Exodus'] }, chapter: { type: 'integer' }, verse: { type: 'string', maxLength: 40 } },
      required: ['book', 'chapter', 'verse'],
    };
    const c = await ollama.chat({ model: 'kjv', messages: [{ role: 'user', content: 'Name a verse' }], format: schema, options: { seed: 7, num_predict: 200 } });
    const v = JSON.parse(c.message.content);
    expect(Object.keys(v)).toEqual(['book', 'chapter', 'verse']);
    expect(['Genesis', 'Exodus']).toContain(v.book);
    expect(Number.isInteger(v.chapter)).toBe(true);
    expect(v.verse.length).toBeLessThanOrEqual(40);
    const bad = await post('/api/generate', { model: 'kjv', prompt: 'x', format: { type: 'string', pattern: 'a+' } });
    expect(bad.status).toBe(400);
    expect((await bad.json()).error).toMatch(/'pattern' keyword is not supported/);
  });

  it('a schema for a call of an offered tool comes back as message.tool_calls', async () => {
    const tools = [{ type: 'function', function: { name: 'get_weather', description: 'Weather of a city', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }];
    const call = {
      type: 'object',
      properties: { name: { const: 'get_weather' }, arguments: { type: 'object', properties: { city: { type: 'string', maxLength: 20 } } } },
    };
    const r = await ollama.chat({ model: 'kjv-tools', messages: [{ role: 'user', content: 'Weather in Paris?' }], tools, format: call, options: { seed: 3, num_predict: 120 } });
    expect(r.message.content).toBe('');
    expect(r.message.tool_calls).toHaveLength(1);
    expect(r.message.tool_calls![0].function.name).toBe('get_weather');
    expect(typeof r.message.tool_calls![0].function.arguments.city).toBe('string');
  });
});

describe('scheduling', () => {
  it('lists the loaded model in ps, unloads it with keep_alive 0, keeps it forever with -1', async () => {
    await ollama.generate({ model: 'kjv', prompt: '', keep_alive: '10m' });
    let { models } = await ollama.ps();
    const kjv = models.find((m) => m.name === 'kjv:latest')!;
    expect(kjv).toBeDefined();
    expect(kjv.size).toBeGreaterThan(10_000_000);
    expect(kjv.size_vram).toBe(0);
    expect((kjv as unknown as { context_length: number }).context_length).toBe(256);
    const left = new Date(kjv.expires_at).getTime() - Date.now();
    expect(left).toBeGreaterThan(9 * 60_000);
    expect(left).toBeLessThanOrEqual(10 * 60_000);

    const un = await ollama.generate({ model: 'kjv', prompt: '', keep_alive: 0 });
    expect(un.done_reason).toBe('unload');
    ({ models } = await ollama.ps());
    expect(models.filter((m) => m.name === 'kjv:latest' && (m as unknown as { context_length: number }).context_length === 256)).toEqual([]);

    const load = await ollama.generate({ model: 'kjv', prompt: '', keep_alive: -1 });
    expect(load.done_reason).toBe('load');
    ({ models } = await ollama.ps());
    expect(new Date(models.find((m) => m.name === 'kjv:latest')!.expires_at).getFullYear()).toBeGreaterThan(2200);
  });

  it('num_thread reloads the runner with that many native threads, as Ollama does; a bad value is a 400', async () => {
    const loads = (n: number) => d.log().match(new RegExp(`loaded kjv:latest \\(context \\d+, \\d+ slots?, ${n} threads?[,;]`, 'g'))?.length ?? 0;
    const before = [loads(1), loads(2)];
    const one = await ollama.generate({ model: 'kjv', prompt: 'In the beginning', options: { ...greedy, num_thread: 1 } });
    expect(loads(1)).toBe(before[0] + 1);
    // the same value again: the loaded runner serves it
    await ollama.generate({ model: 'kjv', prompt: 'In the beginning', options: { ...greedy, num_thread: 1 } });
    expect(loads(1)).toBe(before[0] + 1);
    const two = await ollama.generate({ model: 'kjv', prompt: 'In the beginning', options: { ...greedy, num_thread: 2 } });
    expect(loads(2)).toBe(before[1] + 1);
    expect(two.response).toBe(one.response);
    for (const bad of [-1, 1.5, 5000, 'many']) {
      const r = await post('/api/generate', { model: 'kjv', prompt: 'x', stream: false, options: { num_thread: bad } });
      expect(r.status).toBe(400);
      expect(((await r.json()) as { error: string }).error).toMatch(/num_thread/);
    }
  });

  it('serves two clients at once; both finish', async () => {
    const opts = { temperature: 0, num_predict: 60 };
    const [a, b] = await Promise.all([
      ollama.generate({ model: 'kjv', prompt: 'In the beginning', options: opts }),
      new Ollama({ host: d.url }).chat({ model: 'kjv', messages: [{ role: 'user', content: 'Jesus wept' }], options: opts }),
    ]);
    expect(a.eval_count).toBe(60);
    expect(b.eval_count).toBe(60);
    expect(a.done && b.done).toBe(true);
  });

  it('answers 503 when the slots are busy and the queue is full; a disconnect frees its slot within 100 ms', async () => {
    const acA = new AbortController();
    const acB = new AbortController();
    const a = await post('/api/generate', { model: 'kjv', prompt: 'In the beginning', options: LONG }, acA.signal);
    const b = await post('/api/generate', { model: 'kjv', prompt: 'And God said', options: LONG }, acB.signal);
    expect(a.status).toBe(200);
    expect(b.status).toBe(200);
    // both are generating
    await readLines(a, (_, n) => n >= 3);
    await readLines(b, (_, n) => n >= 3);
    // the third waits in the queue (KILN_MAX_QUEUE=1) ...
    const acC = new AbortController();
    let cAt = 0;
    const c = post('/api/generate', { model: 'kjv', prompt: 'Jesus wept', options: { ...LONG, num_predict: 5 } }, acC.signal).then((r) => {
      cAt = performance.now();
      return r;
    });
    await new Promise((r) => setTimeout(r, 100));
    expect(cAt).toBe(0);
    // ... and the fourth is turned away
    const full = await post('/api/generate', { model: 'kjv', prompt: 'x', options: LONG });
    expect(full.status).toBe(503);
    expect((await full.json()).error).toMatch(/server busy/);

    // A client hangs up: its slot goes to the queued request at once.
    const t0 = performance.now();
    acA.abort();
    const cr = await c;
    const freedMs = cAt - t0;
    expect(cr.status).toBe(200);
    console.log(`slot freed for the queued request ${freedMs.toFixed(1)} ms after the disconnect`);
    expect(freedMs).toBeLessThan(100);
    const cLines = await readLines(cr);
    expect(cLines.at(-1)).toMatchObject({ done: true, eval_count: 5 });
    acB.abort();
  });

  it('a runner killed with SIGKILL mid-generation fails its request clearly; the daemon stays up and the next request restarts it', async () => {
    const res = await post('/api/generate', { model: 'kjv', prompt: 'In the beginning', options: LONG });
    await readLines(res, (_, n) => n >= 2);
    const pids = runnerPids();
    expect(pids.length).toBeGreaterThan(0);
    for (const pid of pids) process.kill(pid, 'SIGKILL');
    const rest = await readLines(res);
    expect(rest.at(-1)?.error).toMatch(/model runner for kjv:latest was killed by SIGKILL; it is restarted on the next request/);
    expect((await fetch(`${d.url}/api/version`)).status).toBe(200);
    const again = await ollama.generate({ model: 'kjv', prompt: 'In the beginning', options: greedy });
    expect(again.eval_count).toBe(24);
    expect(runnerPids().some((p) => !pids.includes(p))).toBe(true);
  });
});
