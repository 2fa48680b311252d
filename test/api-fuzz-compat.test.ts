/**
 * The Responses and Anthropic Messages routes under hostile requests, as
 * test/api-fuzz.test.ts does for the others: random bodies and good ones
 * with a field or two broken; never a 5xx, always the route's error shape,
 * and the daemon stays up.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanup, startDaemon, type RunningDaemon } from './helpers/daemon.js';

let d: RunningDaemon;

beforeAll(async () => {
  d = await startDaemon();
});

afterAll(async () => {
  await d?.stop();
  if (d) cleanup(d.home);
});

const ROUTES: [string, string][] = [
  ['POST', '/v1/responses'],
  ['GET', '/v1/responses/resp_x'],
  ['DELETE', '/v1/responses/resp_x'],
  ['POST', '/v1/messages'],
  ['POST', '/v1/messages/count_tokens'],
];

const anyValue = fc.oneof(fc.jsonValue(), fc.constant(null), fc.constant([null]), fc.constant([{}]), fc.constant({}));
const text = fc.oneof(fc.string(), fc.constant(''), anyValue);
const kind = (...names: string[]) => fc.oneof(fc.constantFrom(...names), anyValue);

const part = fc.oneof(anyValue, fc.record({ type: kind('input_text', 'output_text', 'input_image', 'refusal', 'text', 'image', 'tool_use', 'tool_result', 'thinking', 'document'), text, image_url: text, source: fc.oneof(anyValue, fc.record({ type: kind('base64', 'url'), data: text, media_type: text }, { requiredKeys: [] })), id: text, name: text, input: anyValue, tool_use_id: text, content: fc.oneof(text, fc.array(anyValue, { maxLength: 2 })), thinking: text }, { requiredKeys: [] }));

const item = fc.oneof(
  anyValue,
  fc.record(
    {
      type: kind('message', 'function_call', 'function_call_output', 'reasoning', 'item_reference'),
      role: kind('user', 'assistant', 'system', 'developer', 'tool'),
      content: fc.oneof(text, fc.array(part, { maxLength: 3 })),
      call_id: text,
      name: text,
      arguments: fc.oneof(text, fc.constant('{"a":1}'), fc.constant('[1]')),
      output: fc.oneof(text, fc.array(part, { maxLength: 2 })),
      summary: anyValue,
    },
    { requiredKeys: [] },
  ),
);

const tool = fc.oneof(anyValue, fc.record({ type: kind('function', 'custom', 'web_search'), name: text, description: text, parameters: anyValue, input_schema: fc.oneof(anyValue, fc.record({ type: text, properties: anyValue, required: anyValue }, { requiredKeys: [] })) }, { requiredKeys: [] }));

const FIELDS = {
  model: fc.oneof(fc.string(), fc.constant('kjv'), fc.integer(), fc.constant(null)),
  input: fc.oneof(text, fc.array(item, { maxLength: 4 })),
  messages: fc.oneof(fc.array(item, { maxLength: 4 }), anyValue),
  instructions: text,
  system: fc.oneof(text, fc.array(part, { maxLength: 2 })),
  tools: fc.oneof(fc.array(tool, { maxLength: 2 }), anyValue),
  tool_choice: fc.oneof(kind('auto', 'none', 'required', 'any'), fc.record({ type: kind('function', 'auto', 'any', 'tool', 'none'), name: text, disable_parallel_tool_use: anyValue }, { requiredKeys: [] })),
  parallel_tool_calls: fc.oneof(fc.boolean(), anyValue),
  text: fc.oneof(anyValue, fc.record({ format: fc.oneof(anyValue, fc.record({ type: kind('text', 'json_object', 'json_schema'), name: text, schema: fc.oneof(anyValue, fc.constant({ type: 'object' })) }, { requiredKeys: [] })) })),
  previous_response_id: fc.oneof(fc.constant('resp_unknown'), text),
  store: fc.oneof(fc.boolean(), anyValue),
  reasoning: fc.oneof(fc.record({ effort: kind('low', 'none', 'max') }, { requiredKeys: [] }), anyValue),
  thinking: fc.oneof(fc.record({ type: kind('enabled', 'disabled'), budget_tokens: fc.oneof(fc.integer({ min: -5, max: 5000 }), anyValue) }, { requiredKeys: [] }), anyValue),
  metadata: anyValue,
  stop_sequences: fc.oneof(fc.array(fc.string(), { maxLength: 2 }), anyValue),
  temperature: fc.oneof(fc.double(), anyValue),
  top_p: fc.oneof(fc.double(), anyValue),
  top_k: fc.oneof(fc.integer({ min: -3, max: 100 }), anyValue),
  seed: fc.oneof(fc.integer(), anyValue),
  stream: fc.oneof(fc.boolean(), anyValue),
};
const FIELD_NAMES = Object.keys(FIELDS) as (keyof typeof FIELDS)[];

const GOOD: Record<string, object> = {
  '/v1/responses': { model: 'kjv', input: 'In the beginning' },
  '/v1/messages': { model: 'kjv', max_tokens: 2, messages: [{ role: 'user', content: 'In the beginning' }] },
  '/v1/messages/count_tokens': { model: 'kjv', messages: [{ role: 'user', content: 'In the beginning' }] },
};

/** Short generations only: two tokens at most where the body is an object. */
function bounded(path: string, body: unknown): unknown {
  if (!body || typeof body !== 'object' || Array.isArray(body)) return body;
  const b = { ...(body as Record<string, unknown>) };
  if (path === '/v1/responses') b.max_output_tokens = 2;
  if (path === '/v1/messages') b.max_tokens = 2;
  return b;
}

describe('the Responses and Messages routes under hostile requests', () => {
  it('answer every random request with their error shape or success, never a 5xx, and stay up', async () => {
    const seenRoutes = new Map<string, Set<number>>();
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...ROUTES),
        fc.boolean(),
        fc.oneof(fc.jsonValue(), fc.record(FIELDS, { requiredKeys: [] })),
        fc.tuple(fc.record(FIELDS), fc.uniqueArray(fc.constantFrom(...FIELD_NAMES), { maxLength: 2 })),
        async ([method, path], random, any, [values, keys]) => {
          const good: Record<string, unknown> = { ...(GOOD[path] ?? {}) };
          for (const k of keys) good[k] = values[k];
          const payload = JSON.stringify(bounded(path, random ? any : good));
          const r = await fetch(d.url + path, { method, body: method === 'GET' ? undefined : payload });
          const body = await r.text();
          if (!seenRoutes.has(path)) seenRoutes.set(path, new Set());
          seenRoutes.get(path)!.add(r.status);
          expect(r.status, `${method} ${path} ${payload.slice(0, 300)} → ${r.status} ${body.slice(0, 300)}`).toBeLessThan(500);
          if (r.status >= 400) {
            const err = JSON.parse(body);
            if (path.startsWith('/v1/messages')) expect(err).toEqual({ type: 'error', error: { type: expect.any(String), message: expect.any(String) } });
            else expect(err.error).toMatchObject({ message: expect.any(String), type: expect.any(String) });
          }
        },
      ),
      { numRuns: 400, seed: 20261203 },
    );
    for (const [, path] of ROUTES) expect(seenRoutes.has(path), path).toBe(true);
    expect(seenRoutes.get('/v1/responses')!.has(200)).toBe(true);
    expect(seenRoutes.get('/v1/messages')!.has(200)).toBe(true);
    expect(seenRoutes.get('/v1/messages')!.has(400)).toBe(true);
    expect(d.proc.exitCode).toBeNull();
  }, 300_000);
});
