import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanup, kiln, kilnEnv, startDaemon, tempHome, type RunningDaemon } from './helpers/daemon.js';
import { KJV_F32 } from './helpers/fixtures.js';

/**
 * The memory budget against the real daemon and real runners: kjv (f16) and
 * kjv32 (the f32 file, a second blob) are loaded once without a cap to learn
 * their estimates (/api/ps SIZE), then the daemon is restarted with
 * KILN_MAX_MEMORY set so that both cannot be loaded at once, or so that
 * neither fits.
 */
let home: string;
let d: RunningDaemon | undefined;
const size: Record<string, number> = {};

function post(path: string, body: unknown): Promise<Response> {
  return fetch(`${d!.url}${path}`, { method: 'POST', body: JSON.stringify(body) });
}

async function loaded(): Promise<{ name: string; size: number }[]> {
  return ((await (await fetch(`${d!.url}/api/ps`)).json()) as { models: { name: string; size: number }[] }).models;
}

async function restart(env: NodeJS.ProcessEnv): Promise<void> {
  await d?.stop();
  // one slot each: the estimates compared below are per slot count (auto would fit fewer slots under a cap)
  d = await startDaemon(home, { KILN_KEEP_ALIVE: '5m', KILN_NUM_PARALLEL: '1', ...env });
}

beforeAll(async () => {
  home = tempHome('kiln-memory-');
  await restart({});
  writeFileSync(join(home, 'Modelfile'), `FROM ${KJV_F32}\n`);
  const created = await kiln(['create', 'kjv32', '-f', join(home, 'Modelfile')], kilnEnv(home));
  expect(created.code, created.stderr).toBe(0);
  for (const m of ['kjv', 'kjv32']) {
    expect((await post('/api/generate', { model: m })).status).toBe(200); // load only
    for (const p of await loaded()) size[p.name] = p.size;
  }
  expect(size['kjv:latest']).toBeGreaterThan(0);
  expect(size['kjv32:latest']).toBeGreaterThan(size['kjv:latest']); // f32 weights are twice the f16 ones
}, 60_000);

afterAll(async () => {
  await d?.stop();
  cleanup(home);
});

describe('KILN_MAX_MEMORY', () => {
  it('unloads the idle model to make room when two do not fit together', async () => {
    await restart({ KILN_MAX_MEMORY: String(size['kjv:latest'] + size['kjv32:latest'] - 1) });
    expect((await post('/api/generate', { model: 'kjv', prompt: 'In the beginning', options: { num_predict: 2 }, stream: false })).status).toBe(200);
    expect((await loaded()).map((m) => m.name)).toEqual(['kjv:latest']);
    expect((await post('/api/generate', { model: 'kjv32', prompt: 'In the beginning', options: { num_predict: 2 }, stream: false })).status).toBe(200);
    expect((await loaded()).map((m) => m.name)).toEqual(['kjv32:latest']);
    expect(d!.log()).toMatch(/unloading kjv:latest to make room for kjv32:latest \(memory\)/);
  });

  it('refuses a model that does not fit at all, saying what it needs and what is available, and stays up', async () => {
    const cap = size['kjv:latest'] - 1;
    await restart({ KILN_MAX_MEMORY: String(cap) });
    const r = await post('/api/generate', { model: 'kjv', prompt: 'In the beginning', stream: false });
    expect(r.status).toBe(500);
    const { error } = (await r.json()) as { error: string };
    expect(error).toMatch(/^model 'kjv:latest' requires more system memory \(\d+\.\d MiB: .* weights, .* KV cache, .* compute\) than is available \(\d+\.\d MiB\)/);
    expect(error).toContain(`(${(cap / 1024 ** 2).toFixed(1)} MiB)`);
    expect(await loaded()).toEqual([]);
    expect((await fetch(`${d!.url}/api/tags`)).status).toBe(200);
  });

  it('KILN_NUM_PARALLEL=auto takes fewer slots when 4 do not fit', async () => {
    await restart({ KILN_MAX_MEMORY: String(size['kjv:latest'] + 1024), KILN_NUM_PARALLEL: 'auto' });
    expect((await post('/api/generate', { model: 'kjv', prompt: 'In', options: { num_predict: 1 }, stream: false })).status).toBe(200);
    const ps = (await (await fetch(`${d!.url}/api/ps`)).json()) as { models: { slots: { total: number } }[] };
    expect(ps.models[0].slots.total).toBe(1);
  });

  it('accepts sizes with units and refuses a malformed one at start', async () => {
    await d?.stop();
    d = undefined;
    const bad = await kiln(['serve'], kilnEnv(home, { KILN_MAX_MEMORY: 'lots', KILN_HOST: '127.0.0.1:0' }));
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/KILN_MAX_MEMORY=lots is not a size/);
    await restart({ KILN_MAX_MEMORY: '8GiB' });
    expect((await post('/api/generate', { model: 'kjv', prompt: 'In', options: { num_predict: 1 }, stream: false })).status).toBe(200);
  });
});
