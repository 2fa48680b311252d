import { getEventListeners } from 'node:events';
import { getPriority } from 'node:os';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Runner } from '../daemon/runner/runner.js';
import { cleanup, ROOT, tempHome } from './helpers/daemon.js';

/** The runner process on its own (dist/daemon/runner/main.js): the daemon's side of the IPC protocol against the real child. */
const KJV = join(ROOT, 'models', 'kjv', 'kjv-f16.gguf');
let r: Runner;

beforeAll(async () => {
  r = await Runner.start({ name: 'kjv', path: KJV, numCtx: 256, slots: 2, kvF16: true, threads: 0 });
});

afterAll(async () => {
  await r?.stop();
});

async function drain(g: AsyncGenerator<{ text: string }, { doneReason: string; evalCount: number }>) {
  let text = '';
  for (;;) {
    const x = await g.next();
    if (x.done) return { text, stats: x.value };
    text += x.value.text;
  }
}

describe('runner process', () => {
  it('loads a model and reports its context', () => {
    expect(r.nCtx).toBe(256);
    expect(r.pid).toBeGreaterThan(0);
    // a few nice levels below its owner, so the daemon's control plane is not starved while it computes
    expect(getPriority(r.pid!)).toBe(Math.min(19, getPriority() + 5));
    expect(r.loadDurationNs).toBeGreaterThan(0);
  });

  it('serves two slots at once, each with its own cache: the same greedy answers as one at a time', async () => {
    const opts = { temperature: 0, num_predict: 40 };
    const live = new AbortController().signal;
    const alone = await drain(r.generate(0, { prompt: 'In the beginning', options: opts }, live));
    const [a, b] = await Promise.all([
      drain(r.generate(0, { prompt: 'In the beginning', options: opts }, live)),
      drain(r.generate(1, { prompt: 'And Moses said', options: opts }, live)),
    ]);
    expect(a.text).toBe(alone.text);
    expect(a.stats.evalCount).toBe(40);
    expect(b.stats.evalCount).toBe(40);
    expect(b.text).not.toBe(a.text);
  });

  it('cancels a generation at once and answers health checks while working', async () => {
    const ac = new AbortController();
    const g = r.generate(0, { prompt: 'In the beginning', options: { num_predict: 100_000 } }, ac.signal);
    await g.next();
    expect((await r.health()).busySlots).toEqual([0]);
    const t0 = performance.now();
    ac.abort();
    const { stats } = await drain(g);
    expect(stats.doneReason).toBe('cancel');
    expect(performance.now() - t0).toBeLessThan(500); // "at once": within a few token steps even on a loaded machine, not after 100,000 tokens
    const h = await r.health();
    expect(h.busySlots).toEqual([]);
    expect(h.rss).toBeGreaterThan(10_000_000);
  });

  it('embeds several inputs as unit vectors and refuses an over-long one unless truncating', async () => {
    const live = new AbortController().signal;
    const e = await r.embed(1, ['In the beginning', 'Jesus wept'], true, live);
    expect(e.embeddings).toHaveLength(2);
    expect(Math.hypot(...e.embeddings[0])).toBeCloseTo(1, 5);
    const long = 'the LORD '.repeat(300);
    await expect(r.embed(1, [long], false, live)).rejects.toMatchObject({ code: 'E_BAD_REQUEST' });
    expect((await r.embed(1, [long], true, live)).embeddings[0]).toHaveLength(256);
  });

  it('leaves no abort listener on the signal after embeds, and none in flight', async () => {
    const ac = new AbortController();
    for (let i = 0; i < 5; i++) await r.embed(0, ['Jesus wept'], true, ac.signal);
    await expect(r.embed(0, ['the LORD '.repeat(300)], false, ac.signal)).rejects.toMatchObject({ code: 'E_BAD_REQUEST' });
    expect(getEventListeners(ac.signal, 'abort')).toHaveLength(0);
    expect(r.inFlight).toBe(0);
  });

  it('cancels an embed whose signal is already aborted, and one aborted while it runs', async () => {
    const ac = new AbortController();
    ac.abort();
    await expect(r.embed(0, ['In the beginning'], true, ac.signal)).rejects.toThrow('request cancelled');
    expect(getEventListeners(ac.signal, 'abort')).toHaveLength(0);
    expect(r.inFlight).toBe(0);
    const later = new AbortController();
    const p = r.embed(0, Array(50).fill('In the beginning God created the heaven and the earth'), true, later.signal);
    later.abort();
    await expect(p).rejects.toThrow('request cancelled');
    expect(getEventListeners(later.signal, 'abort')).toHaveLength(0);
    expect(r.inFlight).toBe(0);
    // the slot is still usable after
    expect((await r.embed(0, ['Jesus wept'], true, new AbortController().signal)).embeddings).toHaveLength(1);
  });

  it('fails the requests in flight with a clear error when killed, and tells its owner', async () => {
    const victim = await Runner.start({ name: 'victim', path: KJV, numCtx: 256, slots: 1, kvF16: true, threads: 0 });
    const crashed = new Promise<string>((resolve) => victim.onCrash(resolve));
    const g = victim.generate(0, { prompt: 'In the beginning', options: { num_predict: 100_000 } }, new AbortController().signal);
    await g.next();
    process.kill(victim.pid!, 'SIGKILL');
    await expect(drain(g)).rejects.toThrow('the model runner for victim was killed by SIGKILL; it is restarted on the next request');
    expect(await crashed).toBe('was killed by SIGKILL');
    await expect(victim.health()).rejects.toMatchObject({ code: 'E_RUNNER' });
    // a request to a dead runner fails at send, leaving no entry and no listener behind
    const ac = new AbortController();
    await expect(victim.embed(0, ['Jesus wept'], true, ac.signal)).rejects.toMatchObject({ code: 'E_RUNNER' });
    const g2 = victim.generate(0, { prompt: 'In the beginning', options: {} }, ac.signal);
    await expect(g2.next()).rejects.toMatchObject({ code: 'E_RUNNER' });
    expect(victim.inFlight).toBe(0);
    expect(getEventListeners(ac.signal, 'abort')).toHaveLength(0);
  });

  it('refuses a file that is not a model with the loader\'s message', async () => {
    const home = tempHome();
    try {
      const bogus = join(home, 'bogus.gguf');
      writeFileSync(bogus, 'not a gguf');
      await expect(Runner.start({ name: 'bogus', path: bogus, numCtx: 256, slots: 1, kvF16: true, threads: 0 })).rejects.toThrow(/^loading bogus: /);
    } finally {
      cleanup(home);
    }
  });
});
