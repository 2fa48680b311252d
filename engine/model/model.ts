import { readGGUFFile, type GGUFFile } from '../gguf/reader.js';
import { Tokenizer } from '../tokenizer/index.js';
import { mapFile, NativeLlama, type MappedFile } from '../../kernels/index.js';
import { explicitGpuPlan, layerDeviceBytes, outputDeviceBytes, planGpuLayers, type GpuPlan } from './gpu-fit.js';
import { llamaLayout, type ModelHParams } from './hparams.js';
import { isEncoderArch } from './bert.js';
import { EmbeddingModel } from './embedding.js';
import { KilnError } from '../../common/errors.js';
import { kvString } from '../gguf/metadata.js';

export interface LoadOptions {
  /** Context length (KV cache size); default: the model's trained context. */
  nCtx?: number;
  /** KV cache in f16 (default, as llama.cpp) or f32. */
  kvF16?: boolean;
  /** Sequences served at once, each with its own KV cache of nCtx positions (default 1). */
  nSeq?: number;
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

  readonly kind = 'generative' as const;

  static async load(path: string, opts: LoadOptions = {}): Promise<Model> {
    const file = await readGGUFFile(path);
    const arch = kvString(file, 'general.architecture') ?? '';
    if (isEncoderArch(arch)) {
      throw new KilnError('E_BAD_REQUEST', `${path} is an embedding model (${arch}): it encodes text and does not generate; load it with loadModel() or EmbeddingModel.load()`);
    }
    const { hp, weights } = llamaLayout(file, opts);
    const tokenizer = Tokenizer.fromGGUF(file);
    const map = mapFile(path);
    try {
      const nSeq = opts.nSeq && opts.nSeq > 1 ? opts.nSeq : 1;
      // the device holds every sequence's cache of its layers
      const perLayer = layerDeviceBytes(file, hp, nSeq);
      const outBytes = outputDeviceBytes(file);
      const plan: GpuPlan =
        opts.numGpu === 'auto' ? planGpuLayers(perLayer, opts.gpuMemory ?? 0, hp.nLayer, outBytes) : explicitGpuPlan(perLayer, opts.numGpu ?? 0, outBytes);
      const params = {
        ...hp,
        ...(nSeq > 1 ? { nSeq } : {}),
        ...(plan.layers ? { nGpuLayers: plan.layers } : {}),
        ...(plan.output ? { gpuOutput: true } : {}),
      };
      const native = new NativeLlama(map, params, weights);
      return new Model(path, file, hp, tokenizer, native, map, plan);
    } catch (e) {
      map.unmap();
      throw e;
    }
  }

  /** Sequences the native context holds (LoadOptions.nSeq). */
  get nSeq(): number {
    return this.native.params.nSeq ?? 1;
  }

  /** Frees the native context, then the mapping (in that order: the context points into it). */
  close(): void {
    this.native.free();
    this.map.unmap();
  }
}

/** Either kind of model kiln loads: a generative one (Model) or an embedding-only encoder (EmbeddingModel). */
export type AnyModel = Model | EmbeddingModel;

/** Whether a GGUF is an embedding-only model (an encoder architecture: bert, nomic-bert). */
export function isEmbeddingFile(file: GGUFFile): boolean {
  return isEncoderArch(kvString(file, 'general.architecture') ?? '');
}

/** Loads a GGUF as whichever kind it is: an encoder architecture as an EmbeddingModel, anything else as a Model. */
export async function loadModel(path: string, opts: LoadOptions = {}): Promise<AnyModel> {
  if (isEmbeddingFile(await readGGUFFile(path))) return EmbeddingModel.load(path, { nCtx: opts.nCtx });
  return Model.load(path, opts);
}
