/**
 * OpenAI's Responses API end to end: the real daemon, the bundled kjv model
 * (and variants: one whose template renders tools, one that thinks), and the
 * official `openai` client.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ollama } from 'ollama';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanup, ROOT, startDaemon, type RunningDaemon } from './helpers/daemon.js';

let d: RunningDaemon;
let openai: OpenAI;

/** deepseek-r1's published template, left open inside `<think>` when thinking (as in test/thinking.test.ts): all kjv writes is reasoning. */
const R1_OPEN = readFileSync(join(ROOT, 'engine', 'template', 'fixtures', 'deepseek-r1.gotmpl'), 'utf8').replace(
  '{{- if and $.IsThinkSet (not $.Think) -}}',
  '{{- if $.Think }}<think>\n{{ else if $.IsThinkSet -}}',
);

beforeAll(async () => {
  d = await startDaemon(undefined, { KILN_MAX_BODY: '65536' });
  openai = new OpenAI({ baseURL: `${d.url}/v1`, apiKey: 'kiln', maxRetries: 0 });
  const ollama = new Ollama({ host: d.url });
  await ollama.create({
    model: 'kjv-tools',
    from: 'kjv',
    template: '{{ if .Tools }}Tools: {{ json .Tools }}\n{{ end }}{{ range .Messages }}{{ .Role }}: {{ .Content }}{{ range .ToolCalls }}{{ json .Function }}{{ end }}\n{{ end }}assistant:',
  });
  await ollama.create({ model: 'r1-open', from: 'kjv', template: R1_OPEN });
});

afterAll(async () => {
  await d?.stop();
  if (d) cleanup(d.home);
});

const tools: OpenAI.Responses.FunctionTool[] = [
  { type: 'function', name: 'get_weather', description: 'Weather of a city', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] }, strict: false },
];

describe('POST /v1/responses through the official openai client', () => {
  it('answers a text input with instructions: an output message, usage, incomplete at max_output_tokens', async () => {
    const r = await openai.responses.create({ model: 'kjv', input: 'In the beginning', instructions: 'Answer as the scripture.', max_output_tokens: 12, temperature: 0 });
    expect(r.id).toMatch(/^resp_/);
    expect(r.object).toBe('response');
    expect(r.model).toBe('kjv');
    expect(r.instructions).toBe('Answer as the scripture.');
    expect(r.status).toBe('incomplete');
    expect(r.incomplete_details).toEqual({ reason: 'max_output_tokens' });
    expect(r.output).toHaveLength(1);
    expect(r.output[0]).toMatchObject({ type: 'message', role: 'assistant', id: expect.stringMatching(/^msg_/) });
    expect(r.output_text.length).toBeGreaterThan(5);
    expect(r.usage!.output_tokens).toBe(12);
    expect(r.usage!.total_tokens).toBe(r.usage!.input_tokens + 12);
    // the instructions reach the prompt
    const plain = await openai.responses.create({ model: 'kjv', input: 'In the beginning', max_output_tokens: 1, temperature: 0 });
    expect(r.usage!.input_tokens).toBeGreaterThan(plain.usage!.input_tokens);
    // message items as input
    const m = await openai.responses.create({ model: 'kjv', input: [{ role: 'developer', content: 'Be brief.' }, { role: 'user', content: [{ type: 'input_text', text: 'In the beginning' }] }], max_output_tokens: 4 });
    expect(m.usage!.output_tokens).toBe(4);
  });

  it('streams the typed event sequence with the same text, ending in the whole response', async () => {
    const params = { model: 'kjv', input: 'And God said', max_output_tokens: 40, temperature: 0 };
    const whole = await openai.responses.create(params);
    const types: string[] = [];
    let text = '';
    let last: OpenAI.Responses.Response | undefined;
    for await (const e of await openai.responses.create({ ...params, stream: true })) {
      types.push(e.type);
      if (e.type === 'response.output_text.delta') text += e.delta;
      if (e.type === 'response.incomplete' || e.type === 'response.completed') last = e.response;
    }
    expect(types.slice(0, 4)).toEqual(['response.created', 'response.in_progress', 'response.output_item.added', 'response.content_part.added']);
    expect(types.slice(-4)).toEqual(['response.output_text.done', 'response.content_part.done', 'response.output_item.done', 'response.incomplete']);
    expect(types.filter((t) => t === 'response.output_text.delta').length).toBeGreaterThan(3);
    expect(text).toBe(whole.output_text);
    expect(last!.output).toEqual([expect.objectContaining({ type: 'message', content: [expect.objectContaining({ type: 'output_text', text })] })]);
    expect(last!.usage!.output_tokens).toBe(40);

    // the SDK's stream helper assembles the same text as the answer not streamed (a format
    // makes kjv finish: a response.completed event, which the helper takes as the final response)
    const formatted = { ...params, max_output_tokens: 150, text: { format: { type: 'json_schema' as const, name: 'book', schema: { type: 'object', properties: { book: { type: 'string', maxLength: 20 } }, required: ['book'] } } } };
    const once = await openai.responses.create(formatted);
    expect(once.status).toBe('completed');
    const stream = openai.responses.stream(formatted);
    let deltas = '';
    stream.on('response.output_text.delta', (e) => (deltas += e.delta));
    const final = await stream.finalResponse();
    expect(deltas).toBe(once.output_text);
    expect(final.output).toEqual([expect.objectContaining({ type: 'message', status: 'completed', content: [expect.objectContaining({ text: once.output_text })] })]);
    expect(final.status).toBe('completed');

    // on the wire: `event: <type>` before each data line, no [DONE]
    const raw = await (await fetch(`${d.url}/v1/responses`, { method: 'POST', body: JSON.stringify({ ...params, max_output_tokens: 2, stream: true }) })).text();
    const frames = raw.trim().split('\n\n');
    for (const f of frames) {
      const [ev, data] = f.split('\n');
      expect(ev.slice('event: '.length)).toBe(JSON.parse(data.slice('data: '.length)).type);
    }
    expect(raw).not.toContain('[DONE]');
  });

  it('continues a stored response with previous_response_id; GET and DELETE /v1/responses/{id}', async () => {
    const first = await openai.responses.create({ model: 'kjv', input: 'In the beginning God created the heaven', max_output_tokens: 6, temperature: 0 });
    const alone = await openai.responses.create({ model: 'kjv', input: 'And the earth', max_output_tokens: 1, temperature: 0, store: false });
    const next = await openai.responses.create({ model: 'kjv', input: 'And the earth', previous_response_id: first.id, max_output_tokens: 1, temperature: 0 });
    expect(next.previous_response_id).toBe(first.id);
    // the earlier turn (its input and its answer) is in the prompt
    expect(next.usage!.input_tokens).toBeGreaterThan(alone.usage!.input_tokens + 6);
    // and a chain goes on: the third turn sees both earlier ones
    const third = await openai.responses.create({ model: 'kjv', input: 'And the earth', previous_response_id: next.id, max_output_tokens: 1, temperature: 0 });
    expect(third.usage!.input_tokens).toBeGreaterThan(next.usage!.input_tokens);

    const got = await openai.responses.retrieve(first.id);
    expect(got).toMatchObject({ id: first.id, output_text: first.output_text, status: first.status, usage: first.usage });

    // store: false is not kept
    await expect(openai.responses.retrieve(alone.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    await expect(openai.responses.create({ model: 'kjv', input: 'x', previous_response_id: alone.id })).rejects.toMatchObject({
      status: 400,
      param: 'previous_response_id',
      message: expect.stringContaining(`Previous response with id '${alone.id}' not found.`),
    });

    await openai.responses.delete(first.id);
    await expect(openai.responses.retrieve(first.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    const again = await fetch(`${d.url}/v1/responses/${first.id}`, { method: 'DELETE' });
    expect(again.status).toBe(404);
    expect((await again.json()).error).toMatchObject({ type: 'not_found_error', message: `Response with id '${first.id}' not found.` });
  });

  it('stores a streamed response too', async () => {
    let id = '';
    for await (const e of await openai.responses.create({ model: 'kjv', input: 'Jesus wept', max_output_tokens: 3, stream: true })) if (e.type === 'response.created') id = e.response.id;
    expect((await openai.responses.retrieve(id)).usage!.output_tokens).toBe(3);
  });

  it('takes tools and function_call / function_call_output turns; a call comes back as a function_call item', async () => {
    const turn = await openai.responses.create({
      model: 'kjv-tools',
      input: [
        { role: 'user', content: 'What is the weather in Paris?' },
        { type: 'function_call', call_id: 'call_1', name: 'get_weather', arguments: '{"city":"Paris"}' },
        { type: 'function_call_output', call_id: 'call_1', output: 'Sunny, 22 C' },
      ],
      tools,
      max_output_tokens: 12,
      temperature: 0,
    });
    expect(['completed', 'incomplete']).toContain(turn.status);
    expect(turn.tools).toEqual(tools);
    // a format that makes kjv write the call (as test/openai.test.ts does)
    const r = await openai.responses.create({
      model: 'kjv-tools',
      input: 'What is the weather in Paris?',
      tools,
      text: { format: { type: 'json_schema', name: 'call', schema: { type: 'object', properties: { name: { const: 'get_weather' }, arguments: { type: 'object', properties: { city: { type: 'string', maxLength: 20 } } } } } } },
      max_output_tokens: 120,
      seed: 3,
    } as OpenAI.Responses.ResponseCreateParamsNonStreaming);
    const call = r.output.find((o) => o.type === 'function_call') as OpenAI.Responses.ResponseFunctionToolCall;
    expect(call).toMatchObject({ type: 'function_call', name: 'get_weather', call_id: expect.stringMatching(/^call_/), status: 'completed' });
    expect(typeof JSON.parse(call.arguments).city).toBe('string');
    // the call's result continues the stored conversation
    const after = await openai.responses.create({ model: 'kjv-tools', previous_response_id: r.id, input: [{ type: 'function_call_output', call_id: call.call_id, output: 'Sunny' }], tools, max_output_tokens: 4 });
    expect(after.usage!.input_tokens).toBeGreaterThan(r.usage!.input_tokens);
  });

  it('follows text.format json_schema', async () => {
    const r = await openai.responses.create({
      model: 'kjv',
      input: 'Name a book',
      text: { format: { type: 'json_schema', name: 'book', schema: { type: 'object', properties: { book: { type: 'string', maxLength: 30 }, chapters: { type: 'integer' } }, required: ['book', 'chapters'] }, strict: true } },
      max_output_tokens: 150,
      temperature: 0,
    });
    const v = JSON.parse(r.output_text);
    expect(Object.keys(v)).toEqual(['book', 'chapters']);
    expect(Number.isInteger(v.chapters)).toBe(true);
    expect(r.text!.format).toMatchObject({ type: 'json_schema', name: 'book' });
  });

  it('answers a thinking model’s reasoning as a reasoning item, streamed as reasoning_text deltas', async () => {
    const r = await openai.responses.create({ model: 'r1-open', input: 'In the beginning', max_output_tokens: 8, temperature: 0 });
    const reasoning = r.output[0] as OpenAI.Responses.ResponseReasoningItem;
    expect(reasoning).toMatchObject({ type: 'reasoning', id: expect.stringMatching(/^rs_/), summary: [] });
    const thought = reasoning.content![0].text;
    expect(thought.length).toBeGreaterThan(3);
    let streamed = '';
    for await (const e of await openai.responses.create({ model: 'r1-open', input: 'In the beginning', max_output_tokens: 8, temperature: 0, stream: true })) {
      if (e.type === 'response.reasoning_text.delta') streamed += e.delta;
    }
    expect(streamed).toBe(thought);
    const off = await openai.responses.create({ model: 'r1-open', input: 'In the beginning', max_output_tokens: 8, temperature: 0, reasoning: { effort: 'none' } });
    expect(off.output.map((o) => o.type)).toEqual(['message']);
  });

  it('answers bad input with OpenAI’s error shape and status, and stays up', async () => {
    const post = (body: string) => fetch(`${d.url}/v1/responses`, { method: 'POST', body });
    const cases: [string, number, string, string | null][] = [
      ['{"model":', 400, 'invalid_request_error', null],
      ['{"model":"kjv","input":5}', 400, 'invalid_request_error', 'input'],
      ['{"input":"x"}', 400, 'invalid_request_error', 'model'],
      ['{"model":"kjv","input":"x","max_output_tokens":"many"}', 400, 'invalid_request_error', 'max_output_tokens'],
      ['{"model":"kjv","input":[{"type":"function_call_output","call_id":"c","output":"x"}],"tools":[{"type":"web_search"}]}', 400, 'invalid_request_error', 'tools[0].type'],
      ['{"model":"kjv","input":[]}', 400, 'invalid_request_error', 'input'],
      ['{"model":"nope","input":"x"}', 404, 'not_found_error', null],
      [JSON.stringify({ model: 'kjv', input: 'x'.repeat(70_000) }), 413, 'invalid_request_error', null],
    ];
    for (const [body, status, type, param] of cases) {
      const res = await post(body);
      expect(res.status, body.slice(0, 60)).toBe(status);
      const { error } = await res.json();
      expect(error.type).toBe(type);
      expect(error.param).toBe(param);
    }
    await expect(openai.responses.create({ model: 'nope', input: 'x' })).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    expect((await fetch(`${d.url}/v1/responses/resp_unknown`)).status).toBe(404);
    expect((await fetch(`${d.url}/api/version`)).status).toBe(200);
  });
});

describe('stored responses expire (KILN_RESPONSES_TTL)', () => {
  it('forgets a response after its time', async () => {
    const short = await startDaemon(undefined, { KILN_RESPONSES_TTL: '1s' });
    try {
      const client = new OpenAI({ baseURL: `${short.url}/v1`, apiKey: 'kiln', maxRetries: 0 });
      const r = await client.responses.create({ model: 'kjv', input: 'In the beginning', max_output_tokens: 1 });
      expect((await client.responses.retrieve(r.id)).id).toBe(r.id);
      await new Promise((res) => setTimeout(res, 1200));
      await expect(client.responses.retrieve(r.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
      await expect(client.responses.create({ model: 'kjv', input: 'x', previous_response_id: r.id })).rejects.toMatchObject({ status: 400 });
    } finally {
      await short.stop();
      cleanup(short.home);
    }
  });
});
