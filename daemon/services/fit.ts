/**
 * The memory plan of a local model before loading it (POST /api/fit, `kiln
 * show NAME --fit`): from the GGUF header alone, with the numbers the
 * scheduler and the runner use: the scheduler's system-memory estimate
 * (scheduler/memory.ts) at the slots it would give the model now, and the
 * runner's GPU layer plan (engine/model/gpu-fit.ts) on the device it would
 * choose.
 */
import { readGGUFFile } from '../../engine/gguf/reader.js';
import {
  explicitGpuPlan,
  GPU_RESERVE_BYTES,
  layerKvDeviceBytes,
  layerWeightBytes,
  outputDeviceBytes,
  planGpuLayers,
} from '../../engine/model/gpu-fit.js';
import { llamaLayout } from '../../engine/model/hparams.js';
import { vulkanInfo } from '../../kernels/vulkan.js';
import type { FitRequest, FitResponse } from '../api/types.js';
import type { Config } from '../config.js';
import { estimateMemory } from '../scheduler/memory.js';
import { isQuantized, kvTypeBytes, kvTypesName } from '../../common/kv-cache.js';
import type { Scheduler } from '../scheduler/scheduler.js';
import type { Store } from '../../store/index.js';
import { runOptions } from './options.js';
import { modelSpec, runnableModel } from './runnable.js';

export interface FitDeps {
  store: Store;
  config: Config;
  scheduler: Scheduler;
}

export async function fitModel(deps: FitDeps, name: string, req: FitRequest): Promise<FitResponse> {
  const m = await runnableModel(deps.store, name);
  const numGpu = req.num_gpu === undefined || req.num_gpu < 0 ? undefined : req.num_gpu;
  const options = runOptions(m.layers.parameters, req.num_ctx === undefined ? undefined : { num_ctx: req.num_ctx }, {
    contextLength: deps.config.contextLength,
    trainCtx: m.facts.trainCtx,
    kvCache: deps.config.kvCache,
  });
  const kvTypes = options.kvTypes;
  const spec = modelSpec(m, { numCtx: options.numCtx, numGpu, kvTypes });
  const planned = deps.scheduler.plan(spec);
  const slots = req.num_parallel ?? planned.slots;
  const ram = estimateMemory(spec.shape, spec.fileSize, spec.numCtx, slots, kvTypes);
  const nLayer = spec.shape.nLayer;
  const file = await readGGUFFile(m.path);
  const weights = layerWeightBytes(file, nLayer);
  const kvDim = spec.shape.nHeadKv * spec.shape.headDim;
  const kvPerSlot = spec.numCtx * (kvTypeBytes(kvTypes.k, kvDim) + kvTypeBytes(kvTypes.v, kvDim)); // at the cache types the runner loads
  let gpuLayers = 0;
  let gpu: FitResponse['gpu'];
  let reason: string | undefined;
  const vk = vulkanInfo();
  if (m.facts.embedding) reason = 'embedding models run on the CPU';
  else if (vk.selected < 0) reason = vk.reason || 'no Vulkan device';
  else if (numGpu === 0) reason = 'num_gpu 0';
  else if (isQuantized(kvTypes)) reason = `a ${kvTypesName(kvTypes)} KV cache keeps every layer on the CPU (the device keeps f16)`;
  else {
    const dev = vk.devices[vk.selected];
    const { hp } = llamaLayout(file, { nCtx: spec.numCtx });
    const kv = layerKvDeviceBytes(hp, slots); // every slot's cache of a layer
    const perLayer = weights.map((w) => w + kv);
    const out = outputDeviceBytes(file);
    const plan = numGpu === undefined ? planGpuLayers(perLayer, dev.memoryBytes, nLayer, out) : explicitGpuPlan(perLayer, numGpu, out);
    gpuLayers = plan.layers;
    const w = weights.slice(nLayer - plan.layers).reduce((a, b) => a + b, 0);
    const total = plan.bytes + GPU_RESERVE_BYTES;
    gpu = {
      index: dev.index,
      name: dev.name,
      memory: dev.memoryBytes,
      layers: plan.layers,
      total_layers: nLayer,
      output: plan.output,
      weights: w,
      output_weights: out,
      kv_cache: kv * plan.layers,
      reserve: GPU_RESERVE_BYTES,
      total,
      fits: plan.layers === 0 || total <= dev.memoryBytes,
    };
    if (plan.layers === 0) reason = 'no layer fits the device beside the reserve';
  }
  // the share of the estimate on the device, as /api/ps and `kiln ps` reckon it once loaded
  const vram = gpu && gpuLayers > 0 ? (gpuLayers === nLayer ? ram.total : Math.min(gpu.total - gpu.reserve, ram.total)) : 0;
  const cpuShare = ram.total > 0 ? Math.round(((ram.total - vram) / ram.total) * 100) : 100;
  const processor = vram === 0 ? '100% CPU' : cpuShare === 0 ? '100% GPU' : `${cpuShare}%/${100 - cpuShare}% CPU/GPU`;
  const ramFits = ram.total <= planned.free;
  return {
    model: m.name,
    num_ctx: spec.numCtx,
    num_parallel: slots,
    kv_cache_type: kvTypesName(kvTypes),
    ram: { weights: ram.weights, kv_cache: ram.kvCache, compute: ram.compute, total: ram.total, available: planned.free, fits: ramFits },
    ...(gpu ? { gpu } : {}),
    ...(reason ? { gpu_reason: reason } : {}),
    layers: weights.map((wb, index) => ({ index, weights: wb, kv_cache: kvPerSlot * slots, device: index >= nLayer - gpuLayers ? 'gpu' : 'cpu' })),
    processor,
    fits: ramFits && (gpu?.fits ?? true),
  };
}
