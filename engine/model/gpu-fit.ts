/**
 * How many layers go to the GPU when num_gpu is absent: as many of the last
 * layers as the device's memory holds, from the GGUF header alone (no weights
 * read). Per offloaded layer the device holds the layer's tensors and its f16
 * KV cache at the context length; a fixed reserve covers the activations, the
 * pipelines and the driver. With any layer there, the final norm and the output
 * projection (the token embeddings when the model ties them) go too when they
 * fit beside the layers: the last layer's output then never leaves the device,
 * and only the logits come back.
 */
import type { GGUFFile } from '../gguf/parser.js';
import type { ModelHParams } from './hparams.js';

/** Device bytes kept free beyond the plan: activations of a prompt batch, pipelines, the driver's own. */
export const GPU_RESERVE_BYTES = 256 * 2 ** 20;

export interface GpuPlan {
  /** Layers that go to the device (the last ones). */
  layers: number;
  /** Device bytes those layers (and the output, when it goes) take by this plan (weights and KV cache). */
  bytes: number;
  /** Whether the final norm and output projection go to the device too. */
  output: boolean;
}

/** Device bytes of the final norm and the output projection: output.weight, or token_embd.weight when tied. */
export function outputDeviceBytes(file: GGUFFile): number {
  const by = new Map(file.tensors.map((t) => [t.name, t.byteSize]));
  return (by.get('output_norm.weight') ?? 0) + (by.get('output.weight') ?? by.get('token_embd.weight') ?? 0);
}

/** Bytes of each layer's tensors (blk.N.*). */
export function layerWeightBytes(file: GGUFFile, nLayer: number): number[] {
  const out = new Array<number>(nLayer).fill(0);
  for (const t of file.tensors) {
    const m = /^blk\.(\d+)\./.exec(t.name);
    if (m && Number(m[1]) < nLayer) out[Number(m[1])] += t.byteSize;
  }
  return out;
}

/** Bytes of one layer's KV cache on the device: f16 K and V rows at nCtx positions for each of nSeq sequences. */
export function layerKvDeviceBytes(hp: ModelHParams, nSeq = 1): number {
  return 2 * hp.nCtx * hp.nHeadKv * hp.headDim * 2 * nSeq;
}

/** Bytes each layer needs on the device: its tensors (blk.N.*) and its f16 K and V at nCtx positions (per sequence). */
export function layerDeviceBytes(file: GGUFFile, hp: ModelHParams, nSeq = 1): number[] {
  const kv = layerKvDeviceBytes(hp, nSeq);
  return layerWeightBytes(file, hp.nLayer).map((w) => w + kv);
}

/** The most of the last layers whose bytes fit in `memory` less the reserve (at most `cap` layers). */
function fitLayers(perLayer: number[], budget: number, cap: number): { layers: number; bytes: number } {
  let layers = 0;
  let bytes = 0;
  for (let l = perLayer.length - 1; l >= 0 && layers < cap; l--) {
    if (perLayer[l] > budget) break;
    budget -= perLayer[l];
    bytes += perLayer[l];
    layers++;
  }
  return { layers, bytes };
}

/**
 * The device plan for `memory` bytes: the output (outputBytes) with as many of
 * the last layers as fit beside it, or, when that leaves more layers on the
 * CPU than leaving the output there would, the layers alone.
 */
export function planGpuLayers(perLayer: number[], memory: number, cap = perLayer.length, outputBytes = 0): GpuPlan {
  const budget = memory - GPU_RESERVE_BYTES;
  const alone = fitLayers(perLayer, budget, cap);
  const withOut = outputBytes > 0 ? fitLayers(perLayer, budget - outputBytes, cap) : { layers: 0, bytes: 0 };
  if (withOut.layers > 0 && withOut.layers >= alone.layers) return { layers: withOut.layers, bytes: withOut.bytes + outputBytes, output: true };
  return { ...alone, output: false };
}

/** The plan of an explicit num_gpu: the last `count` layers (capped at the model's), with the output when any layer goes. */
export function explicitGpuPlan(perLayer: number[], count: number, outputBytes: number): GpuPlan {
  const layers = Math.max(0, Math.min(count, perLayer.length));
  const bytes = perLayer.slice(perLayer.length - layers).reduce((a, b) => a + b, 0);
  return layers > 0 ? { layers, bytes: bytes + outputBytes, output: outputBytes > 0 } : { layers: 0, bytes: 0, output: false };
}
