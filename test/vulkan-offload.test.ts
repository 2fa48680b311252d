/**
 * Layer offload onto the Vulkan device (kernels/src/vulkan/offload.cpp)
 * against kiln's own CPU path, on Mesa's lavapipe in CI (KILN_GPU=vulkan lets
 * the backend use a CPU-type device). Greedy continuations must equal the
 * CPU's, parting only where the CPU's top two candidates are within NEAR_TIE
 * (the device sums in float32 in its own order, with f32 activations where
 * the CPU quantizes them to Q8, so a near-tie may fall either way).
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decoderSpec, fill } from '../bench/arch-specs.js';
import { vocabSize, writeRandomModel } from '../bench/random-model.js';
import type { GGUFValue } from '../engine/gguf/types.js';
import { Model } from '../engine/model/model.js';
import { quantizeFile } from '../engine/quantize/quantize.js';
import { vulkanInfo } from '../kernels/vulkan.js';
import { cleanup, tempHome } from './helpers/daemon.js';
import { kilnGreedy } from './helpers/decoder-oracle.js';
import { expectSameAsCpu as sameAsCpu } from './helpers/gpu-parity.js';

/** The device's continuations against the CPU's under the near-tie rule (test/helpers/gpu-parity.ts), reported at the end. */
const expectSameAsCpu = (label: string, cpu: Model, gpu: Model, prompts: number[][], n: number): void => void report.push(sameAsCpu(label, cpu, gpu, prompts, n));
import { KJV_F32, KJV_GOLDEN } from './helpers/fixtures.js';

process.env.KILN_GPU = 'vulkan'; // read by the native side when a model asks for GPU layers
const info = vulkanInfo();
const golden = (JSON.parse(readFileSync(KJV_GOLDEN, 'utf8')) as { prompts: { prompt_tokens: number[] }[] }).prompts.map((g) => g.prompt_tokens);

let dir: string;
const report: string[] = [];

beforeAll(async () => {
  dir = tempHome('kiln-vulkan-');
}, 60_000);

afterAll(() => {
  if (report.length) console.log(`\nVulkan offload vs the CPU path (greedy tokens):\n${report.join('\n')}`);
  cleanup(dir);
});

describe.skipIf(!info.available)('Vulkan layer offload', () => {
  it('kjv (F32) fully offloaded continues the golden prompts as the CPU does', async () => {
    const cpu = await Model.load(KJV_F32, { nCtx: 256 });
    const gpu = await Model.load(KJV_F32, { nCtx: 256, numGpu: 999 });
    try {
      expect(gpu.native.gpu().layers).toBe(gpu.hp.nLayer);
      expect(cpu.native.gpu().layers).toBe(0);
      expectSameAsCpu('kjv f32, all layers', cpu, gpu, golden, 32);
    } finally {
      cpu.close();
      gpu.close();
    }
  }, 120_000);

  it('kjv q4_K_M: full and partial offloads (1, 3, all but one layer) continue as the CPU does', async () => {
    const path = join(dir, 'kjv-q4_K_M.gguf');
    await quantizeFile(KJV_F32, path, 'q4_K_M');
    const cpu = await Model.load(path, { nCtx: 256 });
    try {
      const L = cpu.hp.nLayer;
      for (const k of [L, 1, 3, L - 1]) {
        const gpu = await Model.load(path, { nCtx: 256, numGpu: k });
        try {
          expect(gpu.native.gpu()).toMatchObject({ layers: k, output: true });
          expectSameAsCpu(`kjv q4_K_M, ${k}/${L} layers`, cpu, gpu, golden.slice(0, k === L ? 4 : 2), k === L ? 32 : 16);
        } finally {
          gpu.close();
        }
      }
    } finally {
      cpu.close();
    }
  }, 180_000);

  it('the output projection in several row blocks gives the very logits of one block, and the CPU\'s within float error', async () => {
    const cpu = await Model.load(KJV_F32, { nCtx: 128 });
    const one = await Model.load(KJV_F32, { nCtx: 128, numGpu: 99 });
    process.env.KILN_VULKAN_OUTPUT_ROWS = '700'; // read when the offload is made
    let blocks: Model | undefined;
    try {
      blocks = await Model.load(KJV_F32, { nCtx: 128, numGpu: 99 });
      expect(cpu.hp.nVocab).toBeGreaterThan(2 * 700);
      expect(blocks.native.gpu().output).toBe(true);
      for (const prompt of golden.slice(0, 2)) {
        for (const m of [cpu, one, blocks]) m.native.truncate(0);
        const a = one.native.eval(prompt, 0);
        const b = blocks.native.eval(prompt, 0);
        expect(Array.from(b)).toEqual(Array.from(a));
        const c = cpu.native.eval(prompt, 0);
        const scale = Math.max(...c.map(Math.abs));
        expect(Math.max(...c.map((v, i) => Math.abs(v - a[i]))) / scale).toBeLessThan(1e-3);
      }
    } finally {
      delete process.env.KILN_VULKAN_OUTPUT_ROWS;
      cpu.close();
      one.close();
      blocks?.close();
    }
  }, 60_000);

  it('a qwen2-style model (NEOX RoPE, q/k/v biases, GQA) continues as the CPU does', async () => {
    const nVocab = await vocabSize();
    const spec = decoderSpec('llama', { nEmbd: 160, nHead: 5, nHeadKv: 1, nFf: 288, nLayer: 3, nCtx: 1024 }, nVocab);
    spec.arch = 'qwen2';
    spec.kv = Object.fromEntries(Object.entries(spec.kv).map(([k, v]): [string, GGUFValue] => [k.replace(/^llama\./, 'qwen2.'), v]));
    for (let l = 0; l < 3; l++)
      spec.tensors.push(
        { name: `blk.${l}.attn_q.bias`, dims: [160], fill: fill.bias(0.3) },
        { name: `blk.${l}.attn_k.bias`, dims: [32], fill: fill.bias(0.3) },
        { name: `blk.${l}.attn_v.bias`, dims: [32], fill: fill.bias(0.3) },
      );
    const path = await writeRandomModel(join(dir, 'qwen2.gguf'), spec);
    const cpu = await Model.load(path, { nCtx: 256 });
    const gpu = await Model.load(path, { nCtx: 256, numGpu: 3 });
    try {
      expect(cpu.hp.ropeNeox).toBe(true);
      expect(gpu.native.gpu().layers).toBe(3);
      expectSameAsCpu('qwen2-style f32, all layers', cpu, gpu, golden.slice(0, 4), 16);
    } finally {
      cpu.close();
      gpu.close();
    }
  }, 120_000);

  it('a context shift moves and re-rotates the device KV cache as the CPU does (full and partial offload)', async () => {
    const cpu = await Model.load(KJV_F32, { nCtx: 128 });
    try {
      for (const k of [cpu.hp.nLayer, 3]) {
        const gpu = await Model.load(KJV_F32, { nCtx: 128, numGpu: k });
        try {
          for (const prompt of golden.slice(0, 2)) {
            // the prompt, then its first 40 greedy tokens, then a shift dropping 20 positions after the first 4
            const run = (m: Model): number[] => {
              const head = kilnGreedy(m, prompt, 40);
              m.native.eval([head[39]], prompt.length + 39);
              const left = m.native.shift(4, 20);
              let logits = m.native.eval([head[39]], left);
              const out: number[] = [];
              for (let i = 0; i < 16; i++) {
                out.push(logits.indexOf(Math.max(...logits)));
                logits = m.native.eval([out[i]], left + 1 + i);
              }
              return out;
            };
            const want = run(cpu);
            const got = run(gpu);
            let j = 0;
            while (j < want.length && got[j] === want[j]) j++;
            expect(j, `${k} layers offloaded: the continuation after the shift parts from the CPU's at token ${j}`).toBe(16);
          }
        } finally {
          gpu.close();
        }
      }
    } finally {
      cpu.close();
    }
  }, 120_000);

  for (const [what, env] of [
    ['KILN_GPU=none', { KILN_GPU: 'none' }],
    ['no Vulkan loader', { KILN_GPU: 'vulkan', KILN_VULKAN_LOADER: '/nonexistent/libvulkan.so.1' }],
  ] as const) {
    it(`${what}: a model asking for GPU layers runs on the CPU, logged once, no error`, () => {
      // a child process: the backend reads its environment once
      const script = `
        import { Model } from ${JSON.stringify(join(process.cwd(), 'dist/engine/model/model.js'))};
        const m = await Model.load(${JSON.stringify(KJV_F32)}, { nCtx: 64, numGpu: 99 });
        m.native.eval([1, 2, 3], 0);
        const n = await Model.load(${JSON.stringify(KJV_F32)}, { nCtx: 64, numGpu: 99 });
        console.log(JSON.stringify({ a: m.native.gpu().layers, b: n.native.gpu().layers }));`;
      const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { env: { ...process.env, ...env }, encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout)).toEqual({ a: 0, b: 0 });
      expect(r.stderr.match(/layers stay on the CPU/g)).toHaveLength(1);
    });
  }
});
