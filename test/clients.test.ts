/**
 * The AI SDK (`ai` with `@ai-sdk/openai`'s default provider (the Responses
 * API), its `.chat()` and
 * `@ai-sdk/openai-compatible`) and LangChain's `@langchain/ollama` against
 * the real daemon on kjv. kjv is a bible model: it writes verses, never JSON
 * or a call on its own, so what these assert — objects that validate, calls
 * of offered tools with valid arguments — holds because kiln's grammar made
 * it so (`response_format` / `format`, and `tool_choice`).
 */
import { createOpenAI } from '@ai-sdk/openai';
import { createOpenAICompatible } from '@ai-sdk/openai-compatible';
import { ChatOllama } from '@langchain/ollama';
import { generateObject, generateText, streamText, tool, type LanguageModel } from 'ai';
import { Ollama } from 'ollama';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { cleanup, startDaemon, type RunningDaemon } from './helpers/daemon.js';

let d: RunningDaemon;
let compatible: ReturnType<typeof createOpenAICompatible>;
let openai: ReturnType<typeof createOpenAI>;

// A kjv variant whose template renders tools, with room for tools in the prompt and calls after it.
const TEMPLATE = '{{ if .Tools }}Tools: {{ json .Tools }}\n{{ end }}{{ range .Messages }}{{ .Role }}: {{ .Content }}\n{{ end }}assistant:';

beforeAll(async () => {
  d = await startDaemon();
  await new Ollama({ host: d.url }).create({ model: 'kjv-tools', from: 'kjv', template: TEMPLATE, parameters: { num_ctx: 2048 } });
  compatible = createOpenAICompatible({ name: 'kiln', baseURL: `${d.url}/v1`, supportsStructuredOutputs: true });
  openai = createOpenAI({ baseURL: `${d.url}/v1`, apiKey: 'kiln' });
});

afterAll(async () => {
  await d?.stop();
  if (d) cleanup(d.home);
});

const weather = tool({ description: 'Weather of a city', inputSchema: z.object({ city: z.string().max(20) }) });
const time = tool({ description: 'Time in a zone', inputSchema: z.object({ zone: z.enum(['UTC', 'CET', 'EST']) }) });
const book = z.object({ book: z.enum(['Genesis', 'Exodus', 'Psalms']), chapter: z.number().int(), verse: z.string().max(40) });

/** The AI SDK providers: openai-compatible, @ai-sdk/openai's default (it posts to /v1/responses) and its Chat Completions form. */
const providers: [string, () => LanguageModel, string][] = [
  ['openai-compatible', () => compatible.chatModel('kjv-tools'), 'kiln'],
  ['openai default (Responses)', () => openai('kjv-tools'), 'openai'],
  ['openai .chat()', () => openai.chat('kjv-tools'), 'openai'],
];

describe.each(providers)('AI SDK, %s', (_, model, key) => {
  it('generateText and streamText: the same text, with usage', async () => {
    const a = await generateText({ model: model(), prompt: 'In the beginning', temperature: 0, maxOutputTokens: 16 });
    expect(a.text.length).toBeGreaterThan(5);
    expect(a.finishReason).toBe('length');
    expect(a.usage.outputTokens).toBe(16);
    const s = streamText({ model: model(), prompt: 'In the beginning', temperature: 0, maxOutputTokens: 16 });
    let text = '';
    for await (const t of s.textStream) text += t;
    expect(text).toBe(a.text);
  });

  it('generateObject: an object that validates against the zod schema', async () => {
    const r = await generateObject({ model: model(), schema: book, prompt: 'Name a verse', temperature: 0, maxOutputTokens: 200 });
    expect(book.parse(r.object)).toEqual(r.object);
  });

  it('tools with toolChoice "required": a valid call, no ToolChoiceViolationError', async () => {
    const r = await generateText({
      model: model(),
      prompt: 'What is the weather in Paris?',
      tools: { weather, time },
      toolChoice: 'required',
      temperature: 0,
      maxOutputTokens: 200,
      providerOptions: { [key]: key === 'openai' ? { parallelToolCalls: false } : { parallel_tool_calls: false } },
    });
    expect(r.finishReason).toBe('tool-calls');
    expect(r.toolCalls).toHaveLength(1);
    const c = r.toolCalls[0];
    if (c.toolName === 'weather') expect(weather.inputSchema.parse(c.input)).toEqual(c.input);
    else expect(time.inputSchema.parse(c.input)).toEqual(c.input);
  });

  it('tools with a named tool, streamed: every call is of that tool', async () => {
    const s = streamText({
      model: model(),
      prompt: 'What time is it?',
      tools: { weather, time },
      toolChoice: { type: 'tool', toolName: 'time' },
      temperature: 0,
      maxOutputTokens: 200,
      providerOptions: { [key]: key === 'openai' ? { parallelToolCalls: false } : { parallel_tool_calls: false } },
    });
    const calls = await s.toolCalls;
    expect(calls).toHaveLength(1);
    expect(calls[0].toolName).toBe('time');
    expect(time.inputSchema.parse(calls[0].input)).toEqual(calls[0].input);
  });
});

describe('LangChain ChatOllama', () => {
  const llm = () => new ChatOllama({ model: 'kjv-tools', baseUrl: d.url, temperature: 0, numPredict: 200 });

  it('withStructuredOutput (a zod schema, sent as format): a parsed object that validates', async () => {
    const r = await llm().withStructuredOutput(book).invoke('Name a verse');
    expect(book.parse(r)).toEqual(r);
  });

  it('.bindTools: the tools reach the template; a call-shaped format comes back as tool_calls', async () => {
    const bound = llm().bindTools([{ type: 'function', function: { name: 'get_weather', description: 'Weather of a city', parameters: { type: 'object', properties: { city: { type: 'string', maxLength: 20 } }, required: ['city'] } } }]);
    // left alone, the bible model answers in verses
    const plain = await bound.invoke('What is the weather in Paris?');
    expect(plain.tool_calls ?? []).toEqual([]);
    expect(String(plain.content).length).toBeGreaterThan(0);
    const call = { type: 'object', properties: { name: { const: 'get_weather' }, arguments: { type: 'object', properties: { city: { type: 'string', maxLength: 20 } }, required: ['city'] } }, required: ['name', 'arguments'] };
    const forced = await llm()
      .bindTools([{ type: 'function', function: { name: 'get_weather', description: 'Weather of a city', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }], { format: call } as never)
      .invoke('What is the weather in Paris?');
    expect(forced.tool_calls).toHaveLength(1);
    expect(forced.tool_calls![0].name).toBe('get_weather');
    expect(typeof forced.tool_calls![0].args.city).toBe('string');
  });
});
