import { readGGUFFile, type GGUFFile } from '../gguf/reader.js';
import { Tokenizer } from '../tokenizer/index.js';
import { mapFile, NativeLlama, type MappedFile } from '../../kernels/index.js';
import { layerDeviceBytes, planGpuLayers, type GpuPlan } from './gpu-fit.js';
import { llamaLayout, type ModelHParams } from './hparams.js';

export interface LoadOptions {
  /** Context length (KV cache size); default: the model's trained context. */
  nCtx?: number;
  /** KV cache in f16 (default, as llama.cpp) or f32. */
  kvF16?: boolean;
  /** Layers to run on the GPU (Ollama's num_gpu; the last ones): 0 or absent none, more than the model has: all. */
  numGpu?: number | 'auto';
  /** With numGpu 'auto': the device bytes this model may take (gpu-fit.ts picks the layers). */
  gpuMemory?: number;
}

/**
 * A loaded model: its metadata, tokenizer and native context over the mapped
 * file. The weights stay in the page cache; only the KV cache and scratch are
 * allocated.
 */
export class Model {
  private constructor(
    readonly path: string,
    readonly file: GGUFFile,
    readonly hp: ModelHParams,
    readonly tokenizer: Tokenizer,
    readonly native: NativeLlama,
    private readonly map: MappedFile,
    /** The layers the load asked the GPU for, and the device bytes the plan expected them to take. */
    readonly gpuPlan: GpuPlan,
  ) {}

  static async load(path: string, opts: LoadOptions = {}): Promise<Model> {
    const file = await readGGUFFile(path);
    const { hp, weights } = llamaLayout(file, opts);
    const tokenizer = Tokenizer.fromGGUF(file);
    const map = mapFile(path);
    try {
      const perLayer = layerDeviceBytes(file, hp);
      const plan: GpuPlan =
        opts.numGpu === 'auto'
          ? planGpuLayers(perLayer, opts.gpuMemory ?? 0)
          : { layers: Math.min(opts.numGpu ?? 0, hp.nLayer), bytes: perLayer.slice(hp.nLayer - Math.min(opts.numGpu ?? 0, hp.nLayer)).reduce((a, b) => a + b, 0) };
      const native = new NativeLlama(map, plan.layers ? { ...hp, nGpuLayers: plan.layers } : hp, weights);
      return new Model(path, file, hp, tokenizer, native, map, plan);
    } catch (e) {
      map.unmap();
      throw e;
    }
  }

  /** Frees the native context, then the mapping (in that order: the context points into it). */
  close(): void {
    this.native.free();
    this.map.unmap();
  }
}
