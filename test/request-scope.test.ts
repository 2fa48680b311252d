import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanup, startDaemon, type RunningDaemon } from './helpers/daemon.js';

/**
 * Every request's AbortController is registered (so shutdown can abort it)
 * for the request's lifetime only. Before, embeddings and generations that
 * failed before streaming left theirs behind for good, each holding its
 * lease-release closure: a leak on every such request.
 */
let d: RunningDaemon;

beforeAll(async () => {
  d = await startDaemon(undefined, { KILN_DEBUG: '1', NODE_OPTIONS: '--expose-gc' });
});

afterAll(async () => {
  await d?.stop();
  if (d) cleanup(d.home);
});

interface Internals {
  open_streams: number;
  runner_requests: number;
  heap_used: number;
}

async function internals(): Promise<Internals> {
  // a few collections: one may leave garbage a finalizer frees for the next
  for (let i = 0; i < 3; i++) await fetch(`${d.url}/api/debug/internals?gc`).then((r) => r.text());
  return (await (await fetch(`${d.url}/api/debug/internals?gc`)).json()) as Internals;
}

/**
 * Embeddings (answered whole; an empty input holds a slot and runs nothing) and
 * generations that fail before they stream, with the status each should get.
 */
const MIX: [string, object, number][] = [
  ['/api/embed', { model: 'kjv', input: [] }, 200],
  ['/api/embeddings', { model: 'kjv', prompt: '' }, 200],
  ['/api/embed', { model: 'no-such-model', input: 'x' }, 404],
  ['/api/generate', { model: 'kjv', prompt: 'x', context: [1 << 30] }, 400],
  ['/api/chat', { model: 'no-such-model', messages: [{ role: 'user', content: 'x' }] }, 404],
  ['/v1/chat/completions', { model: 'kjv', messages: [{ role: 'user', content: 'x' }], n: 3 }, 400],
  ['/v1/embeddings', { model: 'no-such-model', input: 'x' }, 404],
  ['/v1/embeddings', { model: 'kjv', input: 'And God said' }, 200],
];

async function run(n: number, concurrency = 8): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < n) {
      const [path, body, status] = MIX[next++ % MIX.length];
      const r = await fetch(d.url + path, { method: 'POST', body: JSON.stringify(body) });
      await r.arrayBuffer();
      if (r.status !== status) throw new Error(`${path}: ${r.status}, expected ${status}`);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

describe('request-scoped abort controllers', () => {
  it('are all released after 10,000 embeddings and failed generations, and the heap stays flat', async () => {
    await run(600); // loads the model, warms the JIT and the pools
    const before = await internals();
    expect(before.open_streams).toBe(0);
    await run(10_000);
    const after = await internals();
    expect(after.open_streams).toBe(0);
    // 10,000 leaked controllers with their closures took 11 MB; allow noise well under that
    expect(after.heap_used - before.heap_used).toBeLessThan(3 * 1024 * 1024);
    expect(d.proc.exitCode).toBeNull();
  }, 120_000);

  it('leave nothing behind when 800 clients hang up mid-stream: no runner request stays open, the heap stays flat', async () => {
    const hangUps = async (n: number) => {
      let next = 0;
      const worker = async () => {
        while (next++ < n) {
          const ac = new AbortController();
          const path = next % 2 ? '/api/generate' : '/api/chat';
          const body = next % 2 ? { model: 'kjv', prompt: 'In the beginning', options: { num_predict: 200 } } : { model: 'kjv', messages: [{ role: 'user', content: 'In the beginning' }], options: { num_predict: 200 } };
          const r = await fetch(d.url + path, { method: 'POST', body: JSON.stringify(body), signal: ac.signal });
          const reader = r.body!.getReader();
          await reader.read(); // the first line: generation has started
          ac.abort();
          await reader.read().catch(() => {});
        }
      };
      await Promise.all(Array.from({ length: 8 }, worker));
      await new Promise((r) => setTimeout(r, 500)); // the runner's answers to the cancels
    };
    await hangUps(100);
    const before = await internals();
    await hangUps(800);
    const after = await internals();
    expect(after.open_streams).toBe(0);
    // Each abandoned stream used to keep its runner entry (handlers, queued messages): ~0.8 KB apiece.
    expect(after.runner_requests).toBe(0);
    // What is left is the JIT's code churn, a few hundred KB at most.
    expect(after.heap_used - before.heap_used).toBeLessThan(2 * 1024 * 1024);
    expect(d.proc.exitCode).toBeNull();
  }, 120_000);
});
