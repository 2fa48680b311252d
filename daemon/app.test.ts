import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KilnError } from '../common/errors.js';
import { createApp } from './app.js';
import { loadConfig } from './config.js';
import { openStreams } from './http.js';
import { Scheduler } from './scheduler/scheduler.js';
import { importDemoModel } from './services/demo.js';
import { Store } from '../store/index.js';

/**
 * The route table on a real store with the bundled kjv model, driven with
 * app.request(). The scheduler never starts a runner here: every request
 * below ends before a model would load.
 */
let home: string;
let store: Store;
let scheduler: Scheduler;
let app: Hono;

beforeAll(async () => {
  home = mkdtempSync(join(tmpdir(), 'kiln-app-'));
  const config = loadConfig({ KILN_HOME: home, KILN_HOST: '127.0.0.1:0' });
  store = new Store(config.dbPath, config.models);
  await importDemoModel(store, () => {});
  scheduler = new Scheduler({
    numParallel: 1,
    maxLoadedModels: 1,
    maxQueue: 4,
    startRunner: () => Promise.reject(new KilnError('E_RUNNER', 'no runners in this test')),
    availableMemory: () => 1 << 30,
  });
  app = createApp({ config, store, scheduler, log: () => {} }, 'unix');
});

afterAll(async () => {
  await scheduler?.close();
  store?.close();
  rmSync(home, { recursive: true, force: true });
});

function post(path: string, body: unknown, init: RequestInit = {}) {
  return app.request(path, { method: 'POST', body: JSON.stringify(body), ...init });
}

describe('a request whose client has gone', () => {
  const gone = () => AbortSignal.abort();

  it('is answered 499 E_CANCELLED on /api (Ollama’s client closed request), not 400', async () => {
    for (const [path, body] of [
      ['/api/embed', { model: 'kjv', input: 'In the beginning' }],
      ['/api/embeddings', { model: 'kjv', prompt: 'Jesus wept' }],
      ['/api/generate', { model: 'kjv', prompt: 'x', stream: false }],
      ['/api/chat', { model: 'kjv', messages: [{ role: 'user', content: 'x' }], stream: false }],
    ] as const) {
      const r = await post(path, body, { signal: gone() });
      expect(r.status, path).toBe(499);
      expect(await r.json(), path).toEqual({ error: expect.stringMatching(/^request cancelled/) });
    }
  });

  it('is answered 499 in OpenAI’s shape on /v1', async () => {
    const r = await post('/v1/embeddings', { model: 'kjv', input: 'x' }, { signal: gone() });
    expect(r.status).toBe(499);
    expect(await r.json()).toEqual({ error: { message: expect.stringMatching(/^request cancelled/), type: 'cancelled', param: null, code: 'cancelled' } });
  });

  it('leaves no controller registered', async () => {
    expect(openStreams.size).toBe(0);
  });
});

describe('request-scoped controllers', () => {
  it('are released by answered, failed and refused requests alike', async () => {
    const before = openStreams.size;
    const bodies: [string, unknown][] = [
      ['/api/embed', { model: 'kjv', input: [] }], // holds a slot: the runner cannot start here, so 500 E_RUNNER
      ['/api/embed', { model: 'nope', input: 'x' }],
      ['/api/generate', { model: 'kjv', prompt: 'x', context: [1 << 30] }],
      ['/v1/chat/completions', { model: 'kjv', messages: [{ role: 'user', content: 'x' }], n: 2 }],
      ['/v1/embeddings', { model: 'kjv', input: 5 }],
      ['/api/create', { model: 'made', from: 'kjv', system: 'Be brief.', stream: false }],
      ['/api/create', { model: 'made', from: 'kjv', system: 'Be briefer.' }], // streamed: the stream owns it until it ends
      ['/api/pull', { model: 'x', stream: 3 }],
    ];
    for (let i = 0; i < 200; i++) {
      const [path, body] = bodies[i % bodies.length];
      await (await post(path, body)).arrayBuffer();
    }
    expect(openStreams.size).toBe(before);
  });
});
