/**
 * gpt-oss's "harmony" format end to end: the real daemon, the bundled kjv
 * model dressed in Ollama's published gpt-oss template, and the official
 * `ollama`, `openai` and Anthropic clients. kjv is a bible model: it never
 * writes a harmony tag, so the tests lean on what it does do. With the prompt
 * left open in the analysis channel (`<|start|>assistant<|channel|>analysis<|message|>`),
 * all it writes is reasoning, and equals what it writes after that very
 * prompt sent raw (to plain kjv, same weights, no parsing); under the
 * published template it writes verses where a header belongs, which is read
 * as content. Forced tool calls are there because the grammar wrote them in
 * harmony syntax (seen in the tokens the answer's logprobs report).
 * After `<|call|>` kjv ends its answer, as gpt-oss does (for which `<|call|>`
 * ends the turn), so these answers hold one call.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Anthropic from '@anthropic-ai/sdk';
import { Ollama, type ChatResponse } from 'ollama';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_PARALLEL_CALLS } from '../engine/grammar/tool-call.js';
import { cleanup, ROOT, startDaemon, type RunningDaemon } from './helpers/daemon.js';

const GPT_OSS = readFileSync(join(ROOT, 'engine', 'template', 'fixtures', 'gpt-oss.gotmpl'), 'utf8');
/** The published template with the prompt left open in the analysis channel, where a reasoning model starts. */
const OPEN_TAIL = '<|start|>assistant\n{{- end -}}';
const GPT_OSS_OPEN = GPT_OSS.replace(OPEN_TAIL, '<|start|>assistant<|channel|>analysis<|message|>\n{{- end -}}');

const OPTIONS = { temperature: 0, num_predict: 8 };
const QUESTION = 'In the beginning';
const messages = [{ role: 'user', content: QUESTION }];

let d: RunningDaemon;
let ollama: Ollama;
let openai: OpenAI;

beforeAll(async () => {
  d = await startDaemon();
  ollama = new Ollama({ host: d.url });
  openai = new OpenAI({ baseURL: `${d.url}/v1`, apiKey: 'kiln', maxRetries: 0 });
  expect(GPT_OSS.endsWith(OPEN_TAIL)).toBe(true);
  await ollama.create({ model: 'oss', from: 'kjv', template: GPT_OSS });
  await ollama.create({ model: 'oss-open', from: 'kjv', template: GPT_OSS_OPEN });
});

afterAll(async () => {
  await d?.stop();
  if (d) cleanup(d.home);
});

function post(path: string, body: unknown): Promise<Response> {
  return fetch(`${d.url}${path}`, { method: 'POST', body: JSON.stringify(body) });
}

/** The prompt /api/chat renders for `messages` with this `think` (through /api/tokenize, which renders it the same way). */
async function chatPrompt(model: string, think?: boolean | string, tools?: unknown[], msgs: unknown[] = messages): Promise<string> {
  const r = await post('/api/tokenize', { model, messages: msgs, ...(think !== undefined ? { think } : {}), ...(tools ? { tools } : {}) });
  expect(r.status).toBe(200);
  return ((await r.json()) as { prompt: string }).prompt;
}

/** What kjv writes after `prompt`, unparsed: a raw request to the plain model (same weights, no harmony). */
async function rawText(prompt: string, options = OPTIONS): Promise<string> {
  const r = await ollama.generate({ model: 'kjv', prompt, raw: true, options });
  expect(r.thinking).toBeUndefined();
  return r.response;
}

describe('harmony through the ollama client', () => {
  it('a model in the gpt-oss template can think and use tools; its template is the published one', async () => {
    const show = await ollama.show({ model: 'oss' });
    expect(show.capabilities).toEqual(['completion', 'tools', 'thinking']);
    expect(show.template).toBe(GPT_OSS);
  });

  it('the think level reaches the template: Reasoning low/medium/high, medium for true or nothing said, no line for false', async () => {
    const line = (p: string) => /\n\nReasoning: (\w+)\n\n/.exec(p)?.[1];
    expect(line(await chatPrompt('oss', 'low'))).toBe('low');
    expect(line(await chatPrompt('oss', 'medium'))).toBe('medium');
    expect(line(await chatPrompt('oss', 'high'))).toBe('high');
    expect(line(await chatPrompt('oss', true))).toBe('medium');
    expect(line(await chatPrompt('oss'))).toBe('medium');
    const off = await chatPrompt('oss', false);
    expect(off).not.toContain('Reasoning:');
    expect(off.endsWith('<|start|>user<|message|>In the beginning<|end|><|start|>assistant')).toBe(true);
  });

  it('streams what the model writes in the analysis channel as message.thinking, content empty, at each level', async () => {
    const seen = new Set<string>();
    for (const think of ['low', 'high', false] as const) {
      const prompt = await chatPrompt('oss-open', think);
      expect(prompt.endsWith('<|start|>assistant<|channel|>analysis<|message|>')).toBe(true);
      const expected = await rawText(prompt);
      expect(expected.length).toBeGreaterThan(0);
      seen.add(expected);
      const parts: ChatResponse[] = [];
      for await (const p of await ollama.chat({ model: 'oss-open', messages, think, stream: true, options: OPTIONS })) parts.push(p);
      const pieces = parts.filter((p) => !p.done);
      expect(pieces.length).toBeGreaterThan(1); // streamed as produced
      for (const p of pieces) expect(p.message.content).toBe('');
      // the level is in the prompt the model saw: its reasoning is kjv's text after exactly that prompt
      expect(pieces.map((p) => p.message.thinking ?? '').join('')).toBe(expected);
      expect(parts.at(-1)).toMatchObject({ done: true, done_reason: 'length' });
    }
    // the prompts differ enough that kjv's text differs: the comparison above tells the levels apart
    expect(seen.size).toBeGreaterThan(1);

    // not streamed, nothing said about think: the same, merged, at level medium
    const whole = await ollama.chat({ model: 'oss-open', messages, options: OPTIONS });
    expect(whole.message).toMatchObject({ role: 'assistant', content: '', thinking: await rawText(await chatPrompt('oss-open', 'medium')) });
  });

  it('does the same on /api/generate, in the thinking field', async () => {
    const expected = await rawText(await chatPrompt('oss-open', 'high'));
    const whole = await ollama.generate({ model: 'oss-open', prompt: QUESTION, think: 'high', options: OPTIONS });
    expect(whole).toMatchObject({ response: '', thinking: expected, done: true });
  });

  it('under the published template, kjv writes verses where a harmony header belongs: read as content, nothing lost', async () => {
    const prompt = await chatPrompt('oss', true);
    const expected = await rawText(prompt);
    const r = await ollama.chat({ model: 'oss', messages, think: true, options: OPTIONS });
    expect(r.message.thinking).toBeUndefined();
    expect(r.message.content).toBe(expected);
  });
});

const weather = { type: 'function', function: { name: 'get_weather', description: 'Weather of a city', parameters: { type: 'object', properties: { city: { type: 'string', maxLength: 20 } }, required: ['city'] } } };
const time = { type: 'function', function: { name: 'get_time', description: 'Time in a zone', parameters: { type: 'object', properties: { zone: { enum: ['UTC', 'CET', 'EST'] } }, required: ['zone'] } } };
const tools = [weather, time];
const toolMessages = [{ role: 'user', content: 'What is the weather in Paris?' }];
const toolOptions = { temperature: 0, num_ctx: 2048, num_predict: 800 };

function expectValidCall(c: { function: { name: string; arguments: Record<string, unknown> } }): void {
  if (c.function.name === 'get_weather') {
    expect(Object.keys(c.function.arguments)).toEqual(['city']);
    expect(typeof c.function.arguments.city).toBe('string');
  } else {
    expect(c.function.name).toBe('get_time');
    expect(['UTC', 'CET', 'EST']).toContain(c.function.arguments.zone);
  }
}

describe('harmony tool calls (tool_choice)', () => {
  it('lists the tools as a TypeScript namespace in the developer message', async () => {
    const prompt = await chatPrompt('oss', true, tools, toolMessages);
    expect(prompt).toContain("Calls to these tools must go to the commentary channel: 'functions'.<|end|><|start|>developer<|message|># Tools\n\n## functions\n\nnamespace functions {\n\n// Weather of a city\ntype get_weather = (_: {\n  city: string,\n}) => any;");
    expect(prompt).toContain('type get_time = (_: {\n  zone: any,\n}) => any;');
  });

  it('"required": the grammar writes harmony calls, read back as message.tool_calls (not streamed)', async () => {
    const r = await post('/api/chat', { model: 'oss', messages: toolMessages, tools, tool_choice: 'required', stream: false, logprobs: true, options: toolOptions });
    expect(r.status).toBe(200);
    const body = (await r.json()) as ChatResponse & { logprobs: { token: string }[] };
    expect(body.message.content).toBe('');
    expect(body.done_reason).toBe('stop');
    // after <|call|> the grammar lets the answer end or start another call; kjv, like gpt-oss (for which
    // <|call|> ends the turn), ends it — parallel calls are covered by the grammar's own tests
    const calls = body.message.tool_calls!;
    expect(calls.length).toBeGreaterThanOrEqual(1);
    expect(calls.length).toBeLessThanOrEqual(MAX_PARALLEL_CALLS);
    for (const c of calls) expectValidCall(c as never);
    // what the model wrote: harmony call messages, not JSON objects
    const written = body.logprobs.map((l) => l.token).join('');
    const messagesWritten = written.split('<|start|>assistant');
    expect(messagesWritten).toHaveLength(calls.length);
    messagesWritten.forEach((m, i) => {
      const head = `<|channel|>commentary to=functions.${calls[i].function.name} <|constrain|>json<|message|>`;
      expect(m.startsWith(head)).toBe(true);
      expect(JSON.parse(m.slice(head.length).replace(/<\|call\|>$/, ''))).toEqual(calls[i].function.arguments);
    });
  });

  it('streamed through the ollama client, a named function: the call arrives as message.tool_calls once its message is complete', async () => {
    const parts: ChatResponse[] = [];
    const request = { model: 'oss', messages: toolMessages, tools, tool_choice: { type: 'function', function: { name: 'get_time' } }, stream: true, logprobs: true, options: toolOptions };
    for await (const p of await ollama.chat(request as never)) parts.push(p as ChatResponse);
    for (const p of parts) expect(p.message.content).toBe('');
    const withCalls = parts.filter((p) => p.message.tool_calls);
    expect(withCalls.length).toBeGreaterThan(0);
    const calls = withCalls.flatMap((p) => p.message.tool_calls!);
    for (const c of calls) expect(c.function.name).toBe('get_time');
    for (const c of calls) expectValidCall(c as never);
    // a piece of the stream (not the final line) carries the call, with the harmony message the model wrote up to it
    const at = parts.indexOf(withCalls[0]);
    expect(withCalls[0].done).toBe(false);
    const upTo = parts.slice(0, at + 1).flatMap((p) => (p as { logprobs?: { token: string }[] }).logprobs ?? []).map((l) => l.token).join('');
    const head = '<|channel|>commentary to=functions.get_time <|constrain|>json<|message|>';
    expect(upTo.startsWith(head)).toBe(true);
    expect(JSON.parse(upTo.slice(head.length).replace(/<\|call\|>$/, ''))).toEqual(calls[0].function.arguments);
  });

  it('through the openai client: a named function, one call with parallel_tool_calls false; streamed deltas', async () => {
    const r = await openai.chat.completions.create({
      model: 'oss',
      messages: toolMessages as never,
      tools: tools as never,
      tool_choice: { type: 'function', function: { name: 'get_weather' } },
      parallel_tool_calls: false,
      max_tokens: 200,
      temperature: 0,
      logprobs: true,
    });
    expect(r.choices[0].finish_reason).toBe('tool_calls');
    const tc = r.choices[0].message.tool_calls!;
    expect(tc).toHaveLength(1);
    expect(tc[0].type === 'function' && tc[0].function.name).toBe('get_weather');
    const args = (tc[0] as { function: { arguments: string } }).function.arguments;
    expect(Object.keys(JSON.parse(args))).toEqual(['city']);
    // written as one harmony call message
    const written = r.choices[0].logprobs!.content!.map((t) => t.token).join('');
    const head = '<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>';
    expect(written.startsWith(head)).toBe(true);
    expect(JSON.parse(written.slice(head.length).replace(/<\|call\|>$/, ''))).toEqual(JSON.parse(args));

    const names: string[] = [];
    let finish: string | null = null;
    for await (const c of await openai.chat.completions.create({ model: 'oss', messages: toolMessages as never, tools: tools as never, tool_choice: 'required', max_tokens: 800, temperature: 0, stream: true })) {
      for (const t of c.choices[0]?.delta.tool_calls ?? []) if (t.function?.name) names.push(t.function.name);
      finish = c.choices[0]?.finish_reason ?? finish;
    }
    expect(names.length).toBeGreaterThanOrEqual(1);
    for (const n of names) expect(['get_weather', 'get_time']).toContain(n);
    expect(finish).toBe('tool_calls');
  });

  it('a past call renders back in harmony syntax for the next turn', async () => {
    const history = [
      ...toolMessages,
      { role: 'assistant', content: '', tool_calls: [{ function: { name: 'get_weather', arguments: { city: 'Paris' } } }] },
      { role: 'tool', content: '{"temp": 20}', tool_name: 'get_weather' },
    ];
    const prompt = await chatPrompt('oss', true, tools, history);
    expect(prompt.endsWith('<|start|>assistant<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>{"city":"Paris"}<|call|><|start|>functions.get_weather to=assistant<|message|>{"temp": 20}<|end|><|start|>assistant')).toBe(true);
  });
});

describe('harmony through the OpenAI and Anthropic layers', () => {
  type WithReasoning = { reasoning?: string };

  it('chat completions: the analysis channel in message.reasoning and delta.reasoning; reasoning_effort is the level', async () => {
    const expected = await rawText(await chatPrompt('oss-open', 'high'));
    const r = await openai.chat.completions.create({ model: 'oss-open', messages: messages as never, max_tokens: 8, temperature: 0, reasoning_effort: 'high' });
    expect(r.choices[0].message.content).toBe('');
    expect((r.choices[0].message as WithReasoning).reasoning).toBe(expected);

    let reasoning = '';
    let content = '';
    for await (const c of await openai.chat.completions.create({ model: 'oss-open', messages: messages as never, max_tokens: 8, temperature: 0, reasoning_effort: 'high', stream: true })) {
      reasoning += (c.choices[0]?.delta as WithReasoning | undefined)?.reasoning ?? '';
      content += c.choices[0]?.delta.content ?? '';
    }
    expect(reasoning).toBe(expected);
    expect(content).toBe('');
  });

  it('Responses: a reasoning item with the analysis text', async () => {
    const expected = await rawText(await chatPrompt('oss-open', 'low'));
    const r = await openai.responses.create({ model: 'oss-open', input: QUESTION, max_output_tokens: 8, temperature: 0, reasoning: { effort: 'low' } });
    const item = r.output.find((o) => o.type === 'reasoning') as { content?: { text: string }[] } | undefined;
    expect(item?.content?.map((c) => c.text).join('')).toBe(expected);
  });

  it('Anthropic Messages: a thinking block with the analysis text', async () => {
    const expected = await rawText(await chatPrompt('oss-open', true));
    const anthropic = new Anthropic({ baseURL: d.url, apiKey: 'kiln', maxRetries: 0 });
    const m = await anthropic.messages.create({ model: 'oss-open', max_tokens: 8, temperature: 0, messages: [{ role: 'user', content: QUESTION }], thinking: { type: 'enabled', budget_tokens: 1024 } });
    const block = m.content.find((b) => b.type === 'thinking') as { thinking: string } | undefined;
    expect(block?.thinking).toBe(expected);
  });
});
