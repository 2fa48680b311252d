import { describe, expect, it } from 'vitest';
import type { ChatResponse, OpenAIChatRequest } from '../api/types.js';
import * as parse from '../api/parse.js';
import { toChatChunks, toChatCompletion, toNativeChat } from './chat.js';

const tools = [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }];

describe('OpenAI chat → native chat', () => {
  it('maps roles, content parts, images, tool calls and results, and sampling options', () => {
    const req: OpenAIChatRequest = {
      model: 'kjv',
      messages: [
        { role: 'developer', content: 'Be brief.' },
        { role: 'user', content: [{ type: 'text', text: 'Look:' }, { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } }] },
        { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] },
        { role: 'tool', tool_call_id: 'call_1', content: 'Sunny' },
      ],
      tools,
      max_completion_tokens: 10,
      temperature: 0.2,
      stop: 'END',
      seed: 4,
      response_format: { type: 'json_object' },
    };
    expect(toNativeChat(req)).toEqual({
      model: 'kjv',
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'Look:', images: ['iVBORw0KGgo='] },
        { role: 'assistant', content: '', tool_calls: [{ id: 'call_1', function: { name: 'get_weather', arguments: { city: 'Paris' } } }] },
        { role: 'tool', content: 'Sunny', tool_call_id: 'call_1', tool_name: 'get_weather' },
      ],
      tools,
      stream: false,
      format: 'json',
      options: { temperature: 0.2, seed: 4, stop: ['END'], num_predict: 10 },
    });
  });

  it('carries tool_choice, parallel_tool_calls and logprobs to the native request (the chat service hides the tools for "none")', () => {
    const base = { model: 'm', messages: [{ role: 'user' as const, content: 'x' }], tools };
    expect(toNativeChat({ ...base, tool_choice: 'none' })).toMatchObject({ tools, tool_choice: 'none' });
    expect(toNativeChat({ ...base, tool_choice: { name: 'f' }, parallel_tool_calls: false })).toMatchObject({ tool_choice: { name: 'f' }, parallel_tool_calls: false });
    expect(toNativeChat({ ...base, logprobs: true, top_logprobs: 3 })).toMatchObject({ logprobs: true, top_logprobs: 3 });
    expect(toNativeChat({ ...base, logprobs: false, top_logprobs: undefined }).logprobs).toBeUndefined();
  });

  it('refuses what it cannot do', () => {
    expect(() => toNativeChat({ model: 'm', messages: [{ role: 'user', content: 'x' }], n: 2 })).toThrow(/one choice per request/);
    expect(() => toNativeChat({ model: 'm', messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'https://x/y.png' } }] }] })).toThrow(/data: URLs/);
    expect(() =>
      toNativeChat({ model: 'm', messages: [{ role: 'assistant', tool_calls: [{ id: 'c', type: 'function', function: { name: 'f', arguments: '{oops' } }] }] }),
    ).toThrow(/not JSON/);
    expect(() => toNativeChat({ model: 'm', messages: [], response_format: { type: 'json_schema' } })).toThrow(/json_schema.schema is required/);
  });
});

describe('reasoning (Ollama’s OpenAI layer)', () => {
  const base = { model: 'r1', messages: [{ role: 'user' as const, content: 'x' }] };

  it('maps reasoning_effort / reasoning.effort to think: a level, or false for "none"', () => {
    expect(toNativeChat(parse.parseOpenAIChat({ ...base, reasoning_effort: 'high' })).think).toBe('high');
    expect(toNativeChat(parse.parseOpenAIChat({ ...base, reasoning_effort: 'none' })).think).toBe(false);
    expect(toNativeChat(parse.parseOpenAIChat({ ...base, reasoning: { effort: 'low' }, reasoning_effort: 'high' })).think).toBe('low');
    expect(toNativeChat(parse.parseOpenAIChat({ ...base, reasoning_effort: null })).think).toBeUndefined();
    expect(() => parse.parseOpenAIChat({ ...base, reasoning_effort: 'max' })).toThrow(`reasoning_effort: invalid reasoning value: 'max' (must be "high", "medium", "low", or "none")`);
  });

  it('takes an assistant message’s reasoning back as its thinking', () => {
    const req = parse.parseOpenAIChat({ model: 'r1', messages: [{ role: 'assistant', content: 'Yes', reasoning: 'Because.' }] });
    expect(toNativeChat(req).messages).toEqual([{ role: 'assistant', content: 'Yes', thinking: 'Because.' }]);
  });

  it('puts thinking in message.reasoning and delta.reasoning, never in content', async () => {
    const done: ChatResponse = { model: 'r1', created_at: '', message: { role: 'assistant', content: '' }, done: true, done_reason: 'stop' };
    const c = toChatCompletion({ ...done, message: { role: 'assistant', content: 'Yes', thinking: 'Hmm' } });
    expect(c.choices[0].message).toEqual({ role: 'assistant', content: 'Yes', reasoning: 'Hmm' });
    async function* lines(): AsyncGenerator<ChatResponse> {
      yield { ...done, done: false, message: { role: 'assistant', content: '', thinking: 'Hmm' } };
      yield { ...done, done: false, message: { role: 'assistant', content: 'Yes' } };
      yield done;
    }
    const deltas = [];
    for await (const ch of toChatChunks(lines(), false)) deltas.push(ch.choices[0].delta);
    expect(deltas).toEqual([{ role: 'assistant', reasoning: 'Hmm' }, { content: 'Yes' }, {}]);
  });
});

describe('native chat → OpenAI', () => {
  const final: ChatResponse = { model: 'kjv:latest', created_at: '', message: { role: 'assistant', content: '' }, done: true, done_reason: 'length', prompt_eval_count: 7, eval_count: 3 };

  it('answers a completion with usage and the finish reason', () => {
    const c = toChatCompletion({ ...final, message: { role: 'assistant', content: 'Amen' } });
    expect(c).toMatchObject({ object: 'chat.completion', model: 'kjv:latest', choices: [{ index: 0, message: { role: 'assistant', content: 'Amen' }, finish_reason: 'length' }], usage: { prompt_tokens: 7, completion_tokens: 3, total_tokens: 10 } });
    const t = toChatCompletion({ ...final, message: { role: 'assistant', content: '', tool_calls: [{ function: { name: 'f', arguments: { a: 1 } } }] } });
    expect(t.choices[0].finish_reason).toBe('tool_calls');
    expect(t.choices[0].message.tool_calls![0]).toMatchObject({ type: 'function', function: { name: 'f', arguments: '{"a":1}' } });
  });

  it('streams deltas: the role first, tool calls with an index, a finishing chunk, then usage when asked', async () => {
    async function* lines(): AsyncGenerator<ChatResponse> {
      yield { model: 'kjv:latest', created_at: '', message: { role: 'assistant', content: 'In' }, done: false };
      yield { model: 'kjv:latest', created_at: '', message: { role: 'assistant', content: '', tool_calls: [{ function: { name: 'f', arguments: {} } }] }, done: false };
      yield final;
    }
    const chunks = [];
    for await (const c of toChatChunks(lines(), true)) chunks.push(c);
    expect(chunks.map((c) => c.choices[0]?.delta)).toEqual([
      { role: 'assistant', content: 'In' },
      { tool_calls: [expect.objectContaining({ index: 0, type: 'function', function: { name: 'f', arguments: '{}' } })] },
      {},
      undefined,
    ]);
    expect(chunks[2].choices[0].finish_reason).toBe('tool_calls');
    expect(chunks[3]).toMatchObject({ choices: [], usage: { total_tokens: 10 } });
    expect(new Set(chunks.map((c) => c.id)).size).toBe(1);
  });

  it('gives calls streamed in separate pieces their own index, so a client does not merge them', async () => {
    async function* lines(): AsyncGenerator<ChatResponse> {
      yield { model: 'kjv:latest', created_at: '', message: { role: 'assistant', content: '', tool_calls: [{ function: { index: 0, name: 'f', arguments: { a: 1 } } }] }, done: false };
      yield { model: 'kjv:latest', created_at: '', message: { role: 'assistant', content: '', tool_calls: [{ function: { index: 1, name: 'g', arguments: {} } }] }, done: false };
      yield final;
    }
    const deltas = [];
    for await (const c of toChatChunks(lines(), false)) deltas.push(c.choices[0]?.delta);
    expect(deltas.slice(0, 2).map((d) => d?.tool_calls?.map((t) => [t.index, t.function.name]))).toEqual([[[0, 'f']], [[1, 'g']]]);
  });
});
