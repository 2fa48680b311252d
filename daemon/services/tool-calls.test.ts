import { describe, expect, it } from 'vitest';
import type { Tool } from '../api/types.js';
import { parseToolCalls, ToolCallParser } from './tool-calls.js';

const tools: Tool[] = [
  { type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } },
  { type: 'function', function: { name: 'add', parameters: { type: 'object', properties: { a: { type: 'number' } } } } },
];
const names = new Set(tools.map((t) => t.function.name));

/** Feeds pieces; `streamed` is the text passed on at once, `early` the calls handed on before finish(). */
function feed(pieces: string[]): { streamed: string; content: string; calls: unknown[]; early: number[] } {
  const p = new ToolCallParser(tools);
  let streamed = '';
  const early: number[] = [];
  const calls: unknown[] = [];
  pieces.forEach((x, i) => {
    const r = p.push(x);
    streamed += r.content;
    for (const c of r.toolCalls) {
      early.push(i);
      calls.push(c);
    }
  });
  const { content, toolCalls } = p.finish();
  return { streamed, content, calls: [...calls, ...toolCalls], early };
}

describe('tool calls in model output', () => {
  it.each([
    ['Llama 3.1 JSON', '{"name": "get_weather", "parameters": {"city": "Paris"}}'],
    ['arguments key', '{"name":"get_weather","arguments":{"city":"Paris"}}'],
    ['Qwen tags', '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'],
    ['python tag', '<|python_tag|>{"name": "get_weather", "parameters": {"city": "Paris"}}<|eom_id|>'],
    ['fenced', '```json\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n```'],
    ['OpenAI shape, string arguments', '{"type":"function","function":{"name":"get_weather","arguments":"{\\"city\\": \\"Paris\\"}"}}'],
  ])('parses %s', (_, text) => {
    expect(parseToolCalls(text, names)).toEqual([{ function: { index: 0, name: 'get_weather', arguments: { city: 'Paris' } } }]);
  });

  it('parses several calls, in an array or one after another', () => {
    const want = [
      { function: { index: 0, name: 'get_weather', arguments: { city: 'Paris' } } },
      { function: { index: 1, name: 'add', arguments: { a: 1 } } },
    ];
    expect(parseToolCalls('[{"name":"get_weather","arguments":{"city":"Paris"}},{"name":"add","arguments":{"a":1}}]', names)).toEqual(want);
    expect(parseToolCalls('<tool_call>{"name":"get_weather","arguments":{"city":"Paris"}}</tool_call>\n<tool_call>{"name":"add","arguments":{"a":1}}</tool_call>', names)).toEqual(want);
    expect(parseToolCalls('{"name":"get_weather","parameters":{"city":"Paris"}}; {"name":"add","parameters":{"a":1}}', names)).toEqual(want);
  });

  it.each([
    ['an unknown function', '{"name": "rm_rf", "arguments": {}}'],
    ['plain JSON data', '{"city": "Paris"}'],
    ['unbalanced JSON', '{"name": "add", "arguments": {"a": 1}'],
    ['JSON followed by prose', '{"name": "add", "arguments": {"a": 1}} and then'],
  ])('does not take %s for a call', (_, text) => {
    expect(parseToolCalls(text, names)).toEqual([]);
  });

  it('streams prose at once and hands each call on the moment its JSON closes', () => {
    expect(feed(['The', ' weather', ' is fine'])).toEqual({ streamed: 'The weather is fine', content: '', calls: [], early: [] });
    const r = feed(['  {"name": "get_', 'weather", "parameters": {"city"', ': "Paris"}}', '\n']);
    expect(r).toEqual({ streamed: '', content: '', calls: [{ function: { index: 0, name: 'get_weather', arguments: { city: 'Paris' } } }], early: [2] });
    // Qwen-style: two wrapped calls, each handed on when complete, the wrappers swallowed
    const q = feed(['<tool_call>\n{"name":"get_weather","arguments":{"city":"Paris"}}', '\n</tool_call>\n<tool_call>{"name":"add",', '"arguments":{"a":1}}</tool_call>']);
    expect(q.early).toEqual([0, 2]);
    expect(q.calls).toEqual([
      { function: { index: 0, name: 'get_weather', arguments: { city: 'Paris' } } },
      { function: { index: 1, name: 'add', arguments: { a: 1 } } },
    ]);
    expect(q.content).toBe('');
    // prose after a finished call comes back as content at the end
    const p = feed(['{"name":"add","arguments":{"a":1}}', ' and then some']);
    expect(p).toMatchObject({ streamed: '', content: ' and then some', early: [0] });
  });

  it('holds a possible opener, then gives it back when it turns out to be prose', () => {
    expect(feed(['<tool', 'box> is a word'])).toEqual({ streamed: '<toolbox> is a word', content: '', calls: [], early: [] });
    // held JSON that is not a call comes back as content at the end
    expect(feed(['{"city": ', '"Paris"}'])).toEqual({ streamed: '', content: '{"city": "Paris"}', calls: [], early: [] });
  });
});
