/**
 * A model's profile (its Modelfile PARAMETERs) applies on every surface:
 * OpenAI's and Anthropic's clients cannot send Ollama's `options`, so
 * num_ctx, sampling defaults and think come from the model there too.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Anthropic from '@anthropic-ai/sdk';
import { Ollama } from 'ollama';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanup, kiln, ROOT, startDaemon, type RunningDaemon } from './helpers/daemon.js';

let d: RunningDaemon;
let ollama: Ollama;
let openai: OpenAI;
let anthropic: Anthropic;
let dir: string;

const R1_OPEN = readFileSync(join(ROOT, 'engine', 'template', 'fixtures', 'deepseek-r1.gotmpl'), 'utf8').replace(
  '{{- if and $.IsThinkSet (not $.Think) -}}',
  '{{- if $.Think }}<think>\n{{ else if $.IsThinkSet -}}',
);

beforeAll(async () => {
  d = await startDaemon();
  ollama = new Ollama({ host: d.url });
  openai = new OpenAI({ baseURL: `${d.url}/v1`, apiKey: 'kiln', maxRetries: 0 });
  anthropic = new Anthropic({ baseURL: d.url, apiKey: 'kiln', maxRetries: 0 });
  dir = mkdtempSync(join(tmpdir(), 'kiln-profile-'));
  writeFileSync(join(dir, 'Modelfile'), 'FROM kjv\nPARAMETER num_ctx 8192\nPARAMETER num_predict 5\n');
  expect((await kiln(['create', 'kjv-8k', '-f', join(dir, 'Modelfile')], d.env)).code).toBe(0);
  await ollama.create({ model: 'r1-open', from: 'kjv', template: R1_OPEN });
  writeFileSync(join(dir, 'Quiet'), 'FROM r1-open\nPARAMETER think false\n');
  expect((await kiln(['create', 'r1-quiet', '-f', join(dir, 'Quiet')], d.env)).code).toBe(0);
});

afterAll(async () => {
  await d?.stop();
  if (d) cleanup(d.home);
  if (dir) cleanup(dir);
});

/** The loaded model's context length (GET /api/ps), then unloads it so the next surface loads it afresh. */
async function loadedContext(model: string): Promise<number | undefined> {
  const ps = await ollama.ps();
  const n = ps.models.find((m) => m.name === `${model}:latest`)?.context_length;
  await ollama.generate({ model, prompt: '', keep_alive: 0 });
  expect((await ollama.ps()).models).toEqual([]);
  return n;
}

describe('PARAMETERs on every surface', () => {
  it('PARAMETER num_ctx 8192 is the context through /v1/chat/completions, /v1/completions, /v1/responses and /v1/messages', async () => {
    const chat = await openai.chat.completions.create({ model: 'kjv-8k', messages: [{ role: 'user', content: 'In the beginning' }] });
    // num_predict 5 is the default length where the client sends none
    expect(chat.usage!.completion_tokens).toBe(5);
    expect(await loadedContext('kjv-8k')).toBe(8192);

    const completion = await openai.completions.create({ model: 'kjv-8k', prompt: 'In the beginning' });
    expect(completion.usage!.completion_tokens).toBe(5);
    expect(await loadedContext('kjv-8k')).toBe(8192);

    const response = await openai.responses.create({ model: 'kjv-8k', input: 'In the beginning' });
    expect(response.usage!.output_tokens).toBe(5);
    expect(await loadedContext('kjv-8k')).toBe(8192);

    // Anthropic's max_tokens is required, and wins over the profile's num_predict
    const message = await anthropic.messages.create({ model: 'kjv-8k', max_tokens: 3, messages: [{ role: 'user', content: 'In the beginning' }] });
    expect(message.usage.output_tokens).toBe(3);
    expect(await loadedContext('kjv-8k')).toBe(8192);

    // a model without the PARAMETER gets the default (kjv's trained length, below KILN_CONTEXT_LENGTH)
    await openai.chat.completions.create({ model: 'kjv', messages: [{ role: 'user', content: 'x' }], max_tokens: 1 });
    expect(await loadedContext('kjv')).toBeLessThan(8192);
  });

  it('PARAMETER think false: a thinking model answers without reasoning on every surface unless the request asks', async () => {
    type WithReasoning = { reasoning?: string };
    const ask = { messages: [{ role: 'user' as const, content: 'In the beginning' }], max_tokens: 8, temperature: 0 };
    const quiet = await openai.chat.completions.create({ model: 'r1-quiet', ...ask });
    expect((quiet.choices[0].message as WithReasoning).reasoning).toBeUndefined();
    expect(quiet.choices[0].message.content!.length).toBeGreaterThan(0);
    // the same model without the profile thinks
    const thinking = await openai.chat.completions.create({ model: 'r1-open', ...ask });
    expect((thinking.choices[0].message as WithReasoning).reasoning!.length).toBeGreaterThan(0);
    // the request wins over the profile
    const asked = await openai.chat.completions.create({ model: 'r1-quiet', ...ask, reasoning_effort: 'low' });
    expect((asked.choices[0].message as WithReasoning).reasoning!.length).toBeGreaterThan(0);

    const r = await openai.responses.create({ model: 'r1-quiet', input: 'In the beginning', max_output_tokens: 8, temperature: 0 });
    expect(r.output.map((o) => o.type)).toEqual(['message']);
    const m = await anthropic.messages.create({ model: 'r1-quiet', ...ask });
    expect(m.content.map((b) => b.type)).toEqual(['text']);
    const n = await ollama.chat({ model: 'r1-quiet', ...ask, options: { num_predict: 8, temperature: 0 } });
    expect(n.message.thinking).toBeUndefined();
  });
});
