import { describe, expect, it } from 'vitest';
import type { RunnerHandle, RunnerSpec } from '../runner/runner.js';
import { estimateMemory } from './memory.js';
import { Scheduler, type ModelSpec, type SchedulerOptions } from './scheduler.js';

const shape = { nLayer: 2, nEmbd: 64, nHead: 4, nHeadKv: 2, headDim: 16, nFf: 128, nVocab: 100 };

function spec(name: string, numCtx = 256, fileSize = 1000): ModelSpec {
  return {
    path: `/blobs/${name}`,
    name: `${name}:latest`,
    digest: name.padEnd(64, '0'),
    details: { parent_model: '', format: 'gguf', family: 'llama', families: ['llama'], parameter_size: '1M', quantization_level: 'F16' },
    shape,
    fileSize,
    numCtx,
  };
}

class FakeRunner implements RunnerHandle {
  static seq = 100;
  readonly pid = FakeRunner.seq++;
  readonly loadDurationNs = 1;
  stopped = false;
  private crash: ((why: string) => void)[] = [];
  constructor(readonly spec: RunnerSpec) {}
  get nCtx() {
    return this.spec.numCtx;
  }
  async *generate(): AsyncGenerator<never, never> {
    throw new Error('not used');
  }
  async embed(): Promise<never> {
    throw new Error('not used');
  }
  async stop() {
    this.stopped = true;
  }
  parks = 0;
  async park() {
    this.parks++;
    return [{ tokens: [1, 2, 3], bytes: new Uint8Array(10) }];
  }
  onCrash(fn: (why: string) => void) {
    this.crash.push(fn);
  }
  die() {
    for (const fn of this.crash) fn('was killed by SIGKILL');
  }
}

function setup(over: Partial<SchedulerOptions> = {}) {
  const runners: FakeRunner[] = [];
  let mem = 1e12;
  const s = new Scheduler({
    numParallel: 1,
    maxLoadedModels: 3,
    maxQueue: 4,
    startRunner: async (sp) => {
      const r = new FakeRunner(sp);
      runners.push(r);
      return r;
    },
    availableMemory: () => mem,
    ...over,
  });
  return { s, runners, setMem: (m: number) => (mem = m) };
}

const live = () => new AbortController().signal;
const tick = () => new Promise((r) => setTimeout(r, 5));
const MIN = 60_000;

describe('scheduler', () => {
  it('loads a model on the first request and reuses the runner after', async () => {
    const { s, runners } = setup();
    const a = await s.acquire(spec('a'), 5 * MIN, live());
    a.release();
    const b = await s.acquire(spec('a'), 5 * MIN, live());
    b.release();
    expect(runners).toHaveLength(1);
    expect(s.list().map((m) => m.name)).toEqual(['a:latest']);
  });

  it('queues a second request until the slot is released, with NUM_PARALLEL slots served at once', async () => {
    const { s } = setup({ numParallel: 2 });
    const l1 = await s.acquire(spec('a'), MIN, live());
    const l2 = await s.acquire(spec('a'), MIN, live());
    expect(new Set([l1.slot, l2.slot])).toEqual(new Set([0, 1]));
    let third: number | undefined;
    const p = s.acquire(spec('a'), MIN, live()).then((l) => (third = l.slot));
    await tick();
    expect(third).toBeUndefined();
    l2.release();
    await p;
    expect(third).toBe(l2.slot);
  });

  it('KILN_NUM_PARALLEL=auto gives up to 4 slots, as many as the memory estimate allows; /api/ps shows them in use', async () => {
    const big = setup({ numParallel: 0 });
    const l = await big.s.acquire(spec('a'), MIN, live());
    expect(big.runners[0].spec.slots).toBe(4);
    expect(big.s.list()[0].slots).toEqual({ total: 4, in_use: 1 });
    l.release();
    expect(big.s.list()[0].slots).toEqual({ total: 4, in_use: 0 });
    const two = estimateMemory(shape, 1000, 256, 2).total;
    const small = setup({ numParallel: 0 });
    small.setMem(two + 1);
    (await small.s.acquire(spec('a'), MIN, live())).release();
    expect(small.runners[0].spec.slots).toBe(2);
    const tiny = setup({ numParallel: 0 });
    tiny.setMem(estimateMemory(shape, 1000, 256, 1).total);
    (await tiny.s.acquire(spec('a'), MIN, live())).release();
    expect(tiny.runners[0].spec.slots).toBe(1);
  });

  it('keeps a stopped runner\'s prompt cache for the next load of the model', async () => {
    const entries = [{ tokens: [1, 2, 3], bytes: new Uint8Array(10) }];
    const { s, runners } = setup({ promptCacheBytes: 100 });
    (await s.acquire(spec('a'), 0, live())).release(); // keep_alive 0: unloaded at once
    await tick();
    expect(runners[0].stopped).toBe(true);
    expect(runners[0].spec.promptCache).toBeUndefined();
    (await s.acquire(spec('a'), 0, live())).release();
    await tick();
    expect(runners[1].spec.promptCache).toEqual(entries);
    expect(runners[0].parks).toBe(1);
  });

  it('answers E_QUEUE_FULL when KILN_MAX_QUEUE requests already wait', async () => {
    const { s } = setup({ maxQueue: 1 });
    const held = await s.acquire(spec('a'), MIN, live());
    const queued = s.acquire(spec('a'), MIN, live());
    await expect(s.acquire(spec('a'), MIN, live())).rejects.toMatchObject({ code: 'E_QUEUE_FULL' });
    held.release();
    (await queued).release();
  });

  it('drops a queued request whose client went away', async () => {
    const { s } = setup({ maxQueue: 1 });
    const held = await s.acquire(spec('a'), MIN, live());
    const ac = new AbortController();
    const gone = s.acquire(spec('a'), MIN, ac.signal);
    ac.abort();
    await expect(gone).rejects.toThrow(/cancelled/);
    // its place in the queue is free again
    const next = s.acquire(spec('a'), MIN, live());
    held.release();
    (await next).release();
  });

  it('unloads after the request with keep_alive 0, after the duration otherwise, never when negative', async () => {
    const { s, runners } = setup();
    (await s.acquire(spec('zero'), 0, live())).release();
    await tick();
    expect(runners[0].stopped).toBe(true);
    expect(s.list()).toEqual([]);

    (await s.acquire(spec('short'), 30, live())).release();
    const ps = s.list()[0];
    expect(Date.parse(ps.expires_at) - Date.now()).toBeLessThanOrEqual(30);
    await new Promise((r) => setTimeout(r, 60));
    expect(runners[1].stopped).toBe(true);

    (await s.acquire(spec('forever'), Infinity, live())).release();
    await tick();
    expect(runners[2].stopped).toBe(false);
    expect(new Date(s.list()[0].expires_at).getFullYear()).toBeGreaterThan(2200);
  });

  it('never unloads a model in use: keep_alive 0 and stop wait for the request', async () => {
    const { s, runners } = setup();
    const l = await s.acquire(spec('a'), 0, live());
    await s.unload(spec('a').path);
    expect(runners[0].stopped).toBe(false);
    l.release();
    await tick();
    expect(runners[0].stopped).toBe(true);
  });

  it('with KILN_MAX_LOADED_MODELS reached, evicts the idle model that expires first', async () => {
    const { s, runners } = setup({ maxLoadedModels: 2 });
    (await s.acquire(spec('late'), 10 * MIN, live())).release();
    (await s.acquire(spec('soon'), 1 * MIN, live())).release();
    (await s.acquire(spec('new'), 5 * MIN, live())).release();
    expect(runners.map((r) => [r.spec.name, r.stopped])).toEqual([
      ['late:latest', false],
      ['soon:latest', true],
      ['new:latest', false],
    ]);
  });

  it('waits for a busy model to finish instead of unloading it', async () => {
    const { s, runners } = setup({ maxLoadedModels: 1 });
    const busy = await s.acquire(spec('a'), MIN, live());
    let got = false;
    const p = s.acquire(spec('b'), MIN, live()).then((l) => {
      got = true;
      return l;
    });
    await tick();
    expect(got).toBe(false);
    expect(runners[0].stopped).toBe(false);
    busy.release();
    (await p).release();
    expect(runners[0].stopped).toBe(true);
    expect(s.list().map((m) => m.name)).toEqual(['b:latest']);
  });

  it('refuses a model that cannot fit in free memory, saying how much it needs and how much is free', async () => {
    const { s, setMem, runners } = setup();
    setMem(50 * 1024 * 1024);
    const err = await s.acquire(spec('big', 256, 8 * 1024 ** 3), MIN, live()).catch((e) => e);
    expect(err.code).toBe('E_INSUFFICIENT_MEMORY');
    expect(err.message).toMatch(/model 'big:latest' requires more system memory \(8\.\d GiB.*\) than is available \(50\.0 MiB\)/);
    expect(runners).toHaveLength(0);
    // the failed load leaves nothing behind: a smaller model still loads
    setMem(1e12);
    (await s.acquire(spec('small'), MIN, live())).release();
  });

  it('unloads idle models to make room in memory', async () => {
    // Each running runner takes 1.1 GB of the 1.5 GB there is.
    const runners: FakeRunner[] = [];
    const { s } = setup({
      startRunner: async (sp) => {
        const r = new FakeRunner(sp);
        runners.push(r);
        return r;
      },
      availableMemory: () => 1.5e9 - 1.1e9 * runners.filter((r) => !r.stopped).length,
    });
    (await s.acquire(spec('a', 256, 1e9), MIN, live())).release();
    (await s.acquire(spec('b', 256, 1e9), MIN, live())).release();
    expect(runners.map((r) => r.stopped)).toEqual([true, false]);
  });

  it('restarts a crashed runner on the next request and moves queued requests to it', async () => {
    const { s, runners } = setup();
    const held = await s.acquire(spec('a'), MIN, live());
    const queued = s.acquire(spec('a'), MIN, live());
    runners[0].die();
    const l = await queued;
    expect(l.runner).toBe(runners[1]);
    held.release(); // the dead runner's lease ends harmlessly
    l.release();
    expect(s.list()).toHaveLength(1);
  });

  it('reloads a model asked for with another context length once it is idle', async () => {
    const { s, runners } = setup();
    const l = await s.acquire(spec('a', 256), MIN, live());
    const p = s.acquire(spec('a', 512), MIN, live());
    await tick();
    expect(runners).toHaveLength(2);
    expect(runners[0].stopped).toBe(false);
    l.release();
    await tick();
    expect(runners[0].stopped).toBe(true);
    expect((await p).numCtx).toBe(512);
  });
  it('keeps a retired runner that is still busy: listed, counted against KILN_MAX_LOADED_MODELS, stopped once done', async () => {
    const { s, runners } = setup({ maxLoadedModels: 2 });
    const old = await s.acquire(spec('a'), MIN, live());
    await s.unload(spec('a').path); // retired, but its request still runs
    const fresh = await s.acquire(spec('a'), MIN, live()); // the same id: a new runner
    expect(runners).toHaveLength(2);
    expect(runners[0].stopped).toBe(false);
    expect(s.list().map((m) => m.name)).toEqual(['a:latest', 'a:latest']);
    // two runners are loaded, so a third model waits for the retired one to finish
    let got = false;
    const p = s.acquire(spec('b'), MIN, live()).then((l) => {
      got = true;
      return l;
    });
    await tick();
    expect(got).toBe(false);
    old.release();
    (await p).release();
    expect(runners[0].stopped).toBe(true);
    expect(runners[1].stopped).toBe(false);
    expect(s.list().map((m) => m.name).sort()).toEqual(['a:latest', 'b:latest']);
    fresh.release();
  });

  it('stops a retired runner that is still busy on close', async () => {
    const { s, runners } = setup();
    const old = await s.acquire(spec('a'), MIN, live());
    await s.unload(spec('a').path);
    const fresh = await s.acquire(spec('a'), MIN, live());
    await s.close();
    expect(runners.map((r) => r.stopped)).toEqual([true, true]);
    old.release();
    fresh.release();
  });
});
