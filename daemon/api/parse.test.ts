import { describe, expect, it } from 'vitest';
import { isKilnError } from '../../common/errors.js';
import * as parse from './parse.js';

function refusal(f: () => unknown): { message: string; param?: string } {
  try {
    f();
  } catch (e) {
    expect(isKilnError(e, 'E_BAD_REQUEST'), String(e)).toBe(true);
    return e as { message: string; param?: string };
  }
  throw new Error('expected a 400');
}

describe('think', () => {
  it('takes true, false and the levels, and refuses other strings with Ollama’s words', () => {
    for (const think of [true, false, 'high', 'medium', 'low']) expect(parse.parseChat({ model: 'm', think }).think).toBe(think);
    expect(parse.parseGenerate({ model: 'm', think: null }).think).toBeUndefined();
    expect(refusal(() => parse.parseChat({ model: 'm', think: 'max' }))).toMatchObject({
      param: 'think',
      message: 'think: invalid think value: "max" (must be "high", "medium", "low", true, or false)',
    });
    expect(refusal(() => parse.parseGenerate({ model: 'm', think: 1 })).param).toBe('think');
  });
});

describe('OpenAI bodies that raised a TypeError (a 500) before', () => {
  it('are refused naming the field', () => {
    expect(refusal(() => parse.parseOpenAIChat({ model: 'm', messages: [null] }))).toMatchObject({ param: 'messages[0]', message: 'messages[0]: expected an object, got null' });
    expect(refusal(() => parse.parseOpenAIChat({ model: 'm', messages: [{ role: 'assistant', tool_calls: [{}] }] }))).toMatchObject({
      param: 'messages[0].tool_calls[0].function',
    });
    expect(refusal(() => parse.parseOpenAIChat({ model: 'm', messages: [{ role: 'user', content: [null] }] }))).toMatchObject({ param: 'messages[0].content[0]' });
    expect(refusal(() => parse.parseOpenAIChat({ model: 'm', messages: [{ role: 'user', content: [{ text: 'x' }] }] })).param).toBe('messages[0].content[0].type');
    expect(refusal(() => parse.parseOpenAIChat({ model: 'm', messages: [{ role: 'wizard', content: 'x' }] })).param).toBe('messages[0].role');
    expect(refusal(() => parse.parseOpenAIChat({ model: 'm' })).param).toBe('messages');
    expect(refusal(() => parse.parseOpenAIChat({ messages: [] })).param).toBe('model');
    expect(refusal(() => parse.parseOpenAIChat({ model: 'm', messages: [], temperature: 'hot' })).param).toBe('temperature');
    expect(refusal(() => parse.parseOpenAIChat({ model: 'm', messages: [], tools: [{ type: 'custom', custom: { name: 'x' } }] })).param).toBe('tools[0].type');
    expect(refusal(() => parse.parseOpenAIEmbedding({ model: 'm', input: [1, 2] })).param).toBe('input');
    expect(refusal(() => parse.parseOpenAICompletion({ model: 'm', prompt: [[1]] })).param).toBe('prompt');
  });
});

describe('what the official clients send', () => {
  it('takes a null option as absent, so the model\'s PARAMETER stands (found by bench/fuzz.ts)', () => {
    const g = parse.parseGenerate({ model: 'kjv', prompt: 'x', options: { num_predict: null, temperature: 0.5, stop: null } });
    expect(g.options).toEqual({ temperature: 0.5 });
  });

  it('is accepted, with nulls as absent fields and unknown fields ignored', () => {
    // the openai client: nulls for unset fields, fields kiln has no use for
    const chat = parse.parseOpenAIChat({
      model: 'kjv',
      messages: [
        { role: 'developer', content: 'Be brief.', name: null },
        { role: 'user', content: [{ type: 'text', text: 'Look:' }, { type: 'image_url', image_url: { url: 'data:image/png;base64,AA==', detail: 'low' } }] },
        { role: 'assistant', content: null, refusal: null, tool_calls: [{ id: 'c1', type: 'function', function: { name: 'f', arguments: '{}' } }] },
        { role: 'tool', tool_call_id: 'c1', content: 'ok' },
      ],
      temperature: null,
      top_p: null,
      max_tokens: null,
      stop: null,
      stream: null,
      stream_options: null,
      seed: 3,
      user: 'someone',
      logprobs: false,
      metadata: { a: 'b' },
      tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'object', properties: { a: { type: 'string' } } }, strict: true } }],
      tool_choice: 'auto',
    });
    expect(chat).toMatchObject({ model: 'kjv', seed: 3, tool_choice: 'auto' });
    expect(chat).not.toHaveProperty('temperature');
    expect(chat).not.toHaveProperty('user');
    expect(chat.messages).toHaveLength(4);
    expect(chat.messages[2]).toMatchObject({ role: 'assistant', content: null, tool_calls: [{ id: 'c1', function: { name: 'f', arguments: '{}' } }] });
    expect(parse.parseOpenAIEmbedding({ model: 'kjv', input: ['a', 'b'], encoding_format: 'base64', user: 'x' })).toEqual({ model: 'kjv', input: ['a', 'b'], encoding_format: 'base64' });
    expect(parse.parseOpenAICompletion({ model: 'kjv', prompt: 'x', suffix: null, echo: null, best_of: 1, logit_bias: null })).toEqual({ model: 'kjv', prompt: 'x' });

    // the ollama client
    const c = parse.parseChat({
      model: 'kjv',
      messages: [{ role: 'user', content: 'hi', images: ['AA=='] }, { role: 'assistant', content: '', tool_calls: [{ function: { name: 'f', arguments: { a: 1 } } }] }],
      tools: [{ type: 'function', function: { name: 'f', description: 'd', parameters: { type: 'object', required: ['a'], properties: { a: { type: 'integer' } } } } }],
      format: { type: 'object' },
      keep_alive: '5m',
      think: 'high',
      logprobs: true,
      options: { temperature: 0 },
      stream: false,
    });
    expect(c).toMatchObject({ model: 'kjv', stream: false, keep_alive: '5m', think: 'high', format: { type: 'object' }, options: { temperature: 0 } });
    expect(c.messages![1].tool_calls).toEqual([{ function: { name: 'f', arguments: { a: 1 } } }]);
    expect(parse.parseGenerate({ model: 'kjv', prompt: 'x', context: [1, 2], keep_alive: 0, images: [], raw: true })).toMatchObject({ context: [1, 2], keep_alive: 0 });
    expect(parse.parseEmbed({ model: 'kjv', input: 'x', truncate: true, dimensions: 8 })).toEqual({ model: 'kjv', input: 'x', truncate: true, dimensions: 8 });
    expect(parse.parseCreate({ model: 'x', from: 'kjv', parameters: { stop: ['a'], num_ctx: 64 }, license: ['MIT'], messages: [] })).toMatchObject({ from: 'kjv' });
    expect(parse.parseDelete({ name: 'kjv' })).toEqual({ name: 'kjv' });
    expect(parse.parsePull({ model: 'x', insecure: true, stream: false, username: 'u' })).toEqual({ model: 'x', insecure: true, stream: false });
  });

  it('refuses Ollama bodies of the wrong shape, naming the field', () => {
    expect(refusal(() => parse.parseChat({ model: 'kjv', messages: [{ role: 'user', content: 5 }] })).message).toBe('messages[0].content: expected a string, got a number');
    expect(refusal(() => parse.parseChat({ model: 'kjv', messages: [{ role: 'user', tool_calls: [{ function: {} }] }] })).param).toBe('messages[0].tool_calls[0].function.name');
    expect(refusal(() => parse.parseChat({ model: 'kjv', tools: [{ function: { parameters: { properties: { a: 1 } } } }] })).param).toBe('tools[0].function.parameters.properties.a');
    expect(refusal(() => parse.parseGenerate({ model: 'kjv', context: [-1] })).param).toBe('context[0]');
    expect(refusal(() => parse.parseGenerate({ prompt: 'x' })).message).toBe('model: is required');
    expect(refusal(() => parse.parseEmbed({ model: 'kjv', dimensions: 0 })).param).toBe('dimensions');
    expect(refusal(() => parse.parseCreate({ model: 'x', files: { 'a.gguf': 1 } })).param).toBe("files['a.gguf']");
    expect(refusal(() => parse.parseCreate({ model: 'x', parameters: { stop: [1] } })).param).toBe('parameters.stop');
    expect(refusal(() => parse.parseCopy({ source: 'kjv' })).param).toBe('destination');
    expect(refusal(() => parse.parsePush({ model: 'x', insecure: 'yes' })).param).toBe('insecure');
    expect(refusal(() => parse.parseGenerate({ model: 'kjv', options: { temperature: 'hot' } })).message).toBe('options.temperature: expected a number, got a string');
    expect(refusal(() => parse.parseChat({ model: 'kjv', options: { stop: [1] } })).param).toBe('options.stop[0]');
    expect(parse.parseEmbed({ model: 'kjv', options: { num_gpu: 1, use_mmap: true, stop: 'x', seed: null } }).options).toEqual({ num_gpu: 1, use_mmap: true, stop: 'x' });
  });
});
