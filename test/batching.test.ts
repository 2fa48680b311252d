/**
 * Continuous batching and the prompt cache through the real daemon and the
 * official clients: concurrent streams give what the same requests give one
 * at a time, /api/ps shows the slots in use, a cancelled stream leaves the
 * others alone, and a long chat evaluates only what each turn adds, with
 * another client in between and across an unload.
 */
import OpenAI from 'openai';
import { Ollama, type Message } from 'ollama';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanup, startDaemon, type RunningDaemon } from './helpers/daemon.js';

const PROMPTS = ['In the beginning', 'And God said', 'The LORD is my shepherd', 'And Moses spake unto'];

let d: RunningDaemon;
let ollama: Ollama;
let openai: OpenAI;

beforeAll(async () => {
  d = await startDaemon(undefined, { KILN_NUM_PARALLEL: '4' });
  ollama = new Ollama({ host: d.url });
  openai = new OpenAI({ baseURL: `${d.url}/v1`, apiKey: 'kiln', maxRetries: 0 });
});

afterAll(async () => {
  await d?.stop();
  if (d) cleanup(d.home);
});

async function generateText(prompt: string, n = 40): Promise<string> {
  let text = '';
  for await (const c of await ollama.generate({ model: 'kjv', prompt, stream: true, options: { temperature: 0, num_predict: n } })) text += c.response;
  return text;
}

async function chatText(prompt: string, n = 40): Promise<string> {
  let text = '';
  const s = await openai.chat.completions.create({ model: 'kjv', messages: [{ role: 'user', content: prompt }], max_tokens: n, temperature: 0, stream: true });
  for await (const c of s) text += c.choices[0]?.delta.content ?? '';
  return text;
}

describe('continuous batching through the daemon', () => {
  it('4 concurrent ollama streams at temperature 0 equal the same requests run one at a time, with 4 slots in use in /api/ps', async () => {
    const alone: string[] = [];
    for (const p of PROMPTS) alone.push(await generateText(p, 200));
    let inUse = 0;
    let done = false;
    const watch = (async () => {
      while (!done && inUse < 4) {
        const ps = await fetch(`${d.url}/api/ps`).then((r) => r.json() as Promise<{ models: { slots?: { total: number; in_use: number } }[] }>);
        const s = ps.models[0]?.slots;
        if (s) {
          expect(s.total).toBe(4);
          inUse = Math.max(inUse, s.in_use);
        }
        await new Promise((r) => setTimeout(r, 10));
      }
    })();
    const together = await Promise.all(PROMPTS.map((p) => generateText(p, 200)));
    done = true;
    await watch;
    expect(together).toEqual(alone);
    expect(inUse).toBe(4);
  });

  it('4 concurrent openai chat streams equal the same requests run one at a time', async () => {
    const alone: string[] = [];
    for (const p of PROMPTS) alone.push(await chatText(p));
    const together = await Promise.all(PROMPTS.map((p) => chatText(p)));
    expect(together).toEqual(alone);
  });

  it('cancelling one stream does not disturb the others', async () => {
    const alone: string[] = [];
    for (const p of PROMPTS.slice(0, 3)) alone.push(await generateText(p, 60));
    const cancelled = (async () => {
      const stream = await ollama.generate({ model: 'kjv', prompt: PROMPTS[3], stream: true, options: { temperature: 0, num_predict: 500 } });
      let n = 0;
      try {
        for await (const _ of stream) if (++n === 3) stream.abort();
      } catch (e) {
        return (e as Error).name;
      }
      return 'not aborted';
    })();
    const [name, ...rest] = await Promise.all([cancelled, ...PROMPTS.slice(0, 3).map((p) => generateText(p, 60))]);
    expect(name).toBe('AbortError');
    expect(rest).toEqual(alone);
    // the slot came back: four more at once still run
    expect((await Promise.all(PROMPTS.map((p) => generateText(p, 4)))).every((t) => t.length > 0)).toBe(true);
  });
});

describe('prompt cache through the daemon', () => {
  let one: RunningDaemon;
  let client: Ollama;
  beforeAll(async () => {
    // one slot: the other client's requests take the very slot the chat used
    one = await startDaemon(undefined, { KILN_NUM_PARALLEL: '1' });
    client = new Ollama({ host: one.url });
  });
  afterAll(async () => {
    await one?.stop();
    if (one) cleanup(one.home);
  });

  const tokenize = async (messages: Message[]): Promise<number[]> => {
    const r = await fetch(`${one.url}/api/tokenize`, { method: 'POST', body: JSON.stringify({ model: 'kjv', messages }) });
    return ((await r.json()) as { tokens: number[] }).tokens;
  };

  it('a 6-turn chat reaching ~2,000 tokens evaluates only what each turn adds, with another client in between and across an unload', async () => {
    const options = { temperature: 0, num_predict: 24, num_ctx: 4096 };
    const verse = 'and the earth was without form and void and darkness was upon the face of the deep ';
    const messages: Message[] = [];
    let before: number[] = [];
    let saved = 0;
    for (let turn = 0; turn < 6; turn++) {
      messages.push({ role: 'user', content: `Turn ${turn}: ${verse.repeat(18)}` });
      const prompt = await tokenize(messages);
      const r = await client.chat({ model: 'kjv', messages, options, keep_alive: '10m' });
      messages.push(r.message);
      if (turn === 0) {
        expect(r.prompt_eval_count).toBe(prompt.length);
      } else {
        // the earlier turns' tokens are a prefix of this prompt, and only what follows them is evaluated
        expect(prompt.slice(0, before.length)).toEqual(before);
        expect(r.prompt_eval_count).toBeLessThanOrEqual(prompt.length - before.length);
        expect(r.prompt_eval_count).toBeGreaterThan(200); // the new user message itself
        saved += prompt.length - r.prompt_eval_count;
      }
      before = prompt;
      // another client's conversation on the same (only) slot
      const other = await client.chat({ model: 'kjv', messages: [{ role: 'user', content: `Other ${turn}: the LORD spake unto Moses` }], options });
      expect(other.done).toBe(true);
      if (turn === 3) {
        // unloaded and loaded again: the prefixes come back with it
        const un = await client.generate({ model: 'kjv', prompt: '', keep_alive: 0, options: { num_ctx: 4096 } });
        expect(un.done_reason).toBe('unload');
        expect((await client.ps()).models).toHaveLength(0);
      }
    }
    expect(before.length).toBeGreaterThan(1800);
    expect(saved).toBeGreaterThan(3000);
  });
});
