/**
 * How many layers go to the GPU when num_gpu is absent: as many of the last
 * layers as the device's memory holds, from the GGUF header alone (no weights
 * read). Per offloaded layer the device holds the layer's tensors and its f16
 * KV cache at the context length; a fixed reserve covers the activations, the
 * pipelines and the driver.
 */
import type { GGUFFile } from '../gguf/parser.js';
import type { ModelHParams } from './hparams.js';

/** Device bytes kept free beyond the plan: activations of a prompt batch, pipelines, the driver's own. */
export const GPU_RESERVE_BYTES = 256 * 2 ** 20;

export interface GpuPlan {
  /** Layers that go to the device (the last ones). */
  layers: number;
  /** Device bytes those layers take by this plan (weights and KV cache). */
  bytes: number;
}

/** Bytes each layer needs on the device: its tensors (blk.N.*) and its f16 K and V at nCtx positions. */
export function layerDeviceBytes(file: GGUFFile, hp: ModelHParams): number[] {
  const kv = 2 * hp.nCtx * hp.nHeadKv * hp.headDim * 2;
  const out = new Array<number>(hp.nLayer).fill(kv);
  for (const t of file.tensors) {
    const m = /^blk\.(\d+)\./.exec(t.name);
    if (m && Number(m[1]) < hp.nLayer) out[Number(m[1])] += t.byteSize;
  }
  return out;
}

/** The most of the last layers whose bytes fit in `memory` less the reserve (at most `cap` layers). */
export function planGpuLayers(perLayer: number[], memory: number, cap = perLayer.length): GpuPlan {
  let budget = memory - GPU_RESERVE_BYTES;
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
