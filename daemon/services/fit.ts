/**
 * The memory plan of a model before loading it (POST /api/fit, `kiln show
 * NAME --fit`): from GGUF headers alone, with the numbers the scheduler and the
 * runner use: the scheduler's system-memory estimate (scheduler/memory.ts) at
 * the slots it would give the model now, and the runner's GPU layer plan
 * (engine/model/gpu-fit.ts) on the device it would choose. The same plan is
 * made for every other quantization of the model: the local tags of the same
 * name, and (with `registry`) the tags the registry lists for it, whose headers
 * are read by Range requests without downloading the weights.
 *
 * RAM: the runner maps the file and reads the CPU's weights straight from the
 * page cache; the layers it puts on the device are copied there and their pages
 * dropped from the mapping (engine/model/model.ts), and their KV cache lives
 * only on the device. So the RAM figure counts the weights and KV cache of the
 * CPU's layers only. The scheduler still admits a load by its whole-file
 * estimate (`ram.scheduler`, /api/ps's size), which `ram.fits` is judged by.
 */
import { KilnError } from '../../common/errors.js';
import { isQuantized, KV_F16, kvTypeBytes, kvTypesName, type KvTypes } from '../../common/kv-cache.js';
import { parseModelName, type ModelName } from '../../common/model-name.js';
import { kvString, summarizeModel } from '../../engine/gguf/metadata.js';
import { readGGUFFile, type GGUFFile } from '../../engine/gguf/reader.js';
import { bertLayout, isEncoderArch } from '../../engine/model/bert.js';
import {
  explicitGpuPlan,
  GPU_RESERVE_BYTES,
  layerKvDeviceBytes,
  layerWeightBytes,
  outputDeviceBytes,
  planGpuLayers,
} from '../../engine/model/gpu-fit.js';
import { llamaLayout } from '../../engine/model/hparams.js';
import { vulkanInfo, type VulkanInfo } from '../../kernels/vulkan.js';
import { clientFor, repoOf } from '../../registry/context.js';
import { listTags, remoteGGUFHeader, remoteModelLayer } from './remote-gguf.js';
import type { Store } from '../../store/index.js';
import type { FitPlan, FitRequest, FitResponse, FitVariant } from '../api/types.js';
import type { Config } from '../config.js';
import { estimateMemory, formatGiB, type ModelShape } from '../scheduler/memory.js';
import type { ModelSpec, Scheduler } from '../scheduler/scheduler.js';
import { runOptions } from './options.js';
import { registryContext } from './registry.js';
import { modelSpec, runnableModel, type RunnableModel } from './runnable.js';

/**
 * Host memory the Vulkan driver takes in the runner once layers go to the
 * device: the device, its queues and the compiled pipelines (lavapipe compiles
 * them with LLVM in the process: about 15 MiB measured, test/fit-measured.test.ts).
 */
export const DRIVER_HOST_BYTES = 16 * 2 ** 20;

export interface FitDeps {
  store: Store;
  config: Config;
  scheduler: Scheduler;
  log?: (m: string) => void;
}

/** What every quantization is planned at: the request's context, slots, cache types and num_gpu, on this machine. */
interface PlanEnv {
  numCtx: number;
  slots: number;
  kvTypes: KvTypes;
  numGpu: number | undefined;
  /** System memory the scheduler may give a load now. */
  free: number;
  vk: VulkanInfo;
}

/** The plan of one GGUF (its header; fileSize: the whole file's bytes) in `env`. */
export function planFile(file: GGUFFile, fileSize: number, env: PlanEnv): FitPlan {
  const embedding = isEncoderArch(kvString(file, 'general.architecture') ?? '');
  const hp = embedding ? bertLayout(file).hp : llamaLayout(file, { nCtx: env.numCtx }).hp;
  const shape: ModelShape = { nLayer: hp.nLayer, nEmbd: hp.nEmbd, nHead: hp.nHead, nHeadKv: hp.nHeadKv, headDim: hp.headDim, nFf: hp.nFf, nVocab: hp.nVocab };
  const { numCtx, slots, kvTypes, numGpu, vk } = env;
  const sched = estimateMemory(shape, fileSize, numCtx, slots, kvTypes);
  const nLayer = shape.nLayer;
  const weights = layerWeightBytes(file, nLayer);
  const kvDim = shape.nHeadKv * shape.headDim;
  const kvPerSlot = numCtx * (kvTypeBytes(kvTypes.k, kvDim) + kvTypeBytes(kvTypes.v, kvDim)); // at the cache types the runner loads
  let gpuLayers = 0;
  let gpu: FitPlan['gpu'];
  let reason: string | undefined;
  if (embedding) reason = 'embedding models run on the CPU';
  else if (vk.selected < 0) reason = vk.reason || 'no Vulkan device';
  else if (numGpu === 0) reason = 'num_gpu 0';
  else if (isQuantized(kvTypes)) reason = `a ${kvTypesName(kvTypes)} KV cache keeps every layer on the CPU (the device keeps f16)`;
  else {
    const dev = vk.devices[vk.selected];
    const kv = layerKvDeviceBytes(llamaLayout(file, { nCtx: numCtx }).hp, slots); // every slot's cache of a layer
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
  // what stays in RAM: the weights less those copied to the device (an untied output projection too when it goes;
  // a tied one is the token embeddings the CPU reads), the CPU layers' KV cache, the CPU's scratch and the process
  // (and the Vulkan driver's host memory when layers go to the device)
  const untiedOutput = file.tensors.find((t) => t.name === 'output.weight')?.byteSize ?? 0;
  const offloaded = gpu && gpuLayers > 0 ? gpu.weights + (gpu.output ? untiedOutput : 0) : 0;
  const ram = {
    weights: fileSize - offloaded,
    offloaded,
    kv_cache: kvPerSlot * slots * (nLayer - gpuLayers),
    compute: sched.compute + (gpuLayers > 0 ? DRIVER_HOST_BYTES : 0),
    total: 0,
    scheduler: sched.total,
    available: env.free,
    fits: sched.total <= env.free,
  };
  ram.total = ram.weights + ram.kv_cache + ram.compute;
  // the share of the estimate on the device, as /api/ps and `kiln ps` reckon it once loaded
  const vram = gpu && gpuLayers > 0 ? (gpuLayers === nLayer ? sched.total : Math.min(gpu.total - gpu.reserve, sched.total)) : 0;
  const cpuShare = sched.total > 0 ? Math.round(((sched.total - vram) / sched.total) * 100) : 100;
  const processor = vram === 0 ? '100% CPU' : cpuShare === 0 ? '100% GPU' : `${cpuShare}%/${100 - cpuShare}% CPU/GPU`;
  return {
    ram,
    ...(gpu ? { gpu } : {}),
    ...(reason ? { gpu_reason: reason } : {}),
    layers: weights.map((wb, index) => ({ index, weights: wb, kv_cache: kvPerSlot * slots, device: index >= nLayer - gpuLayers ? 'gpu' : 'cpu' })),
    processor,
    fits: ram.fits && (gpu?.fits ?? true),
  };
}

/**
 * The device's figures for a refused load (the scheduler's message): the GPU
 * the runner would use, its memory, and the layers the plan puts there, or why
 * none go there.
 */
export async function deviceFigures(spec: ModelSpec, slots: number): Promise<string | undefined> {
  const vk = vulkanInfo();
  const env: PlanEnv = { numCtx: spec.numCtx, slots, kvTypes: spec.kvTypes ?? KV_F16, numGpu: spec.numGpu, free: 0, vk };
  const p = planFile(await readGGUFFile(spec.path), spec.fileSize, env);
  if (!p.gpu) return `GPU: none (${p.gpu_reason ?? 'no device'})`;
  const g = p.gpu;
  return `GPU ${g.index} (${g.name}): ${formatGiB(g.memory)}, ${g.layers}/${g.total_layers} layers would go there (${formatGiB(g.total)} with the ${formatGiB(g.reserve)} reserve)`;
}

function variantOf(model: string, source: FitVariant['source'], file: GGUFFile, fileSize: number, env: PlanEnv): FitVariant {
  const p = planFile(file, fileSize, env);
  return {
    model,
    source,
    quantization: summarizeModel(file).fileType,
    size: fileSize,
    ram: p.ram.total,
    vram: p.gpu ? p.gpu.total : 0,
    gpu_layers: p.gpu?.layers ?? 0,
    total_layers: p.layers.length,
    processor: p.processor,
    fits: p.fits,
  };
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function sameModel(a: ModelName, b: ModelName): boolean {
  return a.host === b.host && a.namespace === b.namespace && a.model === b.model;
}

/** The local tags of the model's name (the model itself first), each planned from its header. */
async function localVariants(store: Store, self: RunnableModel, selfFile: GGUFFile, env: PlanEnv): Promise<FitVariant[]> {
  const name = parseModelName(self.record.key);
  const out = [variantOf(self.name, 'local', selfFile, self.facts.fileSize, env)];
  for (const r of store.models.list()) {
    if (r.key === self.record.key || !sameModel(parseModelName(r.key), name)) continue;
    try {
      const m = await runnableModel(store, r.name);
      out.push(variantOf(r.name, 'local', await readGGUFFile(m.path), m.facts.fileSize, env));
    } catch (e) {
      out.push({ model: r.name, source: 'local', error: message(e) });
    }
  }
  return out;
}

/** The tags the registry lists for the model's name that are not local, each planned from its header (Range requests). */
async function registryVariants(deps: FitDeps, self: RunnableModel, env: PlanEnv, insecure: boolean, signal?: AbortSignal): Promise<FitVariant[]> {
  const name = parseModelName(self.record.key);
  const display = parseModelName(self.name);
  const client = clientFor(registryContext({ store: deps.store, config: deps.config, log: deps.log ?? (() => {}) }), name.host, insecure);
  const repo = repoOf(display);
  const local = new Set(deps.store.models.list().map((r) => r.key));
  const out: FitVariant[] = [];
  for (const tag of await listTags(client, repo, signal)) {
    let tagged: ModelName;
    try {
      tagged = parseModelName(`${display.display.slice(0, display.display.lastIndexOf(':'))}:${tag}`);
    } catch {
      continue; // a tag kiln cannot name
    }
    if (local.has(`${tagged.host}/${tagged.namespace}/${tagged.model}:${tagged.tag}`)) continue;
    try {
      const layer = await remoteModelLayer(client, repo, tag, signal);
      if (!layer) continue;
      out.push(variantOf(tagged.display, 'registry', await remoteGGUFHeader(client, repo, layer, signal), layer.size, env));
    } catch (e) {
      out.push({ model: tagged.display, source: 'registry', error: message(e) });
    }
  }
  return out;
}

export async function fitModel(deps: FitDeps, name: string, req: FitRequest, signal?: AbortSignal): Promise<FitResponse> {
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
  const env: PlanEnv = { numCtx: spec.numCtx, slots: req.num_parallel ?? planned.slots, kvTypes, numGpu, free: planned.free, vk: vulkanInfo() };
  const file = await readGGUFFile(m.path);
  const variants = await localVariants(deps.store, m, file, env);
  let registryError: string | undefined;
  if (req.registry) {
    try {
      variants.push(...(await registryVariants(deps, m, env, req.insecure === true, signal)));
    } catch (e) {
      if (signal?.aborted) throw e;
      // the local plan stands; the registry's part says why it is missing
      registryError = e instanceof KilnError ? e.message : message(e);
    }
  }
  return {
    model: m.name,
    num_ctx: spec.numCtx,
    num_parallel: env.slots,
    kv_cache_type: kvTypesName(kvTypes),
    ...planFile(file, m.facts.fileSize, env),
    variants,
    ...(registryError ? { registry_error: registryError } : {}),
  };
}
