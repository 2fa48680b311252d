/**
 * `kiln show NAME --fit` plans every quantization of the model: the local tags
 * of the same name, and with --registry the tags the registry lists for it,
 * planned from their GGUF headers read by Range requests (the weights never
 * come down). Against the real docker-registry, through a counting proxy: two
 * quantizations of kjv pushed (F16, F32), F32 then removed locally, and a
 * local-only Q8_0. The registry's F32 plan equals the plan of the same file
 * once pulled.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FitResponse } from '../daemon/api/types.js';
import { cleanup, kiln, startDaemon, tempHome, type RunningDaemon } from './helpers/daemon.js';
import { proxy, startFaultServer, type FaultServer } from './helpers/fault-server.js';
import { KJV_F16, KJV_F32 } from './helpers/fixtures.js';
import { registryAvailable, startRegistry, type Registry } from './helpers/registry.js';

let reg: Registry;
let spy: FaultServer;
let d: RunningDaemon;
let dir: string;
let base: string;

async function create(name: string, from: string, ...args: string[]): Promise<void> {
  const mf = join(dir, `${name.replace(/[^a-z0-9]/gi, '_')}.Modelfile`);
  writeFileSync(mf, `FROM ${from}\n`);
  const r = await kiln(['create', name, '-f', mf, ...args], d.env);
  expect(r.code, r.stderr).toBe(0);
}

async function fit(name: string, ...args: string[]): Promise<FitResponse> {
  const r = await kiln(['show', name, '--fit', '--json', '--num-ctx', '256', '--num-parallel', '1', ...args], d.env);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as FitResponse;
}

describe.skipIf(!registryAvailable())('kiln show --fit: every quantization, local and in the registry', () => {
  beforeAll(async () => {
    dir = tempHome('kiln-fitvar-');
    [reg, d] = await Promise.all([startRegistry(), startDaemon(undefined, { KILN_DEMO_MODEL: '0', KILN_PULL_RETRY_DELAY: '20' })]);
    spy = await startFaultServer(proxy(reg.url));
    base = `${spy.host}/library/fitq`;
    await create(`${base}:f16`, KJV_F16);
    await create(`${base}:f32`, KJV_F32);
    for (const tag of ['f16', 'f32']) expect((await kiln(['push', `${base}:${tag}`, '--insecure'], d.env)).code).toBe(0);
    expect((await kiln(['rm', `${base}:f32`], d.env)).code).toBe(0);
    await create(`${base}:q8`, KJV_F32, '--quantize', 'q8_0');
  }, 120_000);

  afterAll(async () => {
    await d?.stop();
    await spy?.stop();
    await reg?.stop();
    if (d) cleanup(d.home);
    if (dir) cleanup(dir);
  });

  it('without --registry: the model and the other local tags of its name, each with RAM, VRAM, GPU layers and fits', async () => {
    spy.seen.length = 0;
    const f = await fit(`${base}:f16`);
    expect(spy.seen).toHaveLength(0); // the registry is not asked
    expect(f.variants.map((v) => [v.model, v.source, v.quantization])).toEqual([
      [`${base}:f16`, 'local', 'F16'],
      [`${base}:q8`, 'local', 'Q8_0'],
    ]);
    const [self, q8] = f.variants;
    expect(self).toMatchObject({ ram: f.ram.total, vram: f.gpu?.total ?? 0, total_layers: f.layers.length, fits: f.fits, processor: f.processor });
    // the same plan as asking for the Q8_0 tag itself
    const own = await fit(`${base}:q8`);
    expect(q8).toMatchObject({ ram: own.ram.total, size: own.ram.weights + own.ram.offloaded, gpu_layers: own.gpu?.layers ?? 0, fits: own.fits });
    expect(q8.ram!).toBeLessThan(self.ram!);
    expect(own.variants[0].model).toBe(`${base}:q8`);
  }, 60_000);

  it("with --registry: the registry's other tags from their headers by Range requests, equal to the plan once pulled", async () => {
    spy.seen.length = 0;
    spy.blobBytes = 0;
    const f = await fit(`${base}:f16`, '--registry', '--insecure');
    expect(f.registry_error).toBeUndefined();
    expect(f.variants.map((v) => [v.model, v.source, v.quantization])).toEqual([
      [`${base}:f16`, 'local', 'F16'],
      [`${base}:q8`, 'local', 'Q8_0'],
      [`${base}:f32`, 'registry', 'F32'], // f16 is local, so listed once
    ]);
    // the header only: one ranged GET of the F32 blob, and far fewer bytes than its 21 MB
    const blobGets = spy.seen.filter((r) => r.method === 'GET' && /\/blobs\/sha256:/.test(r.path));
    expect(blobGets.length).toBeGreaterThan(0);
    expect(blobGets.every((r) => /^bytes=0-\d+$/.test(String(r.headers.range)))).toBe(true);
    expect(spy.blobBytes).toBeLessThanOrEqual(2 << 20);
    const remote = f.variants[2];
    expect(remote.size).toBe(21867424);

    // pulled, its own plan is the one the header gave
    expect((await kiln(['pull', `${base}:f32`, '--insecure'], d.env)).code).toBe(0);
    const local = await fit(`${base}:f32`);
    expect(remote).toMatchObject({ ram: local.ram.total, vram: local.gpu?.total ?? 0, gpu_layers: local.gpu?.layers ?? 0, total_layers: local.layers.length, fits: local.fits });
    expect((await kiln(['rm', `${base}:f32`], d.env)).code).toBe(0);
  }, 60_000);

  it('prints the table; a registry that cannot be reached leaves the local plan and says why', async () => {
    const r = await kiln(['show', `${base}:f16`, '--fit', '--num-ctx', '256', '--registry', '--insecure'], d.env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/QUANTIZATION\s+MODEL\s+SOURCE\s+SIZE\s+RAM\s+VRAM\s+GPU LAYERS\s+FITS/);
    expect(r.stdout).toMatch(/F32\s+\S+fitq:f32\s+registry\s/);
    await spy.stop();
    const f = await fit(`${base}:f16`, '--registry', '--insecure');
    expect(f.registry_error).toMatch(/127\.0\.0\.1/);
    expect(f.variants.map((v) => v.source)).toEqual(['local', 'local']);
  }, 60_000);
});
