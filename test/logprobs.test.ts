/**
 * Log-probabilities end to end: the real daemon on kjv, through /api/generate,
 * /api/chat and the OpenAI routes (with the official `openai` client), and
 * the values against llama.cpp's (node-llama-cpp, pinned) on the same F32
 * file, both sides with an f16 KV cache (the daemon always uses one, as
 * llama.cpp does by default) and the same order of evaluation (the prompt
 * as a batch, then token by token): every probability within 1e-4 of
 * llama.cpp's. The two forward passes differ in the last bits of some float
 * sums, which moves a log-probability by up to ~3e-4 here; against kiln's
 * own logits, evaluated the same way in-process, the values are exact.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import OpenAI from 'openai';
import { Ollama } from 'ollama';
import { readGGUFFileSync } from '../engine/gguf/index.js';
import { Model } from '../engine/model/model.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanup, startDaemon, type RunningDaemon } from './helpers/daemon.js';
import { KJV_F32, KJV_GOLDEN } from './helpers/fixtures.js';
import { withSequence } from './helpers/decoder-oracle.js';
import { load, oracle, stepDistributions } from './helpers/llama-cpp.js';

const TOL = 1e-4;
const nVocab = (readGGUFFileSync(KJV_F32).kv.get('tokenizer.ggml.tokens')!.value as unknown[]).length;
const golden = (JSON.parse(readFileSync(KJV_GOLDEN, 'utf8')) as { prompts: { prompt: string }[] }).prompts;

let d: RunningDaemon;
let openai: OpenAI;

interface Lp {
  token: string;
  logprob: number;
  bytes: number[];
  top_logprobs?: { token: string; logprob: number; bytes: number[] }[];
}

/**
 * The same answer's entries from two requests: the same tokens, bytes and
 * alternatives, the numbers within float error. The second request finds its
 * prompt in the prompt cache and evaluates a shorter batch, and a batch's F16
 * matmuls sum in another order than one token's (as llama.cpp's do).
 */
function expectSameLogprobs(got: Lp[] | undefined, want: Lp[]): void {
  const shape = (l: Lp[]) => l.map((e) => ({ token: e.token, bytes: e.bytes, top: e.top_logprobs?.map((t) => [t.token, t.bytes]) }));
  expect(got).toBeDefined();
  expect(shape(got!)).toEqual(shape(want));
  for (let i = 0; i < want.length; i++) {
    expect(Math.abs(got![i].logprob - want[i].logprob)).toBeLessThan(1e-3);
    want[i].top_logprobs?.forEach((t, j) => expect(Math.abs(got![i].top_logprobs![j].logprob - t.logprob)).toBeLessThan(1e-3));
  }
}

beforeAll(async () => {
  d = await startDaemon();
  openai = new OpenAI({ baseURL: `${d.url}/v1`, apiKey: 'kiln', maxRetries: 0 });
  const bytes = readFileSync(KJV_F32);
  const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
  expect((await fetch(`${d.url}/api/blobs/${digest}`, { method: 'POST', body: bytes })).status).toBe(201);
  await new Ollama({ host: d.url }).create({ model: 'kjv32', files: { 'kjv-f32.gguf': digest }, template: '{{ .Prompt }}', parameters: { num_ctx: 256 } } as never);
}, 60_000);

afterAll(async () => {
  await d?.stop();
  if (d) cleanup(d.home);
  await (await oracle()).dispose();
});

function post(path: string, body: unknown): Promise<Response> {
  return fetch(`${d.url}${path}`, { method: 'POST', body: JSON.stringify(body) });
}

/** The k largest values, largest first. */
function topValues(a: Float64Array, k: number): number[] {
  return Array.from(a)
    .sort((x, y) => y - x)
    .slice(0, k);
}

describe("the model's own log-probabilities, against llama.cpp on kjv-f32", () => {
  const N = 16;
  const TOP = 5;
  let worstDp = 0;
  let worstLogp = 0;
  afterAll(() => console.log(`\nlogprobs vs llama.cpp on kjv-f32: max |Δp| ${worstDp.toExponential(2)}, max |Δ logprob| ${worstLogp.toExponential(2)}`));

  it.each([
    ['greedy', { temperature: 0 }],
    // the values are read before any sampling transform: penalties and truncation change the tokens, not the numbers
    ['greedy with a repeat penalty and top_k', { temperature: 0, repeat_penalty: 1.8, repeat_last_n: 16, top_k: 3 }],
  ])(`%s: each token's probability and the top ${TOP} within ${TOL} of llama.cpp's; kiln's own log-softmax to float error`, async (_, options) => {
    const theirs = await load(KJV_F32);
    const ours = await Model.load(KJV_F32, { nCtx: 256, kvF16: true });
    try {
      for (const g of golden.slice(0, 4)) {
        const r = await (await post('/api/generate', { model: 'kjv32', prompt: g.prompt, raw: true, stream: false, logprobs: true, top_logprobs: TOP, options: { ...options, num_predict: N } })).json();
        const lps = r.logprobs as Lp[];
        const seq = r.context as number[];
        expect(lps).toHaveLength(N);
        expect(lps.map((l) => l.token).join('')).toBe(r.response);
        const P = seq.length - N;
        // as the daemon evaluates them: the prompt as one batch, then token by token
        const dists = await withSequence(() => stepDistributions(theirs, seq.slice(0, P), seq.slice(P), nVocab));
        ours.native.truncate(0);
        let logits = ours.native.eval(seq.slice(0, P), 0);
        for (let i = 0; i < N; i++) {
          const tok = seq[P + i];
          // llama.cpp's probabilities (its forward pass differs from kiln's in the last bits of a float sum)
          const q = dists[i];
          expect(Math.abs(Math.exp(lps[i].logprob) - q[tok])).toBeLessThan(TOL);
          const want = topValues(q, TOP);
          const got = lps[i].top_logprobs!.map((t) => Math.exp(t.logprob));
          expect(got).toHaveLength(TOP);
          got.forEach((v, k) => expect(Math.abs(v - want[k])).toBeLessThan(TOL));
          worstDp = Math.max(worstDp, Math.abs(Math.exp(lps[i].logprob) - q[tok]), ...got.map((v, k) => Math.abs(v - want[k])));
          worstLogp = Math.max(worstLogp, Math.abs(lps[i].logprob - Math.log(q[tok])));
          // kiln's own logits: the log-softmax, untouched by the sampler, to float error (the daemon
          // finds an earlier request's prefix in its prompt cache and evaluates the rest as a shorter
          // batch, and a batch's F32 sums follow llama.cpp's gemm order, one token's its dot order)
          const own = logSoftmax(logits);
          expect(Math.abs(lps[i].logprob - own[tok])).toBeLessThan(1e-4);
          lps[i].top_logprobs!.forEach((t, k) => expect(Math.abs(t.logprob - topValues(own, TOP)[k])).toBeLessThan(1e-4));
          logits = ours.native.eval([tok], P + i);
        }
      }
    } finally {
      ours.close();
      await theirs.dispose();
    }
  }, 120_000);
});

function logSoftmax(l: Float32Array): Float64Array {
  let max = -Infinity;
  for (const x of l) max = Math.max(max, x);
  let s = 0;
  for (const x of l) s += Math.exp(x - max);
  const lse = max + Math.log(s);
  return Float64Array.from(l, (x) => x - lse);
}

describe('logprobs in every shape', () => {
  const options = { temperature: 0, num_predict: 12 };

  it('/api/chat streams each token\'s entry with the piece it completes; the whole answer has them all', async () => {
    const body = { model: 'kjv', messages: [{ role: 'user', content: 'In the beginning' }], logprobs: true, top_logprobs: 2, options };
    const res = await post('/api/chat', body);
    const lines = (await res.text()).trim().split('\n').map((l) => JSON.parse(l));
    const streamed = lines.flatMap((l) => (l.logprobs ?? []) as Lp[]);
    const content = lines.map((l) => l.message.content).join('');
    expect(streamed).toHaveLength(lines.at(-1).eval_count);
    expect(streamed.map((l) => l.token).join('')).toBe(content);
    for (const l of streamed) {
      expect(l.logprob).toBeLessThanOrEqual(0);
      expect(Buffer.from(l.bytes).toString()).toBe(l.token);
      expect(l.top_logprobs).toHaveLength(2);
      expect(l.top_logprobs![0].logprob).toBeGreaterThanOrEqual(l.top_logprobs![1].logprob);
    }
    const whole = await (await post('/api/chat', { ...body, stream: false })).json();
    expectSameLogprobs(whole.logprobs, streamed);
    // without the field: no logprobs at all
    const plain = await (await post('/api/chat', { ...body, logprobs: undefined, top_logprobs: undefined, stream: false })).json();
    expect(plain.logprobs).toBeUndefined();
    // top_logprobs alone asks for them; an explicit logprobs false does not
    const implied = await (await post('/api/chat', { ...body, logprobs: undefined, stream: false })).json();
    expectSameLogprobs(implied.logprobs, streamed);
    const off = await (await post('/api/chat', { ...body, logprobs: false, stream: false })).json();
    expect(off.logprobs).toBeUndefined();
    // /api/generate, without top_logprobs: the chosen tokens only
    const gen = await (await post('/api/generate', { model: 'kjv', prompt: 'In the beginning', logprobs: true, stream: false, options })).json();
    expect(gen.logprobs).toHaveLength(12);
    expect(gen.logprobs[0].top_logprobs).toBeUndefined();
  });

  it('/v1/chat/completions: choices[0].logprobs.content, streamed and not, through the openai client', async () => {
    const params = { model: 'kjv', messages: [{ role: 'user' as const, content: 'And God said' }], max_tokens: 10, temperature: 0, logprobs: true, top_logprobs: 3 };
    const r = await openai.chat.completions.create(params);
    const content = r.choices[0].logprobs!.content!;
    expect(content).toHaveLength(r.usage!.completion_tokens);
    expect(content.map((c) => c.token).join('')).toBe(r.choices[0].message.content);
    for (const c of content) {
      expect(c.top_logprobs).toHaveLength(3);
      expect(c.bytes).toEqual([...Buffer.from(c.token)]);
      expect(c.top_logprobs[0].logprob).toBeGreaterThanOrEqual(c.logprob);
    }
    const streamed: typeof content = [];
    for await (const c of await openai.chat.completions.create({ ...params, stream: true })) streamed.push(...(c.choices[0]?.logprobs?.content ?? []));
    expectSameLogprobs(streamed as Lp[], content as Lp[]);
    // logprobs not asked for: null, as OpenAI answers
    const none = await openai.chat.completions.create({ ...params, logprobs: undefined, top_logprobs: undefined });
    expect(none.choices[0].logprobs).toBeNull();
  });

  it('/v1/completions: the legacy tokens / token_logprobs / top_logprobs / text_offset', async () => {
    const r = await openai.completions.create({ model: 'kjv', prompt: 'In the beginning', max_tokens: 8, temperature: 0, logprobs: 2 });
    const lp = r.choices[0].logprobs!;
    expect(lp.tokens).toHaveLength(8);
    expect(lp.tokens!.join('')).toBe(r.choices[0].text);
    expect(lp.token_logprobs!.every((v) => v <= 0)).toBe(true);
    expect(lp.top_logprobs!.every((t) => Object.keys(t).length >= 1 && Object.keys(t).length <= 2)).toBe(true);
    expect(lp.text_offset![0]).toBe(0);
    expect(lp.text_offset![1]).toBe(lp.tokens![0].length);
    let streamed: string[] = [];
    for await (const c of await openai.completions.create({ model: 'kjv', prompt: 'In the beginning', max_tokens: 8, temperature: 0, logprobs: 2, stream: true })) {
      streamed = streamed.concat(c.choices[0]?.logprobs?.tokens ?? []);
    }
    expect(streamed).toEqual(lp.tokens);
  });

  it.each([
    ['/api/generate', { logprobs: 'yes' }, /logprobs: expected a boolean/],
    ['/api/chat', { top_logprobs: 21 }, /top_logprobs: must be at most 20/],
    ['/api/chat', { top_logprobs: -1 }, /top_logprobs: must be at least 0/],
    ['/api/generate', { top_logprobs: 2.5 }, /top_logprobs: expected an integer/],
    ['/v1/chat/completions', { logprobs: 1 }, /logprobs: expected a boolean/],
    ['/v1/chat/completions', { logprobs: true, top_logprobs: 30 }, /top_logprobs: must be at most 20/],
    ['/v1/chat/completions', { top_logprobs: 2 }, /top_logprobs: requires logprobs to be true/],
    ['/v1/completions', { logprobs: true }, /logprobs: expected an integer/],
    ['/v1/completions', { logprobs: 21 }, /logprobs: must be at most 20/],
  ])('%s %j → 400', async (path, extra, message) => {
    const base = path === '/api/generate' ? { prompt: 'x' } : path === '/v1/completions' ? { prompt: 'x' } : { messages: [{ role: 'user', content: 'x' }] };
    const r = await post(path, { model: 'kjv', stream: false, ...base, ...extra });
    expect(r.status).toBe(400);
    const body = await r.json();
    expect(typeof body.error === 'string' ? body.error : body.error.message).toMatch(message);
  });

  it('the daemon is still up', async () => {
    expect((await fetch(`${d.url}/api/version`)).status).toBe(200);
  });
});
