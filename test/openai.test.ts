import OpenAI from 'openai';
import { Ollama } from 'ollama';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanup, startDaemon, type RunningDaemon } from './helpers/daemon.js';

let d: RunningDaemon;
let openai: OpenAI;

beforeAll(async () => {
  d = await startDaemon();
  openai = new OpenAI({ baseURL: `${d.url}/v1`, apiKey: 'kiln', maxRetries: 0 });
  // A kjv variant whose template renders tools, for the tools test.
  await new Ollama({ host: d.url }).create({
    model: 'kjv-tools',
    from: 'kjv',
    template: '{{ if .Tools }}Tools: {{ json .Tools }}\n{{ end }}{{ range .Messages }}{{ .Role }}: {{ .Content }}\n{{ end }}assistant:',
  });
});

afterAll(async () => {
  await d?.stop();
  if (d) cleanup(d.home);
});

const tools: OpenAI.Chat.Completions.ChatCompletionTool[] = [
  { type: 'function', function: { name: 'get_weather', description: 'Weather of a city', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } } },
];

describe('OpenAI-compatible API through the official openai client', () => {
  it('completes a chat with usage and finish_reason', async () => {
    const r = await openai.chat.completions.create({ model: 'kjv', messages: [{ role: 'user', content: 'In the beginning' }], max_tokens: 16, temperature: 0 });
    expect(r.object).toBe('chat.completion');
    expect(r.model).toBe('kjv'); // as the request named it
    expect(r.choices[0].message.role).toBe('assistant');
    expect(r.choices[0].message.content!.length).toBeGreaterThan(5);
    expect(r.choices[0].finish_reason).toBe('length');
    expect(r.usage!.completion_tokens).toBe(16);
    expect(r.usage!.total_tokens).toBe(r.usage!.prompt_tokens + 16);
  });

  it('streams a chat over SSE (ending in [DONE]) with the same text, and usage when asked', async () => {
    const params = { model: 'kjv', messages: [{ role: 'user' as const, content: 'And God said' }], max_tokens: 120, temperature: 0 };
    const whole = await openai.chat.completions.create(params);
    const stream = await openai.chat.completions.create({ ...params, stream: true, stream_options: { include_usage: true } });
    let text = '';
    let finish: string | null = null;
    let usage: OpenAI.CompletionUsage | undefined | null;
    let chunks = 0;
    for await (const c of stream) {
      chunks++;
      if (c.usage) usage = c.usage;
      if (!c.choices.length) continue;
      text += c.choices[0].delta.content ?? '';
      finish = c.choices[0].finish_reason ?? finish;
    }
    expect(chunks).toBeGreaterThan(3);
    expect(text).toBe(whole.choices[0].message.content);
    expect(finish).toBe('length');
    expect(usage?.completion_tokens).toBe(120);
    // the raw stream ends with data: [DONE]
    const raw = await fetch(`${d.url}/v1/chat/completions`, { method: 'POST', body: JSON.stringify({ ...params, stream: true }) });
    expect(raw.headers.get('content-type')).toMatch(/text\/event-stream/);
    expect((await raw.text()).trimEnd().endsWith('data: [DONE]')).toBe(true);
  });

  it('accepts tools and a tool-result turn; answers text or tool_calls in OpenAI shape', async () => {
    const r = await openai.chat.completions.create({
      model: 'kjv-tools',
      messages: [
        { role: 'user', content: 'What is the weather in Paris?' },
        { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] },
        { role: 'tool', tool_call_id: 'call_1', content: 'Sunny, 22 C' },
      ],
      tools,
      max_tokens: 12,
      temperature: 0,
    });
    const msg = r.choices[0].message;
    if (msg.tool_calls?.length) {
      expect(r.choices[0].finish_reason).toBe('tool_calls');
      expect(msg.tool_calls[0].type).toBe('function');
    } else {
      expect(typeof msg.content).toBe('string');
    }
    // a model whose template cannot render tools is an invalid request
    await expect(openai.chat.completions.create({ model: 'kjv', messages: [{ role: 'user', content: 'x' }], tools })).rejects.toMatchObject({ status: 400, type: 'invalid_request_error' });
  });

  it('follows response_format json_schema and json_object', async () => {
    const r = await openai.chat.completions.create({
      model: 'kjv',
      messages: [{ role: 'user', content: 'Name a book' }],
      response_format: { type: 'json_schema', json_schema: { name: 'book', schema: { type: 'object', properties: { book: { type: 'string', maxLength: 30 }, chapters: { type: 'integer' } }, required: ['book', 'chapters'] } } },
      max_tokens: 150,
      seed: 5,
    });
    const v = JSON.parse(r.choices[0].message.content!);
    expect(Object.keys(v)).toEqual(['book', 'chapters']);
    expect(Number.isInteger(v.chapters)).toBe(true);
    const o = await openai.chat.completions.create({ model: 'kjv', messages: [{ role: 'user', content: 'x' }], response_format: { type: 'json_object' }, max_tokens: 300, seed: 1 });
    expect(o.choices[0].message.content!.startsWith('{')).toBe(true);
    if (o.choices[0].finish_reason === 'stop') expect(() => JSON.parse(o.choices[0].message.content!)).not.toThrow();
  });

  it('returns a forced tool call as tool_calls with finish_reason tool_calls', async () => {
    const r = await openai.chat.completions.create({
      model: 'kjv-tools',
      messages: [{ role: 'user', content: 'What is the weather in Paris?' }],
      tools,
      response_format: { type: 'json_schema', json_schema: { name: 'call', schema: { type: 'object', properties: { name: { const: 'get_weather' }, arguments: { type: 'object', properties: { city: { type: 'string', maxLength: 20 } } } } } } },
      max_tokens: 120,
      seed: 3,
    });
    expect(r.choices[0].finish_reason).toBe('tool_calls');
    const call = r.choices[0].message.tool_calls![0] as OpenAI.Chat.Completions.ChatCompletionMessageFunctionToolCall;
    expect(call.type).toBe('function');
    expect(call.id).toMatch(/^call_/);
    expect(call.function.name).toBe('get_weather');
    expect(typeof JSON.parse(call.function.arguments).city).toBe('string');
  });

  it('completes a prompt (/v1/completions), streaming and not', async () => {
    const r = await openai.completions.create({ model: 'kjv', prompt: 'In the beginning', max_tokens: 10, temperature: 0 });
    expect(r.object).toBe('text_completion');
    expect(r.choices[0].text.length).toBeGreaterThan(3);
    expect(r.usage?.completion_tokens).toBe(10);
    let text = '';
    for await (const c of await openai.completions.create({ model: 'kjv', prompt: 'In the beginning', max_tokens: 10, temperature: 0, stream: true })) text += c.choices[0]?.text ?? '';
    expect(text).toBe(r.choices[0].text);
  });

  it('embeds (float and base64) and lists models', async () => {
    const e = await openai.embeddings.create({ model: 'kjv', input: ['In the beginning', 'Jesus wept'], encoding_format: 'float' });
    expect(e.data).toHaveLength(2);
    expect(e.data[1].index).toBe(1);
    expect(e.data[0].embedding).toHaveLength(256);
    expect(e.usage.prompt_tokens).toBeGreaterThan(2);
    // the client asks for base64 by default and decodes it: same numbers
    const b = await openai.embeddings.create({ model: 'kjv', input: 'In the beginning' });
    expect(b.data[0].embedding).toHaveLength(256);
    expect(b.data[0].embedding[0]).toBeCloseTo(e.data[0].embedding[0], 6);

    const list = await openai.models.list();
    const ids = list.data.map((m) => m.id);
    expect(ids).toContain('kjv:latest');
    expect(list.data.find((m) => m.id === 'kjv:latest')).toMatchObject({ object: 'model', owned_by: 'library' });
    const one = await openai.models.retrieve('kjv:latest');
    expect(one.id).toBe('kjv:latest');
  });

  it('reports errors in OpenAI\'s shape', async () => {
    const err = await openai.chat.completions.create({ model: 'nope', messages: [{ role: 'user', content: 'x' }] }).catch((e) => e);
    expect(err).toBeInstanceOf(OpenAI.NotFoundError);
    expect(err.message).toMatch(/model 'nope' not found/);
    const raw = await fetch(`${d.url}/v1/models/nope`);
    expect(raw.status).toBe(404);
    expect(await raw.json()).toEqual({ error: { message: "model 'nope' not found", type: 'not_found_error', param: null, code: 'model_not_found' } });
    const bad = await fetch(`${d.url}/v1/chat/completions`, { method: 'POST', body: '{"model":' });
    expect(bad.status).toBe(400);
    expect((await bad.json()).error.type).toBe('invalid_request_error');
  });
});
