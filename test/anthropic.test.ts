/**
 * Anthropic's Messages API end to end: the real daemon, the bundled kjv model
 * (and variants: one whose template renders tools, one that thinks), and the
 * official `@anthropic-ai/sdk` client.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Anthropic from '@anthropic-ai/sdk';
import { Ollama } from 'ollama';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanup, ROOT, startDaemon, type RunningDaemon } from './helpers/daemon.js';

let d: RunningDaemon;
let anthropic: Anthropic;

/** deepseek-r1's published template, left open inside `<think>` when thinking (as in test/thinking.test.ts): all kjv writes is reasoning. */
const R1_OPEN = readFileSync(join(ROOT, 'engine', 'template', 'fixtures', 'deepseek-r1.gotmpl'), 'utf8').replace(
  '{{- if and $.IsThinkSet (not $.Think) -}}',
  '{{- if $.Think }}<think>\n{{ else if $.IsThinkSet -}}',
);
const TOOLS_TEMPLATE = '{{ if .Tools }}Tools: {{ json .Tools }}\n{{ end }}{{ range .Messages }}{{ .Role }}: {{ .Content }}{{ range .ToolCalls }}{{ json .Function }}{{ end }}\n{{ end }}assistant:';

beforeAll(async () => {
  d = await startDaemon(undefined, { KILN_MAX_BODY: '65536' });
  // the SDK sends x-api-key: kiln accepts it (and needs none unless keys are on)
  anthropic = new Anthropic({ baseURL: d.url, apiKey: 'kiln', maxRetries: 0 });
  const ollama = new Ollama({ host: d.url });
  await ollama.create({ model: 'kjv-tools', from: 'kjv', template: TOOLS_TEMPLATE });
  await ollama.create({ model: 'r1-open', from: 'kjv', template: R1_OPEN });
});

afterAll(async () => {
  await d?.stop();
  if (d) cleanup(d.home);
});

const tools: Anthropic.Tool[] = [{ name: 'get_weather', description: 'Weather of a city', input_schema: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } }];

describe('POST /v1/messages through the official @anthropic-ai/sdk client', () => {
  it('answers a message with a text block, stop_reason and usage; system as a string or blocks', async () => {
    const m = await anthropic.messages.create({ model: 'kjv', max_tokens: 12, temperature: 0, messages: [{ role: 'user', content: 'In the beginning' }] });
    expect(m.id).toMatch(/^msg_/);
    expect(m).toMatchObject({ type: 'message', role: 'assistant', model: 'kjv', stop_reason: 'max_tokens', stop_sequence: null });
    expect(m.content).toHaveLength(1);
    const text = (m.content[0] as Anthropic.TextBlock).text;
    expect(text.length).toBeGreaterThan(5);
    expect(m.usage.output_tokens).toBe(12);
    expect(m.usage.input_tokens).toBeGreaterThan(3);
    const withSystem = await anthropic.messages.create({ model: 'kjv', max_tokens: 1, system: 'Answer as the scripture.', messages: [{ role: 'user', content: [{ type: 'text', text: 'In the beginning' }] }] });
    expect(withSystem.usage.input_tokens).toBeGreaterThan(m.usage.input_tokens);
    const blocks = await anthropic.messages.create({ model: 'kjv', max_tokens: 1, system: [{ type: 'text', text: 'Answer as the scripture.' }], messages: [{ role: 'user', content: 'In the beginning' }] });
    expect(blocks.usage.input_tokens).toBe(withSystem.usage.input_tokens);
  });

  it('honours stop_sequences, top_k and top_p', async () => {
    const params = { model: 'kjv', max_tokens: 30, temperature: 0, messages: [{ role: 'user' as const, content: 'And God said' }] };
    const whole = (((await anthropic.messages.create(params)).content[0]) as Anthropic.TextBlock).text;
    const word = whole.trim().split(/\s+/)[2];
    const stopped = await anthropic.messages.create({ ...params, stop_sequences: [word], top_k: 40, top_p: 0.9 });
    const text = (stopped.content[0] as Anthropic.TextBlock).text;
    expect(text).toBe(whole.slice(0, whole.indexOf(word)));
    expect(stopped).toMatchObject({ stop_reason: 'stop_sequence', stop_sequence: word });
    const final = await anthropic.messages.stream({ ...params, stop_sequences: ['nothing like this', word] }).finalMessage();
    expect(final).toMatchObject({ stop_reason: 'stop_sequence', stop_sequence: word });
    // an answer that ends otherwise says so
    expect((await anthropic.messages.create(params)).stop_reason).toBe('max_tokens');
  });

  it('streams the event sequence with the same text; the SDK assembles the final message', async () => {
    const params = { model: 'kjv', max_tokens: 40, temperature: 0, messages: [{ role: 'user' as const, content: 'And God said' }] };
    const whole = await anthropic.messages.create(params);
    const types: string[] = [];
    let text = '';
    for await (const e of await anthropic.messages.create({ ...params, stream: true })) {
      types.push(e.type);
      if (e.type === 'content_block_delta' && e.delta.type === 'text_delta') text += e.delta.text;
    }
    expect(types.slice(0, 3)).toEqual(['message_start', 'content_block_start', 'content_block_delta']);
    expect(types.slice(-3)).toEqual(['content_block_stop', 'message_delta', 'message_stop']);
    expect(text).toBe((whole.content[0] as Anthropic.TextBlock).text);

    const stream = anthropic.messages.stream(params);
    let deltas = '';
    stream.on('text', (t) => (deltas += t));
    const final = await stream.finalMessage();
    expect(deltas).toBe(text);
    expect(final.content).toEqual([{ type: 'text', text }]);
    expect(final.stop_reason).toBe('max_tokens');
    expect(final.usage).toMatchObject({ input_tokens: whole.usage.input_tokens, output_tokens: 40 });

    // on the wire: `event: <type>` before each data line, a ping after message_start
    const raw = await (await fetch(`${d.url}/v1/messages`, { method: 'POST', body: JSON.stringify({ ...params, max_tokens: 2, stream: true }) })).text();
    const frames = raw.trim().split('\n\n').map((f) => f.split('\n'));
    for (const [ev, data] of frames) expect(ev.slice('event: '.length)).toBe(JSON.parse(data.slice('data: '.length)).type);
    expect(frames[1][0]).toBe('event: ping');
  });

  it('takes tools, tool_choice and a tool_use / tool_result turn', async () => {
    const m = await anthropic.messages.create({
      model: 'kjv-tools',
      max_tokens: 12,
      temperature: 0,
      tools,
      tool_choice: { type: 'auto' },
      messages: [
        { role: 'user', content: 'What is the weather in Paris?' },
        { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: 'Paris' } }] },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content: 'Sunny, 22 C' }] },
      ],
    });
    for (const b of m.content) expect(['text', 'tool_use']).toContain(b.type);
    if (m.content.some((b) => b.type === 'tool_use')) expect(m.stop_reason).toBe('tool_use');
    // the tools and the tool turn reach the prompt
    const count = (body: Anthropic.MessageCountTokensParams) => anthropic.messages.countTokens(body).then((r) => r.input_tokens);
    const bare = await count({ model: 'kjv-tools', messages: [{ role: 'user', content: 'What is the weather in Paris?' }] });
    expect(await count({ model: 'kjv-tools', messages: [{ role: 'user', content: 'What is the weather in Paris?' }], tools })).toBeGreaterThan(bare);
    // tool_choice none hides the tools
    expect(await count({ model: 'kjv-tools', messages: [{ role: 'user', content: 'What is the weather in Paris?' }], tools, tool_choice: { type: 'none' } })).toBe(bare);
    // a model whose template cannot show tools refuses them
    await expect(anthropic.messages.create({ model: 'kjv', max_tokens: 1, tools, messages: [{ role: 'user', content: 'x' }] })).rejects.toBeInstanceOf(Anthropic.BadRequestError);
  });

  it('counts the prompt’s tokens as the answer’s usage does', async () => {
    const body = { model: 'kjv', system: 'Be brief.', messages: [{ role: 'user' as const, content: 'Jesus wept and said' }] };
    const { input_tokens } = await anthropic.messages.countTokens(body);
    const m = await anthropic.messages.create({ ...body, max_tokens: 1 });
    expect(input_tokens).toBe(m.usage.input_tokens);
  });

  it('answers a thinking model’s reasoning as thinking blocks, streamed as thinking_delta', async () => {
    const params = { model: 'r1-open', max_tokens: 8, temperature: 0, thinking: { type: 'enabled' as const, budget_tokens: 1024 }, messages: [{ role: 'user' as const, content: 'In the beginning' }] };
    const m = await anthropic.messages.create(params);
    expect(m.content[0]).toMatchObject({ type: 'thinking', signature: '' });
    const thought = (m.content[0] as Anthropic.ThinkingBlock).thinking;
    expect(thought.length).toBeGreaterThan(3);
    const final = await anthropic.messages.stream(params).finalMessage();
    expect(final.content[0]).toEqual({ type: 'thinking', thinking: thought, signature: '' });
    // a thinking block sent back is the assistant turn's reasoning; disabled turns thinking off
    const off = await anthropic.messages.create({ ...params, thinking: { type: 'disabled' } });
    expect(off.content.map((b) => b.type)).toEqual(['text']);
    await expect(anthropic.messages.create({ ...params, model: 'kjv' })).rejects.toMatchObject({ status: 400, message: expect.stringContaining('does not support thinking') });
  });

  it('answers bad input with Anthropic’s error shape and status, and stays up', async () => {
    const post = (path: string, body: string) => fetch(`${d.url}${path}`, { method: 'POST', body, headers: { 'x-api-key': 'anything', 'anthropic-version': '2023-06-01' } });
    const cases: [string, string, number, string][] = [
      ['/v1/messages', '{"model":', 400, 'invalid_request_error'],
      ['/v1/messages', '{"model":"kjv","max_tokens":"5","messages":[{"role":"user","content":"x"}]}', 400, 'invalid_request_error'],
      ['/v1/messages', '{"model":"kjv","messages":[{"role":"user","content":"x"}]}', 400, 'invalid_request_error'],
      ['/v1/messages', '{"model":"kjv","max_tokens":5,"messages":[{"role":"user","content":[{"type":"document"}]}]}', 400, 'invalid_request_error'],
      ['/v1/messages', '{"model":"nope","max_tokens":5,"messages":[{"role":"user","content":"x"}]}', 404, 'not_found_error'],
      ['/v1/messages', JSON.stringify({ model: 'kjv', max_tokens: 5, messages: [{ role: 'user', content: 'x'.repeat(70_000) }] }), 413, 'request_too_large'],
      ['/v1/messages/count_tokens', '{"model":"kjv"}', 400, 'invalid_request_error'],
      ['/v1/messages/count_tokens', '{"model":"nope","messages":[{"role":"user","content":"x"}]}', 404, 'not_found_error'],
      ['/v1/messages/nothing', '{}', 404, 'not_found_error'],
    ];
    for (const [path, body, status, type] of cases) {
      const res = await post(path, body);
      expect(res.status, body.slice(0, 60)).toBe(status);
      const e = await res.json();
      expect(e).toEqual({ type: 'error', error: { type, message: expect.any(String) } });
    }
    const err = await anthropic.messages.create({ model: 'nope', max_tokens: 1, messages: [{ role: 'user', content: 'x' }] }).catch((e) => e);
    expect(err).toBeInstanceOf(Anthropic.NotFoundError);
    expect(err.error).toEqual({ type: 'error', error: { type: 'not_found_error', message: "model 'nope' not found" } });
    expect((await fetch(`${d.url}/api/version`)).status).toBe(200);
  });
});
