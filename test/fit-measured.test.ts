/**
 * The plan of `kiln show NAME --fit` against what a load then really takes,
 * on models of three shapes (kjv, a random llama with GQA, a random gemma3
 * with q/k norms, a tied output and a sliding window): the runner's resident
 * memory (/proc/PID/status VmRSS after one generation) is within 10% of the
 * plan's total, on the CPU alone and with half the layers on the Vulkan device
 * (lavapipe: its "device" memory is the runner's own, so RSS holds both parts).
 * A plan that counted an offloaded layer's weights in RAM and on the device
 * both, or a runner that kept those pages mapped after the upload, fails it.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ollama } from 'ollama';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decoderSpec } from '../bench/arch-specs.js';
import { vocabSize, writeRandomModel } from '../bench/random-model.js';
import type { FitResponse } from '../daemon/api/types.js';
import { gv } from '../engine/gguf/types.js';
import { vulkanInfo } from '../kernels/vulkan.js';
import { cleanup, kiln, startDaemon, tempHome, type RunningDaemon } from './helpers/daemon.js';
import { KJV_F16 } from './helpers/fixtures.js';

let d: RunningDaemon;
let ollama: Ollama;
let dir: string;
const gpu = vulkanInfo();
const onDevice = gpu.available && gpu.devices.some((x) => x.type === 'cpu');

beforeAll(async () => {
  dir = tempHome('kiln-fitmem-');
  const nVocab = await vocabSize();
  const llama = await writeRandomModel(
    join(dir, 'llama.gguf'),
    decoderSpec('llama', { nEmbd: 512, nHead: 8, nHeadKv: 2, nFf: 1536, nLayer: 6 }, nVocab, { seed: 3 }),
  );
  const gemma = await writeRandomModel(
    join(dir, 'gemma3.gguf'),
    decoderSpec('gemma3', { nEmbd: 384, nHead: 6, nHeadKv: 2, headDim: 64, nFf: 2048, nLayer: 8, nCtx: 32768 }, nVocab, {
      kv: { 'attention.sliding_window': gv.u32(64), 'rope.freq_base': gv.f32(1e6) },
      seed: 5,
    }),
  );
  d = await startDaemon(undefined, { KILN_GPU: 'vulkan' });
  ollama = new Ollama({ host: d.url });
  for (const [name, path] of [['fit-kjv', KJV_F16], ['fit-llama', llama], ['fit-gemma3', gemma]]) {
    writeFileSync(join(dir, `${name}.Modelfile`), `FROM ${path}\n`);
    const r = await kiln(['create', name, '-f', join(dir, `${name}.Modelfile`)], d.env);
    expect(r.code, r.stderr).toBe(0);
  }
}, 120_000);

afterAll(async () => {
  await d?.stop();
  if (d) cleanup(d.home);
  if (dir) cleanup(dir);
});

/** The runner's resident bytes after one generation by these options (its pid from the daemon's load line). */
async function loadedRss(model: string, options: Record<string, number>): Promise<number> {
  const before = d.log().length;
  await ollama.generate({ model, prompt: 'In the beginning God created the heaven and the earth.', options: { num_predict: 2, ...options } });
  const m = new RegExp(`runner (\\d+) loaded ${model}`).exec(d.log().slice(before));
  expect(m, d.log().slice(before)).toBeTruthy();
  const status = readFileSync(`/proc/${m![1]}/status`, 'utf8');
  const rss = Number(/^VmRSS:\s+(\d+) kB$/m.exec(status)![1]) * 1024;
  await ollama.generate({ model, prompt: '', keep_alive: 0 }); // unload: the next load is a fresh runner
  return rss;
}

async function fit(model: string, ...args: string[]): Promise<FitResponse> {
  const r = await kiln(['show', model, '--fit', '--json', '--num-ctx', '256', '--num-parallel', '1', ...args], d.env);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as FitResponse;
}

const MODELS = ['fit-kjv', 'fit-llama', 'fit-gemma3'];

describe('the plan against what a load allocates', () => {
  it.each(MODELS)('%s on the CPU: the runner holds the plan\'s RAM total within 10%%', async (model) => {
    const f = await fit(model, '--num-gpu', '0');
    expect(f.ram.offloaded).toBe(0);
    const rss = await loadedRss(model, { num_ctx: 256, num_gpu: 0 });
    const err = Math.abs(rss - f.ram.total) / rss;
    console.log(`${model} cpu: plan ${f.ram.total} rss ${rss} err ${err.toFixed(3)}`);
    expect(err, `${model}: plan ${f.ram.total}, resident ${rss}`).toBeLessThan(0.1);
  }, 60_000);

  it.skipIf(!onDevice).each(MODELS)('%s with half its layers on lavapipe: RAM + device within 10%% of the runner\'s resident memory', async (model) => {
    const all = await fit(model, '--num-gpu', '0');
    const half = Math.floor(all.layers.length / 2);
    const f = await fit(model, '--num-gpu', String(half));
    expect(f.gpu?.layers).toBe(half);
    // the offloaded layers' weights are counted once, on the device
    expect(f.ram.offloaded).toBeGreaterThan(0);
    expect(f.ram.weights + f.ram.offloaded).toBe(all.ram.weights);
    const planned = f.ram.total + f.gpu!.total - f.gpu!.reserve;
    const rss = await loadedRss(model, { num_ctx: 256, num_gpu: half });
    const err = Math.abs(rss - planned) / rss;
    console.log(`${model} half: plan ${planned} rss ${rss} err ${err.toFixed(3)}`);
    expect(err, `${model}: plan ${planned} (RAM ${f.ram.total} + device ${f.gpu!.total - f.gpu!.reserve}), resident ${rss}`).toBeLessThan(0.1);
  }, 60_000);
});
