/**
 * `kiln show NAME --fit` and POST /api/fit against the real daemon on the
 * Vulkan backend (lavapipe in CI; KILN_GPU=vulkan lets the daemon choose a
 * CPU-type device): the plan's numbers are the ones the scheduler and the
 * runner then use (/api/ps's size and size_vram after a load by that plan).
 */
import { Ollama } from 'ollama';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FitResponse } from '../daemon/api/types.js';
import { vulkanInfo } from '../kernels/vulkan.js';
import { cleanup, kiln, startDaemon, type RunningDaemon } from './helpers/daemon.js';

let d: RunningDaemon;
let ollama: Ollama;
const available = vulkanInfo().available;

beforeAll(async () => {
  if (!available) return;
  d = await startDaemon(undefined, { KILN_GPU: 'vulkan' });
  ollama = new Ollama({ host: d.url });
}, 60_000);

afterAll(async () => {
  if (!d) return;
  await d.stop();
  cleanup(d.home);
});

async function fit(...args: string[]): Promise<FitResponse> {
  const r = await kiln(['show', 'kjv', '--fit', '--json', ...args], d.env);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as FitResponse;
}

/** Loads kjv by a request with these options and returns its /api/ps entry. */
async function loaded(options: { num_ctx: number; num_gpu?: number }): Promise<{ size: number; size_vram: number }> {
  await ollama.generate({ model: 'kjv', prompt: 'In the beginning', options: { num_predict: 1, ...options } });
  const ps = await ollama.ps();
  const m = ps.models.find((x) => x.name.startsWith('kjv') && (x as { context_length?: number }).context_length === options.num_ctx);
  expect(m).toBeDefined();
  return { size: m!.size, size_vram: m!.size_vram };
}

describe.skipIf(!available)('kiln show --fit', () => {
  it('every layer and the output fit the device: 100% GPU, and /api/ps then shows the plan\'s size', async () => {
    const f = await fit('--num-ctx', '256');
    expect(f).toMatchObject({ model: 'kjv:latest', num_ctx: 256, num_parallel: 1, kv_cache_type: 'f16', processor: '100% GPU', fits: true });
    expect(f.gpu).toMatchObject({ layers: f.layers.length, total_layers: f.layers.length, output: true, fits: true });
    expect(f.layers.every((l) => l.device === 'gpu' && l.weights > 0)).toBe(true);
    // the device total: layer weights + output + KV cache + reserve, KV cache 2 x f16 x 256 positions per layer
    const g = f.gpu!;
    expect(g.total).toBe(g.weights + g.output_weights + g.kv_cache + g.reserve);
    expect(g.weights).toBe(f.layers.reduce((a, l) => a + l.weights, 0));
    expect(f.ram.total).toBe(f.ram.weights + f.ram.kv_cache + f.ram.compute);
    // every layer on the device: their weights and KV cache are not counted in RAM; the scheduler still reserves the whole file
    expect(f.ram.offloaded).toBeGreaterThanOrEqual(g.weights);
    expect(f.ram.kv_cache).toBe(0);
    expect(f.ram.weights + f.ram.offloaded).toBe(f.variants[0].size);
    const ps = await loaded({ num_ctx: 256 });
    expect(ps.size).toBe(f.ram.scheduler);
    expect(ps.size_vram).toBe(ps.size);
  }, 60_000);

  it('--num-gpu 3: the last three layers on the device, a CPU/GPU split within 10% of what the load holds there', async () => {
    const f = await fit('--num-ctx', '512', '--num-gpu', '3');
    const n = f.layers.length;
    expect(f.gpu).toMatchObject({ layers: 3, output: true });
    expect(f.layers.map((l) => l.device)).toEqual([...Array<string>(n - 3).fill('cpu'), 'gpu', 'gpu', 'gpu']);
    expect(f.processor).toMatch(/^\d+%\/\d+% CPU\/GPU$/);
    const ps = await loaded({ num_ctx: 512, num_gpu: 3 });
    const planned = f.gpu!.total - f.gpu!.reserve;
    expect(Math.abs(ps.size_vram - planned) / ps.size_vram, `plan ${planned}, loaded ${ps.size_vram}`).toBeLessThan(0.1);
  }, 60_000);

  it('several slots: the device holds every slot\'s cache of its layers; num_gpu 0 keeps all on the CPU (the reason given)', async () => {
    const cpu = await fit('--num-ctx', '256', '--num-parallel', '1', '--num-gpu', '0');
    const one = await fit('--num-ctx', '256', '--num-parallel', '1');
    const two = await fit('--num-ctx', '256', '--num-parallel', '2');
    expect(cpu.gpu).toBeUndefined();
    expect(cpu.gpu_reason).toBe('num_gpu 0');
    expect(cpu.processor).toBe('100% CPU');
    expect(cpu.layers.every((l) => l.device === 'cpu')).toBe(true);
    expect(two.num_parallel).toBe(2);
    expect(two.ram.kv_cache).toBe(2 * one.ram.kv_cache);
    expect(two.gpu!.kv_cache).toBe(2 * one.gpu!.kv_cache);
    expect(two.layers.every((l, i) => l.kv_cache === 2 * one.layers[i].kv_cache && l.device === 'gpu')).toBe(true);
  }, 30_000);

  it('prints the plan as text, and refuses a bad value or an unknown model without a 500', async () => {
    const r = await kiln(['show', 'kjv', '--fit', '--num-ctx', '256'], d.env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/Plan[\s\S]*processor\s+100% GPU/);
    expect(r.stdout).toMatch(/GPU 0: .*\n\s+layers\s+\d+\/\d+ and the output/);
    expect(r.stdout).toMatch(/LAYER\s+WEIGHTS\s+KV CACHE\s+DEVICE/);
    const bad = await kiln(['show', 'kjv', '--fit', '--num-ctx', 'lots'], d.env);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/--num-ctx takes an integer/);
    const res = await fetch(`${d.url}/api/fit`, { method: 'POST', body: JSON.stringify({ model: 'kjv', num_ctx: 1.5 }) });
    expect(res.status).toBe(400);
    const missing = await fetch(`${d.url}/api/fit`, { method: 'POST', body: JSON.stringify({ model: 'no-such-model' }) });
    expect(missing.status).toBe(404);
  }, 30_000);

  it('a model that fits nowhere is refused with the figures of system memory and of the GPU; the daemon stays up', async () => {
    const small = await startDaemon(undefined, { KILN_GPU: 'vulkan', KILN_MAX_MEMORY: '48MiB' });
    try {
      const f = await fit2(small, 'kjv', '--num-ctx', '256');
      expect(f.fits).toBe(false);
      expect(f.ram.fits).toBe(false);
      const res = await fetch(`${small.url}/api/generate`, { method: 'POST', body: JSON.stringify({ model: 'kjv', prompt: 'x', stream: false, options: { num_ctx: 256, num_predict: 1 } }) });
      const err = ((await res.json()) as { error: string }).error;
      expect(res.status).toBe(500);
      expect(err).toMatch(/requires more system memory \(\d+\.\d MiB: .* weights, .* KV cache, .* compute\) than is available \(48\.0 MiB\)/);
      expect(err).toMatch(new RegExp(`GPU ${f.gpu!.index} \\(llvmpipe[^)]*\\)\\): 2\\.0 GiB, ${f.gpu!.layers}/${f.gpu!.total_layers} layers would go there`));
      expect((await fetch(`${small.url}/api/version`)).status).toBe(200);
    } finally {
      await small.stop();
      cleanup(small.home);
    }
    // without a device the message says why none is used
    const cpu = await startDaemon(undefined, { KILN_MAX_MEMORY: '48MiB' });
    try {
      const res = await fetch(`${cpu.url}/api/generate`, { method: 'POST', body: JSON.stringify({ model: 'kjv', prompt: 'x', stream: false }) });
      expect(((await res.json()) as { error: string }).error).toMatch(/than is available \(48\.0 MiB\); GPU: none \(/);
    } finally {
      await cpu.stop();
      cleanup(cpu.home);
    }
  }, 60_000);
});

async function fit2(daemon: RunningDaemon, ...args: string[]): Promise<FitResponse> {
  const r = await kiln(['show', ...args.slice(0, 1), '--fit', '--json', ...args.slice(1)], daemon.env);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as FitResponse;
}
