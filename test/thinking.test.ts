/**
 * Thinking models end to end: the real daemon, the bundled kjv model dressed
 * in Ollama's published qwen3 / deepseek-r1 templates, and the official
 * `ollama` and `openai` clients. kjv never writes `</think>`, so the tests
 * lean on what it does do: with a prompt that ends inside `<think>`, all it
 * writes is reasoning; rendered with think=false, the prompt is exactly the
 * template's no-think form (checked against a raw request of that text).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ollama, type ChatResponse, type GenerateResponse } from 'ollama';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanup, ROOT, startDaemon, type RunningDaemon } from './helpers/daemon.js';

const published = (name: string) => readFileSync(join(ROOT, 'engine', 'template', 'fixtures', `${name}.gotmpl`), 'utf8');
const R1 = published('deepseek-r1');
const QWEN3 = published('qwen3');
/** deepseek-r1's template with the prompt left open inside `<think>` when thinking (as DeepSeek's own chat template does). */
const R1_OPEN = R1.replace('{{- if and $.IsThinkSet (not $.Think) -}}', '{{- if $.Think }}<think>\n{{ else if $.IsThinkSet -}}');

const OPTIONS = { temperature: 0, num_predict: 8 };
const QUESTION = 'In the beginning';

let d: RunningDaemon;
let ollama: Ollama;
let openai: OpenAI;

beforeAll(async () => {
  d = await startDaemon();
  ollama = new Ollama({ host: d.url });
  openai = new OpenAI({ baseURL: `${d.url}/v1`, apiKey: 'kiln', maxRetries: 0 });
  expect(R1_OPEN).not.toBe(R1);
  await ollama.create({ model: 'r1', from: 'kjv', template: R1 });
  await ollama.create({ model: 'r1-open', from: 'kjv', template: R1_OPEN });
  await ollama.create({ model: 'qwen3-kjv', from: 'kjv', template: QWEN3 });
});

afterAll(async () => {
  await d?.stop();
  if (d) cleanup(d.home);
});

/** What the model writes after `prompt`, unparsed: a raw request with thinking off. */
async function rawText(model: string, prompt: string): Promise<string> {
  const r = await ollama.generate({ model, prompt, raw: true, think: false, options: OPTIONS });
  expect(r.thinking).toBeUndefined();
  return r.response;
}

describe('thinking through the ollama client', () => {
  it('lists "thinking" among the capabilities of models whose template has thinking tags', async () => {
    expect((await ollama.show({ model: 'r1' })).capabilities).toEqual(['completion', 'thinking']);
    expect((await ollama.show({ model: 'qwen3-kjv' })).capabilities).toEqual(['completion', 'tools', 'thinking']);
    expect((await ollama.show({ model: 'kjv' })).capabilities).not.toContain('thinking');
  });

  it('streams everything the model writes after an opened <think> as message.thinking, content empty', async () => {
    const prompt = `<｜User｜>${QUESTION}<｜Assistant｜><think>\n`;
    const expected = (await rawText('r1-open', prompt)).trimStart();
    expect(expected.length).toBeGreaterThan(0);

    const parts: ChatResponse[] = [];
    for await (const p of await ollama.chat({ model: 'r1-open', messages: [{ role: 'user', content: QUESTION }], think: true, stream: true, options: OPTIONS })) parts.push(p);
    const pieces = parts.filter((p) => !p.done);
    expect(pieces.length).toBeGreaterThan(1); // streamed as produced, not at the end
    for (const p of pieces) expect(p.message.content).toBe('');
    expect(pieces.map((p) => p.message.thinking ?? '').join('')).toBe(expected);
    expect(parts.at(-1)).toMatchObject({ done: true, done_reason: 'length' });

    // not streamed: the same, merged; and an absent think means true for a thinking model, as in Ollama
    const whole = await ollama.chat({ model: 'r1-open', messages: [{ role: 'user', content: QUESTION }], options: OPTIONS });
    expect(whole.message).toMatchObject({ role: 'assistant', content: '', thinking: expected });
  });

  it('does the same on /api/generate, in the thinking field', async () => {
    const expected = (await rawText('r1-open', `<｜User｜>${QUESTION}<｜Assistant｜><think>\n`)).trimStart();
    const parts: GenerateResponse[] = [];
    for await (const p of await ollama.generate({ model: 'r1-open', prompt: QUESTION, think: 'high', stream: true, options: OPTIONS })) parts.push(p);
    expect(parts.filter((p) => !p.done).every((p) => p.response === '' && p.thinking)).toBe(true);
    expect(parts.map((p) => p.thinking ?? '').join('')).toBe(expected);
    const whole = await ollama.generate({ model: 'r1-open', prompt: QUESTION, think: true, options: OPTIONS });
    expect(whole).toMatchObject({ response: '', thinking: expected, done: true });
  });

  it('think=false renders the template without thinking and splits nothing off', async () => {
    // deepseek-r1: an empty think block after the assistant marker
    const r1Expected = await rawText('r1', `<｜User｜>${QUESTION}<｜Assistant｜><think>\n\n</think>\n\n`);
    const chat = await ollama.chat({ model: 'r1-open', messages: [{ role: 'user', content: QUESTION }], think: false, options: OPTIONS });
    expect(chat.message.thinking).toBeUndefined();
    expect(chat.message.content).toBe(r1Expected);
    // qwen3: its /no_think marker on the last user turn, and the empty think block
    const qwenExpected = await rawText('qwen3-kjv', `<|im_start|>user\n${QUESTION} /no_think<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n`);
    const gen = await ollama.generate({ model: 'qwen3-kjv', prompt: QUESTION, think: false, options: OPTIONS });
    expect(gen.thinking).toBeUndefined();
    expect(gen.response).toBe(qwenExpected);
    // and with thinking on, qwen3's /think marker; kjv does not open <think>, so it is all content
    const thinkExpected = await rawText('qwen3-kjv', `<|im_start|>user\n${QUESTION} /think<|im_end|>\n<|im_start|>assistant\n`);
    const on = await ollama.generate({ model: 'qwen3-kjv', prompt: QUESTION, think: true, options: OPTIONS });
    expect(on).toMatchObject({ response: thinkExpected });
    expect(on.thinking).toBeUndefined();
  });

  it('refuses think on a model without thinking tags, naming the model as Ollama does', async () => {
    await expect(ollama.chat({ model: 'kjv', messages: [{ role: 'user', content: 'x' }], think: true })).rejects.toMatchObject({ status_code: 400, error: '"kjv" does not support thinking' });
    await expect(ollama.generate({ model: 'kjv', prompt: 'x', think: 'low' })).rejects.toMatchObject({ status_code: 400, error: '"kjv" does not support thinking' });
    // false is fine, and so is leaving it out
    expect((await ollama.generate({ model: 'kjv', prompt: 'x', think: false, options: { num_predict: 2 } })).done).toBe(true);
    const bad = await fetch(`${d.url}/api/chat`, { method: 'POST', body: JSON.stringify({ model: 'r1', messages: [], think: 'max' }) });
    expect(bad.status).toBe(400);
    expect((await bad.json()).error).toContain('invalid think value: "max"');
  });
});

describe('thinking through the openai client', () => {
  type WithReasoning = { reasoning?: string };

  it('answers the reasoning in message.reasoning and delta.reasoning, as Ollama’s OpenAI layer does', async () => {
    const expected = (await rawText('r1-open', `<｜User｜>${QUESTION}<｜Assistant｜><think>\n`)).trimStart();
    const r = await openai.chat.completions.create({ model: 'r1-open', messages: [{ role: 'user', content: QUESTION }], max_tokens: 8, temperature: 0, reasoning_effort: 'low' });
    expect(r.choices[0].message.content).toBe('');
    expect((r.choices[0].message as WithReasoning).reasoning).toBe(expected);

    let reasoning = '';
    let content = '';
    for await (const c of await openai.chat.completions.create({ model: 'r1-open', messages: [{ role: 'user', content: QUESTION }], max_tokens: 8, temperature: 0, stream: true })) {
      reasoning += (c.choices[0]?.delta as WithReasoning | undefined)?.reasoning ?? '';
      content += c.choices[0]?.delta.content ?? '';
    }
    expect(reasoning).toBe(expected);
    expect(content).toBe('');
  });

  it('reasoning_effort "none" turns thinking off; a model without thinking refuses a level', async () => {
    const off = await openai.chat.completions.create({ model: 'r1-open', messages: [{ role: 'user', content: QUESTION }], max_tokens: 8, temperature: 0, reasoning_effort: 'none' });
    expect((off.choices[0].message as WithReasoning).reasoning).toBeUndefined();
    expect(off.choices[0].message.content!.length).toBeGreaterThan(0);
    await expect(openai.chat.completions.create({ model: 'kjv', messages: [{ role: 'user', content: 'x' }], reasoning_effort: 'high' })).rejects.toMatchObject({
      status: 400,
      message: expect.stringContaining('"kjv" does not support thinking'),
    });
  });
});
