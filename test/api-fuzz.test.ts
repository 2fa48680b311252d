import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanup, startDaemon, type RunningDaemon } from './helpers/daemon.js';

let d: RunningDaemon;

beforeAll(async () => {
  // pulls and pushes go to a closed port on 127.0.0.1 and fail at once (no retries, no network beyond it)
  d = await startDaemon(undefined, { KILN_PULL_RETRIES: '0', KILN_PULL_RETRY_DELAY: '0' });
});

afterAll(async () => {
  await d?.stop();
  if (d) cleanup(d.home);
});

const ROUTES: [string, string][] = [
  ['POST', '/api/show'],
  ['POST', '/api/copy'],
  ['DELETE', '/api/delete'],
  ['POST', '/api/create'],
  ['POST', '/api/blobs/sha256:' + '0'.repeat(64)],
  ['GET', '/api/tags'],
  ['GET', '/api/version'],
  ['GET', '/api/ps'],
  ['POST', '/api/generate'],
  ['POST', '/api/chat'],
  ['POST', '/api/embed'],
  ['POST', '/api/embeddings'],
  ['POST', '/api/pull'],
  ['POST', '/api/push'],
  ['POST', '/api/export'],
  ['POST', '/api/verify'],
  ['POST', '/v1/chat/completions'],
  ['POST', '/v1/completions'],
  ['POST', '/v1/embeddings'],
  ['GET', '/v1/models'],
  ['GET', '/v1/models/kjv'],
];

/** Pushes and pulls only ever name a registry on a closed local port: the test reaches nothing else. */
const LOCAL_REGISTRY = '127.0.0.1:1/';

const anyValue = fc.oneof(fc.jsonValue(), fc.constant(null), fc.constant([null]), fc.constant([{}]), fc.constant({}));
const text = fc.oneof(fc.string(), fc.constant(''), anyValue);

const message = fc.oneof(
  anyValue,
  fc.record(
    {
      role: fc.oneof(fc.constantFrom('system', 'developer', 'user', 'assistant', 'tool', 'wizard'), anyValue),
      content: fc.oneof(
        text,
        fc.array(fc.oneof(anyValue, fc.record({ type: fc.oneof(fc.constantFrom('text', 'image_url', 'refusal', 'input_audio'), anyValue), text, image_url: fc.oneof(text, fc.record({ url: text })) }, { requiredKeys: [] }))),
      ),
      images: fc.oneof(fc.array(fc.string()), anyValue),
      tool_calls: fc.oneof(
        anyValue,
        fc.array(fc.oneof(anyValue, fc.record({ id: text, type: fc.oneof(fc.constant('function'), anyValue), function: fc.oneof(anyValue, fc.record({ name: text, arguments: fc.oneof(text, fc.constant('{"a":1}'), fc.constant('[1]')) }, { requiredKeys: [] })) }, { requiredKeys: [] }))),
      ),
      tool_call_id: text,
      name: text,
    },
    { requiredKeys: [] },
  ),
);

const tool = fc.oneof(
  anyValue,
  fc.record(
    {
      type: fc.oneof(fc.constant('function'), fc.constant('custom'), anyValue),
      function: fc.oneof(anyValue, fc.record({ name: text, description: text, parameters: fc.oneof(anyValue, fc.record({ type: text, required: fc.oneof(fc.array(fc.string()), anyValue), properties: fc.oneof(anyValue, fc.dictionary(fc.string(), anyValue)) }, { requiredKeys: [] })) }, { requiredKeys: [] })),
    },
    { requiredKeys: [] },
  ),
);

/** Values of every field a request may carry, shaped like what clients send and like what they should not. */
const FIELDS = {
      model: fc.oneof(fc.string(), fc.constant('kjv'), fc.constant('../../etc'), fc.integer(), fc.constant(null)),
      name: fc.option(fc.string()),
      source: fc.option(fc.oneof(fc.string(), fc.constant('kjv'))),
      destination: fc.option(fc.string()),
      from: fc.option(fc.oneof(fc.string(), fc.constant('kjv'))),
      files: fc.option(fc.dictionary(fc.string(), fc.oneof(fc.string(), fc.integer()))),
      parameters: fc.option(fc.jsonValue()),
      license: fc.option(fc.oneof(fc.string(), fc.array(fc.string()), fc.integer())),
      messages: fc.oneof(fc.array(message, { maxLength: 4 }), anyValue),
      quantize: fc.option(fc.oneof(fc.string(), fc.constant('q4_K_M'))),
      stream: fc.oneof(fc.boolean(), anyValue),
      prompt: fc.oneof(text, fc.array(fc.oneof(fc.string(), fc.integer()), { maxLength: 3 })),
      suffix: text,
      system: text,
      template: fc.oneof(text, fc.constant('{{ .Prompt }}'), fc.constant('{{ .Nope }')),
      context: fc.oneof(fc.array(fc.integer()), anyValue),
      raw: fc.oneof(fc.boolean(), anyValue),
      format: fc.oneof(fc.constant('json'), fc.constant({ type: 'object', properties: { a: { type: 'string' } } }), anyValue),
      images: fc.oneof(fc.array(fc.string()), anyValue),
      keep_alive: fc.oneof(fc.constantFrom('5m', '-1', '0', 'soon'), fc.integer(), anyValue),
      think: fc.oneof(fc.boolean(), fc.constantFrom('high', 'low'), anyValue),
      options: fc.oneof(fc.dictionary(fc.constantFrom('temperature', 'top_k', 'seed', 'stop', 'num_keep', 'num_thread', 'other'), anyValue), anyValue),
      shift: fc.oneof(fc.boolean(), anyValue),
      tools: fc.oneof(fc.array(tool, { maxLength: 3 }), anyValue),
      input: fc.oneof(text, fc.array(fc.oneof(fc.string(), fc.integer()), { maxLength: 3 })),
      truncate: fc.oneof(fc.boolean(), anyValue),
      dimensions: fc.oneof(fc.integer({ min: -2, max: 300 }), anyValue),
      insecure: fc.oneof(fc.boolean(), anyValue),
      verbose: fc.oneof(fc.boolean(), anyValue),
      // OpenAI's fields
      temperature: fc.oneof(fc.double(), anyValue),
      top_p: fc.oneof(fc.double(), anyValue),
      seed: fc.oneof(fc.integer(), anyValue),
      stop: fc.oneof(fc.string(), fc.array(fc.string()), anyValue),
      n: fc.oneof(fc.integer({ min: -1, max: 3 }), anyValue),
      echo: fc.oneof(fc.boolean(), anyValue),
      stream_options: fc.oneof(fc.record({ include_usage: fc.oneof(fc.boolean(), anyValue) }), anyValue),
      response_format: fc.oneof(
        fc.record({ type: fc.oneof(fc.constantFrom('text', 'json_object', 'json_schema', 'yaml'), anyValue), json_schema: fc.oneof(anyValue, fc.record({ schema: anyValue }, { requiredKeys: [] })) }, { requiredKeys: [] }),
        anyValue,
      ),
      tool_choice: fc.oneof(fc.constantFrom('auto', 'none', 'required', 'sometimes'), fc.record({ type: fc.constantFrom('function', 'x'), function: fc.record({ name: fc.oneof(fc.constant('f'), anyValue) }) }, { requiredKeys: [] }), anyValue),
      parallel_tool_calls: fc.oneof(fc.boolean(), anyValue),
      logprobs: fc.oneof(fc.boolean(), fc.integer({ min: -1, max: 25 }), anyValue),
      top_logprobs: fc.oneof(fc.integer({ min: -1, max: 25 }), anyValue),
      reasoning_effort: fc.oneof(fc.constantFrom('high', 'none', 'max'), anyValue),
      reasoning: fc.oneof(fc.record({ effort: fc.oneof(fc.constantFrom('low', ''), anyValue) }, { requiredKeys: [] }), anyValue),
      encoding_format: fc.oneof(fc.constantFrom('float', 'base64', 'hex'), anyValue),
};
const FIELD_NAMES = Object.keys(FIELDS) as (keyof typeof FIELDS)[];

/** Any JSON, or an object with any of the fields. */
const jsonish = fc.oneof(fc.jsonValue(), fc.record(FIELDS, { requiredKeys: [] }));

/** A good request of each route, which the fuzzer breaks a field or two of (or not at all). */
const GOOD: Record<string, object> = {
  '/api/show': { model: 'kjv' },
  '/api/copy': { source: 'kjv', destination: 'fuzz-copy' },
  '/api/delete': { model: 'fuzz-copy' },
  '/api/create': { model: 'fuzz-made', from: 'kjv' },
  '/api/generate': { model: 'kjv', prompt: 'In the beginning' },
  '/api/chat': { model: 'kjv', messages: [{ role: 'user', content: 'In the beginning' }] },
  '/api/embed': { model: 'kjv', input: 'In the beginning' },
  '/api/embeddings': { model: 'kjv', prompt: 'In the beginning' },
  '/api/pull': { model: 'x', insecure: true },
  '/api/push': { model: 'x', insecure: true },
  '/api/export': { model: 'no-such-model' },
  '/api/verify': { stream: false },
  '/v1/chat/completions': { model: 'kjv', messages: [{ role: 'user', content: 'In the beginning' }] },
  '/v1/completions': { model: 'kjv', prompt: 'In the beginning' },
  '/v1/embeddings': { model: 'kjv', input: 'In the beginning' },
};

/** A good request with up to two of its fields replaced or added. */
const mutation = fc.tuple(fc.record(FIELDS), fc.uniqueArray(fc.constantFrom(...FIELD_NAMES), { maxLength: 2 }));

function mutate(path: string, [values, keys]: [Record<string, unknown>, string[]]): unknown {
  const b: Record<string, unknown> = { ...(GOOD[path] ?? {}) };
  for (const k of keys) b[k] = values[k];
  return b;
}

/**
 * Keeps the fuzzer's generations short and its network local: a request for
 * a real model generates two tokens at most and keeps the model's context;
 * pulls and pushes name the closed local port.
 */
function bounded(path: string, body: unknown): unknown {
  if (!body || typeof body !== 'object' || Array.isArray(body)) return body;
  const b = { ...(body as Record<string, unknown>) };
  if (path === '/api/pull' || path === '/api/push') {
    for (const k of ['model', 'name'] as const) if (typeof b[k] === 'string' && b[k] !== '') b[k] = LOCAL_REGISTRY + b[k];
  }
  if (b.options && typeof b.options === 'object' && !Array.isArray(b.options)) b.options = { ...b.options, num_predict: 2, num_ctx: undefined };
  else if (b.options === undefined) b.options = { num_predict: 2 };
  if (path.startsWith('/v1/')) {
    b.max_tokens = 2;
    delete b.max_completion_tokens;
  }
  return b;
}

describe('the daemon under hostile requests', () => {
  it('answers every random request with a JSON error or success, never a 5xx, and stays up', async () => {
    const seen = new Set<number>();
    const seenRoutes = new Map<string, Set<number>>();
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...ROUTES), fc.boolean(), jsonish, mutation, fc.boolean(), async ([method, path], random, any, mutated, rawGarbage) => {
        const body = random ? any : mutate(path, mutated);
        const json = JSON.stringify(bounded(path, body));
        const payload = rawGarbage && json.length % 4 === 0 ? json.slice(0, -1) : json;
        const r = await fetch(d.url + path, { method, body: method === 'GET' ? undefined : payload });
        seen.add(r.status);
        if (!seenRoutes.has(path)) seenRoutes.set(path, new Set());
        seenRoutes.get(path)!.add(r.status);
        const text = await r.text();
        // a registry that cannot be reached is the one 5xx allowed: 502, the registry's fault, not the client's
        const registryDown = (path === '/api/pull' || path === '/api/push') && r.status === 502;
        expect(registryDown || r.status < 500, `${method} ${path} ${payload.slice(0, 300)} → ${r.status} ${text.slice(0, 300)}`).toBe(true);
        if (r.status >= 400) {
          const err = JSON.parse(text);
          if (path.startsWith('/v1/')) expect(err.error).toMatchObject({ message: expect.any(String), type: expect.any(String) });
          else expect(err).toHaveProperty('error');
        }
      }),
      { numRuns: 1500, seed: 20261128 },
    );
    expect(seen.has(400)).toBe(true);
    for (const [, path] of ROUTES) expect(seenRoutes.has(path), path).toBe(true);
    expect(d.proc.exitCode).toBeNull();
    // the store is intact (the fuzzer may have deleted kjv, legitimately): every listed model shows
    const tags = (await (await fetch(`${d.url}/api/tags`)).json()) as { models: { name: string }[] };
    for (const m of tags.models) {
      const r = await fetch(`${d.url}/api/show`, { method: 'POST', body: JSON.stringify({ model: m.name }) });
      expect(r.status, m.name).toBe(200);
    }
  }, 300_000);

  it('refuses the bodies that once raised a TypeError with a 400 naming the field, in OpenAI’s shape', async () => {
    for (const [body, param] of [
      [{ model: 'kjv', messages: [null] }, 'messages[0]'],
      [{ model: 'kjv', messages: [{ role: 'assistant', tool_calls: [{}] }] }, 'messages[0].tool_calls[0].function'],
      [{ model: 'kjv', messages: [{ role: 'user', content: [null] }] }, 'messages[0].content[0]'],
    ] as const) {
      const r = await fetch(`${d.url}/v1/chat/completions`, { method: 'POST', body: JSON.stringify(body) });
      expect(r.status).toBe(400);
      expect(await r.json()).toEqual({ error: { message: expect.stringContaining(param), type: 'invalid_request_error', param, code: 'bad_request' } });
    }
    const r = await fetch(`${d.url}/api/chat`, { method: 'POST', body: JSON.stringify({ model: 'kjv', messages: [{ role: 'user', content: 'x', tool_calls: [{}] }] }) });
    expect(r.status).toBe(400);
    expect(await r.json()).toEqual({ error: 'messages[0].tool_calls[0].function: is required' });
  });
});
