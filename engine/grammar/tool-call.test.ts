import { describe, expect, it } from 'vitest';
import { Recognizer, type Grammar } from './grammar.js';
import { MAX_PARALLEL_CALLS, toolCallGrammar, type ToolCallGrammarSpec } from './tool-call.js';

function accepts(g: Grammar, text: string): boolean {
  const r = new Recognizer(g);
  const s = r.feed(r.start(), text);
  return s !== undefined && s.complete;
}

const weather = { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } };
const time = { name: 'get_time', parameters: { type: 'object', properties: { zone: { enum: ['UTC', 'CET'] } } } };
const bare: ToolCallGrammarSpec = { tools: [weather, time], open: '', close: '', argsKey: 'arguments', parallel: true };

describe('tool-call grammar (tool_choice required / named)', () => {
  it('accepts a call of an offered tool with arguments valid for its schema, and several calls when parallel', () => {
    const g = toolCallGrammar(bare);
    expect(accepts(g, '{"name": "get_weather", "arguments": {"city": "Paris"}}')).toBe(true);
    expect(accepts(g, '{"name": "get_time", "arguments": { "zone": "CET" }}')).toBe(true);
    expect(accepts(g, '{"name": "get_weather", "arguments": {"city": "Paris"}}\n{"name": "get_time", "arguments": {"zone": "UTC"}}')).toBe(true);
  });

  it.each([
    ['plain text', 'It is sunny'],
    ['a tool that is not offered', '{"name": "delete_all", "arguments": {}}'],
    ['arguments that break the schema', '{"name": "get_time", "arguments": {"zone": "PST"}}'],
    ['a missing required argument', '{"name": "get_weather", "arguments": {}}'],
    ['an unfinished call', '{"name": "get_weather", "arguments": {"city": "Paris"}'],
    ['text after the call', '{"name": "get_weather", "arguments": {"city": "Paris"}} done'],
    ['indented arguments', '{"name": "get_weather", "arguments": {\n  "city": "Paris"}}'],
  ])('refuses %s', (_, t) => expect(accepts(toolCallGrammar(bare), t)).toBe(false));

  it(`allows at most ${MAX_PARALLEL_CALLS} calls, so an answer ends`, () => {
    const g = toolCallGrammar(bare);
    const one = '{"name": "get_time", "arguments": {"zone": "UTC"}}';
    expect(accepts(g, Array(MAX_PARALLEL_CALLS).fill(one).join('\n'))).toBe(true);
    expect(accepts(g, Array(MAX_PARALLEL_CALLS + 1).fill(one).join('\n'))).toBe(false);
  });

  it('allows one call only when parallel calls are off', () => {
    const g = toolCallGrammar({ ...bare, parallel: false });
    expect(accepts(g, '{"name": "get_time", "arguments": {"zone": "UTC"}}')).toBe(true);
    expect(accepts(g, '{"name": "get_time", "arguments": {"zone": "UTC"}}\n{"name": "get_time", "arguments": {"zone": "UTC"}}')).toBe(false);
  });

  it("writes the template's wrapper and arguments key around each call", () => {
    const g = toolCallGrammar({ ...bare, open: '<tool_call>\n', close: '\n</tool_call>', argsKey: 'parameters' });
    const one = '<tool_call>\n{"name": "get_time", "parameters": {"zone": "UTC"}}\n</tool_call>';
    expect(accepts(g, one)).toBe(true);
    expect(accepts(g, `${one}\n${one}`)).toBe(true);
    expect(accepts(g, '{"name": "get_time", "parameters": {"zone": "UTC"}}')).toBe(false);
    expect(accepts(g, '<tool_call>\n{"name": "get_time", "arguments": {"zone": "UTC"}}\n</tool_call>')).toBe(false);
  });

  it('takes any object for a tool without parameters; refuses a schema it cannot enforce, naming the tool', () => {
    const g = toolCallGrammar({ ...bare, tools: [{ name: 'ping' }] });
    expect(accepts(g, '{"name": "ping", "arguments": {"x": [1]}}')).toBe(true);
    expect(() => toolCallGrammar({ ...bare, tools: [{ name: 'n', parameters: { type: 'object', properties: { a: { type: 'integer', minimum: 1 } } } }] })).toThrow(
      /tool 'n' cannot be enforced: the 'minimum' keyword is not supported/,
    );
  });

  it('writes gpt-oss harmony calls, each a commentary message to functions.NAME ended by <|call|>', () => {
    const harmony: ToolCallGrammarSpec = { ...bare, close: '<|call|>', style: 'harmony' };
    const one = '<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>{"city":"Paris"}<|call|>';
    const two = '<|channel|>commentary to=functions.get_time <|constrain|>json<|message|>{"zone":"UTC"}<|call|>';
    const g = toolCallGrammar(harmony);
    expect(accepts(g, one)).toBe(true);
    expect(accepts(g, `${one}<|start|>assistant${two}`)).toBe(true);
    // <|call|> is gpt-oss's end-of-turn token (no text): the answer may end right after the arguments
    expect(accepts(g, one.replace('<|call|>', ''))).toBe(true);
    expect(accepts(g, `${one.replace('<|call|>', '')}<|start|>assistant${two}`)).toBe(true);
    expect(accepts(g, '{"name": "get_time", "arguments": {"zone": "UTC"}}')).toBe(false);
    expect(accepts(g, '<|channel|>commentary to=functions.delete_all <|constrain|>json<|message|>{}<|call|>')).toBe(false);
    expect(accepts(g, one.replace('"Paris"', '7'))).toBe(false);
    expect(accepts(toolCallGrammar({ ...harmony, parallel: false }), `${one}<|start|>assistant${two}`)).toBe(false);
    // a prompt that does not end at an assistant header gets one first
    const opened = toolCallGrammar({ ...harmony, open: '<|start|>assistant' });
    expect(accepts(opened, `<|start|>assistant${one}`)).toBe(true);
    expect(accepts(opened, one)).toBe(false);
  });
});
