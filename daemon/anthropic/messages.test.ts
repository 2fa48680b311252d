import { describe, expect, it } from 'vitest';
import type { AnthropicStreamEvent, ChatResponse } from '../api/types.js';
import { parseAnthropicCountTokens, parseAnthropicMessages } from '../api/parse-anthropic.js';
import { anthropicError } from './errors.js';
import { toMessage, toNativeChat } from './messages.js';
import { toMessageEvents } from './stream.js';
import { KilnError } from '../../common/errors.js';

const base: ChatResponse = { model: 'm', created_at: '', message: { role: 'assistant', content: '' }, done: true, done_reason: 'stop', prompt_eval_count: 5, eval_count: 2 };

describe('Anthropic request → native chat', () => {
  it('maps system blocks, content blocks, tool_use / tool_result, thinking and sampling', () => {
    const req = parseAnthropicMessages({
      model: 'kjv',
      max_tokens: 20,
      system: [{ type: 'text', text: 'Be brief.' }, { type: 'text', text: 'Be kind.' }],
      messages: [
        { role: 'user', content: [{ type: 'text', text: 'Look' }, { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'AAAA' } }] },
        { role: 'assistant', content: [{ type: 'thinking', thinking: 'Hmm', signature: 's' }, { type: 'text', text: 'Let me check.' }, { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: 'Paris' } }] },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content: [{ type: 'text', text: 'Sunny' }] }, { type: 'text', text: 'And tomorrow?' }] },
      ],
      tools: [{ name: 'get_weather', description: 'Weather', input_schema: { type: 'object', properties: { city: { type: 'string' } } } }],
      tool_choice: { type: 'any', disable_parallel_tool_use: true },
      stop_sequences: ['END'],
      temperature: 0.5,
      top_p: 0.9,
      top_k: 40,
      thinking: { type: 'enabled', budget_tokens: 1024 },
    });
    expect(toNativeChat(req)).toEqual({
      model: 'kjv',
      messages: [
        { role: 'system', content: 'Be brief.\nBe kind.' },
        { role: 'user', content: 'Look', images: ['AAAA'] },
        { role: 'assistant', content: 'Let me check.', thinking: 'Hmm', tool_calls: [{ id: 'toolu_1', function: { name: 'get_weather', arguments: { city: 'Paris' } } }] },
        { role: 'tool', content: 'Sunny', tool_call_id: 'toolu_1', tool_name: 'get_weather' },
        { role: 'user', content: 'And tomorrow?' },
      ],
      tools: [{ type: 'function', function: { name: 'get_weather', description: 'Weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }],
      tool_choice: 'required',
      parallel_tool_calls: false,
      stream: false,
      think: true,
      options: { num_predict: 20, temperature: 0.5, top_p: 0.9, top_k: 40, stop: ['END'] },
    });
  });

  it('maps each tool_choice onto the native field; "none" hides the tools', () => {
    const tools = [{ name: 'f', input_schema: { type: 'object' } }];
    const choice = (tool_choice: unknown) => toNativeChat(parseAnthropicMessages({ model: 'm', max_tokens: 1, messages: [{ role: 'user', content: 'x' }], tools, tool_choice }));
    expect(choice({ type: 'auto' }).tool_choice).toBe('auto');
    expect(choice({ type: 'tool', name: 'f' }).tool_choice).toEqual({ name: 'f' });
    expect(choice({ type: 'none' })).toMatchObject({ tool_choice: 'none', tools: undefined });
    expect(choice({ type: 'auto' }).parallel_tool_calls).toBeUndefined();
    expect(toNativeChat(parseAnthropicMessages({ model: 'm', max_tokens: 1, messages: [{ role: 'user', content: 'x' }], thinking: { type: 'disabled' } })).think).toBe(false);
  });

  it('refuses bad input with a 400 naming the field', () => {
    const bad: [unknown, RegExp][] = [
      [{ max_tokens: 1, messages: [] }, /^model: is required/],
      [{ model: 'm', messages: [{ role: 'user', content: 'x' }] }, /^max_tokens: is required/],
      [{ model: 'm', max_tokens: 1 }, /^messages: is required/],
      [{ model: 'm', max_tokens: '5', messages: [{ role: 'user', content: 'x' }] }, /^max_tokens: expected an integer/],
      [{ model: 'm', max_tokens: 1, messages: [{ role: 'system', content: 'x' }] }, /^messages\[0\]\.role: must be "user" or "assistant"/],
      [{ model: 'm', max_tokens: 1, messages: [{ role: 'user', content: [{ type: 'document' }] }] }, /^messages\[0\]\.content\[0\]\.type: content block type 'document'/],
      [{ model: 'm', max_tokens: 1, messages: [{ role: 'user', content: [{ type: 'tool_result' }] }] }, /tool_use_id: is required/],
      [{ model: 'm', max_tokens: 1, messages: [] }, /^messages: must have at least one message/],
      [{ model: 'm', max_tokens: 1, messages: [{ role: 'user', content: 'x' }], tools: [{ name: 'f' }] }, /^tools\[0\]\.input_schema: is required/],
      [{ model: 'm', max_tokens: 1, messages: [{ role: 'user', content: 'x' }], tool_choice: { type: 'some' } }, /^tool_choice\.type: must be/],
      [{ model: 'm', max_tokens: 1, messages: [{ role: 'user', content: 'x' }], thinking: { type: 'enabled' } }, /^thinking\.budget_tokens: is required/],
      [{ model: 'm', max_tokens: 1, messages: [{ role: 'user', content: 'x' }], stop_sequences: 'END' }, /^stop_sequences: expected an array/],
    ];
    for (const [body, msg] of bad) expect(() => parseAnthropicMessages(body)).toThrow(msg);
    expect(() => parseAnthropicCountTokens({ model: 'm' })).toThrow(/^messages: is required/);
    expect(parseAnthropicCountTokens({ model: 'm', messages: [{ role: 'user', content: 'x' }] })).toEqual({ model: 'm', messages: [{ role: 'user', content: 'x' }] });
  });

  it('answers errors as {type: "error", error: {type, message}}', () => {
    expect(anthropicError(new KilnError('E_MODEL_NOT_FOUND', "model 'x' not found"))).toEqual({ status: 404, body: { type: 'error', error: { type: 'not_found_error', message: "model 'x' not found" } } });
    expect(anthropicError(new KilnError('E_PAYLOAD_TOO_LARGE', 'big')).body.error.type).toBe('request_too_large');
    expect(anthropicError(new KilnError('E_QUEUE_FULL', 'busy')).body.error.type).toBe('overloaded_error');
    expect(anthropicError(new Error('boom'))).toMatchObject({ status: 500, body: { error: { type: 'api_error' } } });
  });
});

describe('native chat → Anthropic', () => {
  it('answers thinking, text and tool_use blocks with the stop reason and usage', () => {
    const m = toMessage({ ...base, message: { role: 'assistant', content: 'Yes', thinking: 'Hmm', tool_calls: [{ id: 'toolu_9', function: { name: 'f', arguments: { a: 1 } } }] } });
    expect(m.content).toEqual([
      { type: 'thinking', thinking: 'Hmm', signature: '' },
      { type: 'text', text: 'Yes' },
      { type: 'tool_use', id: 'toolu_9', name: 'f', input: { a: 1 } },
    ]);
    expect(m).toMatchObject({ type: 'message', role: 'assistant', stop_reason: 'tool_use', stop_sequence: null, usage: { input_tokens: 5, output_tokens: 2 } });
    expect(toMessage({ ...base, done_reason: 'length' })).toMatchObject({ content: [{ type: 'text', text: '' }], stop_reason: 'max_tokens' });
    expect(toMessage(base).stop_reason).toBe('end_turn');
    expect(toMessage({ ...base, stop_sequence: 'END' })).toMatchObject({ stop_reason: 'stop_sequence', stop_sequence: 'END' });
  });

  it('streams message_start, ping, blocks with their deltas, message_delta and message_stop', async () => {
    async function* lines(): AsyncGenerator<ChatResponse> {
      yield { ...base, done: false, message: { role: 'assistant', content: '', thinking: 'Hm' } };
      yield { ...base, done: false, message: { role: 'assistant', content: 'Y' } };
      yield { ...base, done: false, message: { role: 'assistant', content: 'es' } };
      yield { ...base, done: false, message: { role: 'assistant', content: '', tool_calls: [{ function: { name: 'f', arguments: { a: 1 } } }] } };
      yield base;
    }
    const events: AnthropicStreamEvent[] = [];
    for await (const e of toMessageEvents(lines(), 'm')) events.push(e);
    const shape = events.map((e) => [e.type, e.index, (e.delta as { type?: string } | undefined)?.type ?? (e.content_block as { type?: string } | undefined)?.type].filter((x) => x !== undefined).join(' '));
    expect(shape).toEqual([
      'message_start',
      'ping',
      'content_block_start 0 thinking',
      'content_block_delta 0 thinking_delta',
      'content_block_delta 0 signature_delta',
      'content_block_stop 0',
      'content_block_start 1 text',
      'content_block_delta 1 text_delta',
      'content_block_delta 1 text_delta',
      'content_block_stop 1',
      'content_block_start 2 tool_use',
      'content_block_delta 2 input_json_delta',
      'content_block_stop 2',
      'message_delta',
      'message_stop',
    ]);
    expect(events[11].delta).toEqual({ type: 'input_json_delta', partial_json: '{"a":1}' });
    expect(events[13]).toMatchObject({ delta: { stop_reason: 'tool_use', stop_sequence: null }, usage: { input_tokens: 5, output_tokens: 2 } });
  });
});
