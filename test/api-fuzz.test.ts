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
  ['POST', '/api/show'],
  ['POST', '/api/copy'],
  ['DELETE', '/api/delete'],
  ['POST', '/api/create'],
  ['POST', '/api/blobs/sha256:' + '0'.repeat(64)],
  ['GET', '/api/tags'],
  ['GET', '/api/version'],
  ['GET', '/api/ps'],
];

/** Values shaped like what clients send, and like what they should not. */
const jsonish = fc.oneof(
  fc.jsonValue(),
  fc.record({
    model: fc.oneof(fc.string(), fc.constant('kjv'), fc.constant('../../etc'), fc.integer(), fc.constant(null)),
    name: fc.option(fc.string()),
    source: fc.option(fc.oneof(fc.string(), fc.constant('kjv'))),
    destination: fc.option(fc.string()),
    from: fc.option(fc.oneof(fc.string(), fc.constant('kjv'))),
    files: fc.option(fc.dictionary(fc.string(), fc.oneof(fc.string(), fc.integer()))),
    parameters: fc.option(fc.jsonValue()),
    license: fc.option(fc.oneof(fc.string(), fc.array(fc.string()), fc.integer())),
    messages: fc.option(fc.jsonValue()),
    quantize: fc.option(fc.oneof(fc.string(), fc.constant('q4_K_M'))),
    stream: fc.option(fc.boolean()),
  }),
);

describe('the daemon under hostile requests', () => {
  it('answers every random request with a JSON error or success, never a 5xx, and stays up', async () => {
    const seen = new Set<number>();
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...ROUTES), jsonish, fc.boolean(), async ([method, path], body, rawGarbage) => {
        const payload = rawGarbage ? JSON.stringify(body).slice(0, -1) : JSON.stringify(body);
        const r = await fetch(d.url + path, { method, body: method === 'GET' ? undefined : payload });
        seen.add(r.status);
        const text = await r.text();
        expect(r.status, `${method} ${path} ${payload.slice(0, 200)} → ${text.slice(0, 200)}`).toBeLessThan(500);
        if (r.status >= 400) expect(JSON.parse(text)).toHaveProperty('error');
      }),
      { numRuns: 300, seed: 20261128 },
    );
    expect(seen.has(400)).toBe(true);
    expect(d.proc.exitCode).toBeNull();
    // the store is intact (the fuzzer may have deleted kjv, legitimately): every listed model shows
    const tags = (await (await fetch(`${d.url}/api/tags`)).json()) as { models: { name: string }[] };
    for (const m of tags.models) {
      const r = await fetch(`${d.url}/api/show`, { method: 'POST', body: JSON.stringify({ model: m.name }) });
      expect(r.status, m.name).toBe(200);
    }
  });
});
