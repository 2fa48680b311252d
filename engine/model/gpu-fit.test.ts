import { describe, expect, it } from 'vitest';
import { readGGUFFile } from '../gguf/reader.js';
import { vulkanInfo } from '../../kernels/vulkan.js';
import { KJV_F32 } from '../../test/helpers/fixtures.js';
import { explicitGpuPlan, GPU_RESERVE_BYTES, layerDeviceBytes, outputDeviceBytes, planGpuLayers } from './gpu-fit.js';
import { llamaLayout } from './hparams.js';
import { Model } from './model.js';

describe('the GPU layer plan', () => {
  it('counts each layer\'s tensors and its f16 KV cache at the context length', async () => {
    const file = await readGGUFFile(KJV_F32);
    const { hp } = llamaLayout(file, { nCtx: 512 });
    const per = layerDeviceBytes(file, hp);
    expect(per).toHaveLength(hp.nLayer);
    const layerTensors = file.tensors.filter((t) => t.name.startsWith('blk.')).reduce((a, t) => a + t.byteSize, 0);
    const kv = 2 * 512 * hp.nHeadKv * hp.headDim * 2;
    expect(per.reduce((a, b) => a + b, 0)).toBe(layerTensors + hp.nLayer * kv);
  });

  it('takes the most of the last layers that fit beside the reserve', () => {
    const per = [10, 20, 30, 40];
    expect(planGpuLayers(per, GPU_RESERVE_BYTES + 1000)).toEqual({ layers: 4, bytes: 100, output: false });
    expect(planGpuLayers(per, GPU_RESERVE_BYTES + 75)).toEqual({ layers: 2, bytes: 70, output: false });
    expect(planGpuLayers(per, GPU_RESERVE_BYTES + 39)).toEqual({ layers: 0, bytes: 0, output: false });
    expect(planGpuLayers(per, 1000)).toEqual({ layers: 0, bytes: 0, output: false });
    expect(planGpuLayers(per, GPU_RESERVE_BYTES + 1000, 3)).toEqual({ layers: 3, bytes: 90, output: false });
  });

  it('takes the output projection with the layers when it costs no layer, else leaves it on the CPU', () => {
    const per = [10, 20, 30, 40];
    expect(planGpuLayers(per, GPU_RESERVE_BYTES + 1000, 4, 50)).toEqual({ layers: 4, bytes: 150, output: true });
    expect(planGpuLayers(per, GPU_RESERVE_BYTES + 150, 4, 50)).toEqual({ layers: 4, bytes: 150, output: true });
    // 95 free: without the output three layers fit, with it one; the layers win
    expect(planGpuLayers(per, GPU_RESERVE_BYTES + 95, 4, 50)).toEqual({ layers: 3, bytes: 90, output: false });
    // at most two layers: the output fits beside them
    expect(planGpuLayers(per, GPU_RESERVE_BYTES + 120, 2, 50)).toEqual({ layers: 2, bytes: 120, output: true });
    expect(explicitGpuPlan(per, 99, 50)).toEqual({ layers: 4, bytes: 150, output: true });
    expect(explicitGpuPlan(per, 1, 50)).toEqual({ layers: 1, bytes: 90, output: true });
    expect(explicitGpuPlan(per, 0, 50)).toEqual({ layers: 0, bytes: 0, output: false });
  });

  it('counts the output projection as output.weight, or the token embeddings when tied, and the final norm', async () => {
    const file = await readGGUFFile(KJV_F32);
    const size = (n: string) => file.tensors.find((t) => t.name === n)?.byteSize ?? 0;
    expect(outputDeviceBytes(file)).toBe(size('output_norm.weight') + (size('output.weight') || size('token_embd.weight')));
    expect(outputDeviceBytes(file)).toBeGreaterThan(size('output_norm.weight'));
  });

  it.skipIf(!vulkanInfo().available)('is within 10% of what a load then allocates on the device', async () => {
    process.env.KILN_GPU = 'vulkan';
    for (const [nCtx, numGpu] of [[256, 6], [2048, 3], [1024, 1]] as const) {
      const m = await Model.load(KJV_F32, { nCtx, numGpu });
      try {
        const got = m.native.gpu();
        expect(got.layers).toBe(numGpu);
        expect(got.output).toBe(true);
        expect(Math.abs(got.deviceBytes - m.gpuPlan.bytes) / got.deviceBytes, `nCtx ${nCtx}, ${numGpu} layers: plan ${m.gpuPlan.bytes}, allocated ${got.deviceBytes}`).toBeLessThan(0.1);
      } finally {
        m.close();
      }
    }
    // 'auto' with room for two layers beyond the reserve takes two
    const per = layerDeviceBytes(await readGGUFFile(KJV_F32), llamaLayout(await readGGUFFile(KJV_F32), { nCtx: 256 }).hp);
    const m = await Model.load(KJV_F32, { nCtx: 256, numGpu: 'auto', gpuMemory: GPU_RESERVE_BYTES + per[4] + per[5] + 100 });
    try {
      expect(m.gpuPlan.layers).toBe(2);
      expect(m.native.gpu().layers).toBe(2);
    } finally {
      m.close();
    }
  });

  it.skipIf(!vulkanInfo().available)('keeps every layer on the CPU with a quantized KV cache (the device holds an f16 cache)', async () => {
    process.env.KILN_GPU = 'vulkan';
    for (const kvTypes of [{ k: 'q8_0', v: 'q8_0' }, { k: 'f16', v: 'q4_0' }] as const) {
      const m = await Model.load(KJV_F32, { nCtx: 256, numGpu: 6, kvTypes });
      try {
        expect(m.kvTypes).toEqual(kvTypes);
        expect(m.gpuPlan).toEqual({ layers: 0, bytes: 0, output: false });
        expect(m.native.gpu().layers).toBe(0);
        expect(m.native.eval([1, 2, 3], 0).length).toBe(m.hp.nVocab);
      } finally {
        m.close();
      }
    }
  });
});
