import { describe, expect, it } from 'vitest';
import type { ChatResponse, ResponsesStreamEvent } from '../api/types.js';
import { parseResponses } from '../api/parse-responses.js';
import { nativeMessages, outputItems, responseShell, toNativeChat, finishResponse, outputAsInput } from './responses.js';
import { toResponseEvents } from './responses-stream.js';

const base: ChatResponse = { model: 'm', created_at: '', message: { role: 'assistant', content: '' }, done: true, done_reason: 'stop', prompt_eval_count: 5, eval_count: 2 };

describe('Responses request → native chat', () => {
  it('takes a string input as one user message, instructions as the system message', () => {
    const req = parseResponses({ model: 'kjv', input: 'Hi', instructions: 'Be brief.', max_output_tokens: 9, temperature: 0.1, top_k: 4 });
    expect(toNativeChat(req, req.input)).toEqual({ model: 'kjv', messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Hi' }], tools: undefined, stream: false, format: undefined, options: { temperature: 0.1, num_predict: 9, top_k: 4 } });
  });

  it('maps messages, images, reasoning, function calls and their outputs', () => {
    const req = parseResponses({
      model: 'm',
      input: [
        { role: 'developer', content: 'Rules' },
        { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'Look' }, { type: 'input_image', image_url: 'data:image/png;base64,AAAA' }] },
        { type: 'reasoning', id: 'rs_1', summary: [], content: [{ type: 'reasoning_text', text: 'Hmm' }] },
        { type: 'function_call', call_id: 'c1', name: 'get_weather', arguments: '{"city":"Paris"}' },
        { type: 'function_call', call_id: 'c2', name: 'get_time', arguments: '' },
        { type: 'function_call_output', call_id: 'c1', output: 'Sunny' },
        { role: 'assistant', content: [{ type: 'output_text', text: 'It is sunny.' }] },
      ],
    });
    expect(nativeMessages(req.input)).toEqual([
      { role: 'system', content: 'Rules' },
      { role: 'user', content: 'Look', images: ['AAAA'] },
      {
        role: 'assistant',
        content: '',
        thinking: 'Hmm',
        tool_calls: [
          { id: 'c1', function: { name: 'get_weather', arguments: { city: 'Paris' } } },
          { id: 'c2', function: { name: 'get_time', arguments: {} } },
        ],
      },
      { role: 'tool', content: 'Sunny', tool_call_id: 'c1', tool_name: 'get_weather' },
      { role: 'assistant', content: 'It is sunny.' },
    ]);
  });

  it('maps tools, tool_choice, parallel_tool_calls, text.format and reasoning.effort', () => {
    const tools = [{ type: 'function', name: 'f', description: 'F', parameters: { type: 'object', properties: {} } }];
    const req = parseResponses({ model: 'm', input: 'x', tools, tool_choice: { type: 'function', name: 'f' }, parallel_tool_calls: false, text: { format: { type: 'json_schema', name: 'o', schema: { type: 'object' } } }, reasoning: { effort: 'none' } });
    const n = toNativeChat(req, req.input);
    expect(n.tools).toEqual([{ type: 'function', function: { name: 'f', description: 'F', parameters: { type: 'object', properties: {} } } }]);
    expect(n.tool_choice).toEqual({ name: 'f' });
    expect(n.parallel_tool_calls).toBe(false);
    expect(n.format).toEqual({ type: 'object' });
    expect(n.think).toBe(false);
    const none = parseResponses({ model: 'm', input: 'x', tools, tool_choice: 'none', text: { format: { type: 'json_object' } } });
    expect(toNativeChat(none, none.input)).toMatchObject({ tools: undefined, tool_choice: 'none', format: 'json' });
    expect(toNativeChat(parseResponses({ model: 'm', input: 'x', tool_choice: 'required' }), []).tool_choice).toBe('required');
  });

  it('refuses bad input with a 400 naming the field', () => {
    const bad: [unknown, RegExp][] = [
      [{ input: 'x' }, /^model: is required/],
      [{ model: 'm' }, /^input: is required/],
      [{ model: 'm', input: 5 }, /^input: expected an array/],
      [{ model: 'm', input: [{ role: 'robot', content: 'x' }] }, /^input\[0\]\.role: must be one of/],
      [{ model: 'm', input: [{ type: 'file_search_call' }] }, /^input\[0\]\.type: input item type 'file_search_call' is not supported/],
      [{ model: 'm', input: [{ type: 'function_call_output', call_id: 'c' }] }, /^input\[0\]\.output: is required/],
      [{ model: 'm', input: 'x', tools: [{ type: 'web_search' }] }, /^tools\[0\]\.type: only function tools/],
      [{ model: 'm', input: 'x', tool_choice: 'always' }, /^tool_choice: must be/],
      [{ model: 'm', input: 'x', text: { format: { type: 'json_schema' } } }, /^text\.format\.schema: is required/],
      [{ model: 'm', input: 'x', max_output_tokens: 0 }, /^max_output_tokens: must be at least 1/],
      [{ model: 'm', input: 'x', reasoning: { effort: 'max' } }, /^reasoning\.effort: invalid reasoning value/],
    ];
    for (const [body, msg] of bad) expect(() => parseResponses(body)).toThrow(msg);
    const req = parseResponses({ model: 'm', input: [{ type: 'function_call', call_id: 'c', name: 'f', arguments: '{oops' }] });
    expect(() => nativeMessages(req.input)).toThrow(/input\[0\]: arguments of f are not JSON/);
  });
});

describe('native chat → Responses', () => {
  it('answers reasoning, message and function_call items with usage; length is incomplete', () => {
    const shell = responseShell(parseResponses({ model: 'm', input: 'x' }), 'resp_1', 1);
    const r = { ...base, message: { role: 'assistant', content: 'Yes', thinking: 'Hmm', tool_calls: [{ id: 'call_9', function: { name: 'f', arguments: { a: 1 } } }] } };
    const done = finishResponse(shell, outputItems(r), r);
    expect(done.status).toBe('completed');
    expect(done.output.map((o) => o.type)).toEqual(['reasoning', 'message', 'function_call']);
    expect(done.output[2]).toMatchObject({ call_id: 'call_9', name: 'f', arguments: '{"a":1}', status: 'completed' });
    expect(done.usage).toMatchObject({ input_tokens: 5, output_tokens: 2, total_tokens: 7 });
    const cut = finishResponse(shell, outputItems({ ...base, done_reason: 'length' }), { ...base, done_reason: 'length' });
    expect(cut).toMatchObject({ status: 'incomplete', incomplete_details: { reason: 'max_output_tokens' } });
    // a later turn repeats the output as input items
    expect(done.output.flatMap(outputAsInput)).toEqual([
      { type: 'reasoning', text: 'Hmm' },
      { type: 'message', role: 'assistant', content: 'Yes' },
      { type: 'function_call', call_id: 'call_9', name: 'f', arguments: '{"a":1}' },
    ]);
  });

  it('streams the typed event sequence, numbered, ending in response.completed with the whole response', async () => {
    async function* lines(): AsyncGenerator<ChatResponse> {
      yield { ...base, done: false, message: { role: 'assistant', content: '', thinking: 'Hm' } };
      yield { ...base, done: false, message: { role: 'assistant', content: 'Y' } };
      yield { ...base, done: false, message: { role: 'assistant', content: 'es' } };
      yield { ...base, done: false, message: { role: 'assistant', content: '', tool_calls: [{ function: { name: 'f', arguments: {} } }] } };
      yield base;
    }
    const shell = responseShell(parseResponses({ model: 'm', input: 'x' }), 'resp_1', 1);
    let stored: unknown;
    const events: ResponsesStreamEvent[] = [];
    for await (const e of toResponseEvents(lines(), shell, (r) => (stored = r))) events.push(e);
    expect(events.map((e) => e.type)).toEqual([
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.content_part.added',
      'response.reasoning_text.delta',
      'response.reasoning_text.done',
      'response.content_part.done',
      'response.output_item.done',
      'response.output_item.added',
      'response.content_part.added',
      'response.output_text.delta',
      'response.output_text.delta',
      'response.output_text.done',
      'response.content_part.done',
      'response.output_item.done',
      'response.output_item.added',
      'response.function_call_arguments.delta',
      'response.function_call_arguments.done',
      'response.output_item.done',
      'response.completed',
    ]);
    expect(events.map((e) => e.sequence_number)).toEqual(events.map((_, i) => i));
    expect(events[12]).toMatchObject({ output_index: 1, content_index: 0, text: 'Yes' });
    const final = events.at(-1)!.response as { output: { type: string }[]; status: string };
    expect(final.status).toBe('completed');
    expect(final.output.map((o) => o.type)).toEqual(['reasoning', 'message', 'function_call']);
    expect(stored).toEqual(final);
  });
});
