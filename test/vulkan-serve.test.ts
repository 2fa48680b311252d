/**
 * num_gpu through the daemon on the Vulkan backend (lavapipe in CI; the
 * daemon runs with KILN_GPU=vulkan so a CPU-type device may take layers):
 * /api/ps's size_vram and `kiln ps`'s PROCESSOR follow where the layers are.
 */
import { Ollama } from 'ollama';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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

async function runWith(options: Record<string, unknown>): Promise<{ size: number; size_vram: number; processor: string }> {
  const r = await ollama.generate({ model: 'kjv', prompt: 'In the beginning', options: { num_predict: 3, num_ctx: 128, ...options } });
  expect(r.eval_count).toBeGreaterThan(0);
  const ps = await ollama.ps();
  expect(ps.models).toHaveLength(1);
  const cli = await kiln(['ps'], d.env);
  expect(cli.code, cli.stderr).toBe(0);
  const line = cli.stdout.split('\n').find((l) => l.startsWith('kjv'))!;
  const processor = /(\d+% GPU|\d+% CPU|\d+%\/\d+% CPU\/GPU)/.exec(line)?.[1] ?? line;
  return { size: ps.models[0].size, size_vram: ps.models[0].size_vram, processor };
}

describe.skipIf(!available)('num_gpu on the Vulkan backend', () => {
  it('absent: every layer on the device, 100% GPU', async () => {
    const r = await runWith({});
    expect(r.size_vram).toBe(r.size);
    expect(r.processor).toBe('100% GPU');
  }, 60_000);

  it('num_gpu 3 of 6: part on the device, a CPU/GPU split', async () => {
    const r = await runWith({ num_gpu: 3 });
    expect(r.size_vram).toBeGreaterThan(0);
    expect(r.size_vram).toBeLessThan(r.size);
    expect(r.processor).toMatch(/^\d+%\/\d+% CPU\/GPU$/);
  }, 60_000);

  it('num_gpu 0: none, 100% CPU', async () => {
    const r = await runWith({ num_gpu: 0 });
    expect(r.size_vram).toBe(0);
    expect(r.processor).toBe('100% CPU');
  }, 60_000);

  it('a bad num_gpu is the client\'s mistake (400), not a load', async () => {
    const res = await fetch(`${d.url}/api/generate`, { method: 'POST', body: JSON.stringify({ model: 'kjv', prompt: 'x', options: { num_gpu: 1.5 } }) });
    expect(res.status).toBe(400);
    expect(await res.text()).toMatch(/num_gpu/);
  });
});

describe.skipIf(!available)('when the device memory runs out', () => {
  let small: RunningDaemon;
  afterAll(async () => {
    if (!small) return;
    await small.stop();
    cleanup(small.home);
  });

  it('the load fails cleanly with the figures, the runner exits, the daemon stays up', async () => {
    small = await startDaemon(undefined, { KILN_GPU: 'vulkan', KILN_VULKAN_MEMORY_LIMIT: '1' }); // 1 MiB of device memory
    const client = new Ollama({ host: small.url });
    const err = await client.generate({ model: 'kjv', prompt: 'x', options: { num_gpu: 6, num_predict: 2 } }).then(() => undefined, (e: Error) => e);
    expect(err?.message).toMatch(/out of device memory: cannot allocate \d+ MiB on .+ \(\d+ MiB allocated, heap 1 MiB\); try a smaller num_gpu/);
    expect((await client.ps()).models).toHaveLength(0);
    // the same model on the CPU still answers
    const r = await client.generate({ model: 'kjv', prompt: 'In the beginning', options: { num_gpu: 0, num_predict: 2 } });
    expect(r.eval_count).toBeGreaterThan(0);
  }, 60_000);
});
