/**
 * tool_choice end to end: the real daemon and the kjv model dressed in
 * templates that render tools (a plain one that does not show past calls,
 * and Ollama's published qwen3 template, whose calls are wrapped in
 * <tool_call> tags), through raw HTTP and the official `ollama` and `openai`
 * clients. kjv is a bible model: left alone it writes verses, never a call,
 * so every call asserted here is there because the grammar put it there.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ollama } from 'ollama';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_PARALLEL_CALLS } from '../engine/grammar/tool-call.js';
import { cleanup, ROOT, startDaemon, type RunningDaemon } from './helpers/daemon.js';

let d: RunningDaemon;
let ollama: Ollama;
let openai: OpenAI;

const PLAIN = '{{ if .Tools }}Tools: {{ json .Tools }}\n{{ end }}{{ range .Messages }}{{ .Role }}: {{ .Content }}\n{{ end }}assistant:';
const QWEN3 = readFileSync(join(ROOT, 'engine', 'template', 'fixtures', 'qwen3.gotmpl'), 'utf8');

beforeAll(async () => {
  d = await startDaemon();
  ollama = new Ollama({ host: d.url });
  openai = new OpenAI({ baseURL: `${d.url}/v1`, apiKey: 'kiln', maxRetries: 0 });
  await ollama.create({ model: 'kjv-tools', from: 'kjv', template: PLAIN });
  await ollama.create({ model: 'qwen3-kjv', from: 'kjv', template: QWEN3 });
});

afterAll(async () => {
  await d?.stop();
  if (d) cleanup(d.home);
});

const weather = { type: 'function', function: { name: 'get_weather', description: 'Weather of a city', parameters: { type: 'object', properties: { city: { type: 'string', maxLength: 20 } }, required: ['city'] } } };
const time = { type: 'function', function: { name: 'get_time', description: 'Time in a zone', parameters: { type: 'object', properties: { zone: { enum: ['UTC', 'CET', 'EST'] } }, required: ['zone'] } } };
const tools = [weather, time];
const messages = [{ role: 'user', content: 'What is the weather in Paris?' }];
// room for the most calls an answer may hold (8, which kjv, never ending on its own, always writes)
const options = { temperature: 0, num_ctx: 2048, num_predict: 800 };

function post(path: string, body: unknown): Promise<Response> {
  return fetch(`${d.url}${path}`, { method: 'POST', body: JSON.stringify(body) });
}

/** A call is of an offered tool, with arguments its schema allows. */
function expectValidCall(c: { function: { name: string; arguments: Record<string, unknown> } }, names = ['get_weather', 'get_time']): void {
  expect(names).toContain(c.function.name);
  if (c.function.name === 'get_weather') {
    expect(Object.keys(c.function.arguments)).toEqual(['city']);
    expect(typeof c.function.arguments.city).toBe('string');
    expect((c.function.arguments.city as string).length).toBeLessThanOrEqual(20);
  } else {
    expect(Object.keys(c.function.arguments)).toEqual(['zone']);
    expect(['UTC', 'CET', 'EST']).toContain(c.function.arguments.zone);
  }
}

describe('tool_choice on /api/chat', () => {
  it('auto (the default) lets the bible model answer in verses: no call', async () => {
    const r = await ollama.chat({ model: 'kjv-tools', messages, tools, options: { temperature: 0, num_predict: 24 } });
    expect(r.message.tool_calls).toBeUndefined();
    expect(r.message.content.length).toBeGreaterThan(0);
  });

  it.each(['kjv-tools', 'qwen3-kjv'])('"required" makes the answer calls of offered tools with valid arguments (%s)', async (model) => {
    const r = await post('/api/chat', { model, messages, tools, tool_choice: 'required', stream: false, think: false, options });
    expect(r.status).toBe(200);
    const body = await r.json();
    expect(body.message.content).toBe('');
    expect(body.done_reason).toBe('stop');
    // parallel calls allowed: kjv, which never ends on its own, writes as many as the grammar allows
    expect(body.message.tool_calls).toHaveLength(MAX_PARALLEL_CALLS);
    for (const c of body.message.tool_calls) expectValidCall(c);
  });

  it('a named function makes every call one of that tool; streamed, the calls arrive as message.tool_calls', async () => {
    const calls = [];
    let content = '';
    const stream = await ollama.chat({ model: 'qwen3-kjv', messages, tools, tool_choice: { type: 'function', function: { name: 'get_time' } }, parallel_tool_calls: false, stream: true, think: false, options } as never);
    for await (const part of stream as AsyncIterable<{ message: { content: string; tool_calls?: never[] } }>) {
      content += part.message.content;
      calls.push(...(part.message.tool_calls ?? []));
    }
    expect(content).toBe('');
    expect(calls).toHaveLength(1);
    expectValidCall(calls[0], ['get_time']);
    // kiln's own shape of the name, {name}
    const r = await (await post('/api/chat', { model: 'kjv-tools', messages, tools, tool_choice: { name: 'get_weather' }, parallel_tool_calls: false, stream: false, options })).json();
    expect(r.message.tool_calls.length).toBeGreaterThan(0);
    for (const c of r.message.tool_calls) expectValidCall(c, ['get_weather']);
  });

  it('parallel_tool_calls false: exactly one call', async () => {
    const r = await (await post('/api/chat', { model: 'kjv-tools', messages, tools, tool_choice: 'required', parallel_tool_calls: false, stream: false, options })).json();
    expect(r.message.tool_calls).toHaveLength(1);
    expectValidCall(r.message.tool_calls[0]);
  });

  it('"none" shows the model no tools and reads nothing as a call', async () => {
    const call = { type: 'object', properties: { name: { const: 'get_weather' }, arguments: { type: 'object', properties: { city: { type: 'string', maxLength: 10 } } } } };
    const base = { model: 'kjv-tools', messages, tools, format: call, stream: false, options };
    const auto = await (await post('/api/chat', base)).json();
    const none = await (await post('/api/chat', { ...base, tool_choice: 'none' })).json();
    // the same call-shaped JSON: a call under auto, plain content under none
    expect(auto.message.tool_calls).toHaveLength(1);
    expect(none.message.tool_calls).toBeUndefined();
    expect(JSON.parse(none.message.content).name).toBe('get_weather');
    // the template printed the tools under auto only (whole prompts: prompt_eval_count leaves out what the prompt cache held)
    const promptTokens = (r: { prompt_eval_count: number; prompt_cached?: number }) => r.prompt_eval_count + (r.prompt_cached ?? 0);
    expect(promptTokens(none)).toBeLessThan(promptTokens(auto) - 20);
    const plain = await (await post('/api/chat', { ...base, tools: undefined })).json();
    expect(promptTokens(none)).toBe(promptTokens(plain));
  });
});

describe('tool_choice through the openai client (/v1/chat/completions)', () => {
  const oaTools = tools as OpenAI.Chat.Completions.ChatCompletionTool[];
  const params = { model: 'qwen3-kjv', messages: [{ role: 'user' as const, content: 'What is the weather in Paris?' }], tools: oaTools, max_tokens: 800, temperature: 0, reasoning_effort: 'none' as never };

  it('"required": finish_reason tool_calls, each call valid', async () => {
    const r = await openai.chat.completions.create({ ...params, tool_choice: 'required', parallel_tool_calls: false });
    expect(r.choices[0].finish_reason).toBe('tool_calls');
    const calls = r.choices[0].message.tool_calls as OpenAI.Chat.Completions.ChatCompletionMessageFunctionToolCall[];
    expect(calls.length).toBeGreaterThan(0);
    for (const c of calls) {
      expect(c.id).toMatch(/^call_/);
      expectValidCall({ function: { name: c.function.name, arguments: JSON.parse(c.function.arguments) } });
    }
  });

  it('a named function, streamed; parallel_tool_calls false gives one call', async () => {
    const stream = await openai.chat.completions.create({ ...params, tool_choice: { type: 'function', function: { name: 'get_weather' } }, parallel_tool_calls: false, stream: true });
    const calls: { name: string; args: string }[] = [];
    let finish: string | null = null;
    for await (const c of stream) {
      for (const t of c.choices[0]?.delta.tool_calls ?? []) {
        if (t.function?.name) calls[t.index] = { name: t.function.name, args: '' };
        calls[t.index].args += t.function?.arguments ?? '';
      }
      finish = c.choices[0]?.finish_reason ?? finish;
    }
    expect(finish).toBe('tool_calls');
    expect(calls).toHaveLength(1);
    expectValidCall({ function: { name: calls[0].name, arguments: JSON.parse(calls[0].args) } }, ['get_weather']);
  });

  it('"none": a text answer', async () => {
    const r = await openai.chat.completions.create({ ...params, tool_choice: 'none', max_tokens: 12 });
    expect(r.choices[0].message.tool_calls).toBeUndefined();
    expect(r.choices[0].finish_reason).toBe('length');
  });
});

describe('bad tool_choice', () => {
  it.each([
    ['/api/chat', { tool_choice: 5 }, /tool_choice: expected "auto", "none", "required"/],
    ['/api/chat', { tool_choice: 'sometimes' }, /tool_choice: expected .* got "sometimes"/],
    ['/api/chat', { tool_choice: { type: 'function', function: {} } }, /tool_choice.function.name: is required/],
    ['/api/chat', { tool_choice: { type: 'web_search' } }, /only function tool choices/],
    ['/api/chat', { tool_choice: { name: 'launch' } }, /tool 'launch' is not among the offered tools \(get_weather, get_time\)/],
    ['/api/chat', { tool_choice: 'required', tools: undefined }, /"required" needs tools/],
    ['/api/chat', { parallel_tool_calls: 'no' }, /parallel_tool_calls: expected a boolean/],
    ['/api/chat', { tool_choice: 'required', tools: [{ type: 'function', function: { name: 'n', parameters: { type: 'object', properties: { a: { type: 'string', pattern: 'x+' } } } } }] }, /tool 'n' cannot be enforced: the 'pattern' keyword/],
    ['/v1/chat/completions', { tool_choice: { type: 'function', function: { name: 'launch' } } }, /tool 'launch' is not among the offered tools/],
    ['/v1/chat/completions', { tool_choice: ['auto'] }, /tool_choice: expected/],
  ])('%s %j → 400', async (path, extra, message) => {
    const r = await post(path, { model: 'kjv-tools', messages, tools, stream: false, ...extra });
    expect(r.status).toBe(400);
    const body = await r.json();
    const text = typeof body.error === 'string' ? body.error : body.error.message;
    expect(text).toMatch(message);
    if (path.startsWith('/v1')) expect(body.error.type).toBe('invalid_request_error');
  });

  it('the daemon is still up', async () => {
    expect((await fetch(`${d.url}/api/version`)).status).toBe(200);
  });
});
