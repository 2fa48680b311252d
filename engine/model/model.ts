import { readGGUFFile, type GGUFFile } from '../gguf/reader.js';
import { Tokenizer } from '../tokenizer/index.js';
import { mapFile, NativeLlama, type MappedFile } from '../../kernels/index.js';
import { explicitGpuPlan, layerDeviceBytes, outputDeviceBytes, planGpuLayers, type GpuPlan } from './gpu-fit.js';
import { llamaLayout, type ModelHParams } from './hparams.js';
import { isEncoderArch } from './bert.js';
import { EmbeddingModel } from './embedding.js';
import { KilnError } from '../../common/errors.js';
import { kvString } from '../gguf/metadata.js';
import { KV_F16, isQuantized, kvTypeBytes, type KvCacheType, type KvTypes } from '../../common/kv-cache.js';

export interface LoadOptions {
  /** Context length (KV cache size); default: the model's trained context. */
  nCtx?: number;
  /** KV cache in f16 (default, as llama.cpp) or f32. */
  kvF16?: boolean;
  /**
   * Key and value types (default f16 both). A quantized type keeps every layer on the CPU (the
   * Vulkan path holds an f16 cache), and a model whose attention is not flash attention's
   * (gemma2, as llama.cpp runs it) keeps f16: `Model.kvTypes` says what was used.
   */
  kvTypes?: KvTypes;
  /** Sequences served at once, each with its own KV cache of nCtx positions (default 1). */
  nSeq?: number;
  /** Layers to run on the GPU (Ollama's num_gpu; the last ones): 0 or absent none, more than the model has: all. */
  numGpu?: number | 'auto';
  /** With numGpu 'auto': the device bytes this model may take (gpu-fit.ts picks the layers). */
  gpuMemory?: number;
}

/**
 * The cache types a load gets: those asked for, except f16 where a quantized
 * cache cannot be: an f32 cache, attention without flash attention (llama.cpp
 * refuses a quantized V there and so would give no reference), or heads that
 * are not a whole number of 32-value blocks.
 */
function kvTypesFor(hp: ModelHParams, opts: LoadOptions): KvTypes {
  const kv = opts.kvTypes ?? KV_F16;
  if (!isQuantized(kv) || opts.kvF16 === false || hp.attnUnfused || hp.headDim % 32 !== 0) return KV_F16;
  return kv;
}

/**
 * Drops the runner's pages of the weights the device now holds: the offloaded
 * layers' tensors and, when it went too, an untied output projection (a tied
 * one is also the token embeddings, which the CPU reads). The upload read them
 * once through the mapping; nothing on the CPU reads them again, so keeping
 * them mapped would count them twice, in RAM and on the device. The file's
 * pages stay in the page cache (reclaimable), and a read faults them back in.
 */
function releaseOffloaded(map: MappedFile, file: GGUFFile, nLayer: number, gpu: { layers: number; output: boolean }): void {
  if (gpu.layers <= 0) return;
  const first = nLayer - gpu.layers;
  for (const t of file.tensors) {
    const m = /^blk\.(\d+)\./.exec(t.name);
    if ((m && Number(m[1]) >= first) || (gpu.output && t.name === 'output.weight')) map.releasePages(t.absOffset, t.byteSize);
  }
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
      const kv = kvTypesFor(hp, opts);
      // the device holds every sequence's cache of its layers; a quantized KV cache keeps every layer on the CPU (the device keeps f16)
      const perLayer = layerDeviceBytes(file, hp, nSeq);
      const outBytes = outputDeviceBytes(file);
      const plan: GpuPlan = isQuantized(kv)
        ? { layers: 0, bytes: 0, output: false }
        : opts.numGpu === 'auto'
          ? planGpuLayers(perLayer, opts.gpuMemory ?? 0, hp.nLayer, outBytes)
          : explicitGpuPlan(perLayer, opts.numGpu ?? 0, outBytes);
      const params = {
        ...hp,
        ...(nSeq > 1 ? { nSeq } : {}),
        ...(plan.layers ? { nGpuLayers: plan.layers } : {}),
        ...(isQuantized(kv) ? { kvTypeK: kv.k, kvTypeV: kv.v } : {}),
        ...(plan.output ? { gpuOutput: true } : {}),
      };
      const native = new NativeLlama(map, params, weights);
      if (plan.layers > 0) releaseOffloaded(map, file, hp.nLayer, native.gpu());
      return new Model(path, file, hp, tokenizer, native, map, plan);
    } catch (e) {
      map.unmap();
      throw e;
    }
  }

  /** The KV cache's key and value types ('f32' both for an f32 cache). */
  get kvTypes(): { k: KvCacheType | 'f32'; v: KvCacheType | 'f32' } {
    const p = this.native.params;
    if (p.kvCache === 'f32') return { k: 'f32', v: 'f32' };
    return { k: p.kvTypeK ?? 'f16', v: p.kvTypeV ?? 'f16' };
  }

  /** Bytes of one position's key row and value row in one layer of the cache. */
  get kvRowBytes(): { k: number; v: number } {
    const kvDim = this.hp.nHeadKv * this.hp.headDim;
    const t = this.kvTypes;
    return { k: kvTypeBytes(t.k, kvDim), v: kvTypeBytes(t.v, kvDim) };
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
