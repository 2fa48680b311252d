/**
 * Loads the compiled addon. The file sits at kernels/build/Release/kiln_kernels.node
 * under the package root; this module runs either from source (kernels/native.ts,
 * under vitest) or compiled (dist/kernels/native.js), so the root is found by
 * walking up to the first directory holding package.json.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { KilnError } from '../common/errors.js';

/** The raw binding surface. Everything here trusts its caller: index.ts validates first. */
export interface NativeBinding {
  cpuFeatures(): Record<string, boolean | string>;
  supportedVariants(): string[];
  mapFile(path: string): ArrayBuffer;
  unmap(buffer: ArrayBuffer): void;
  releasePages(buffer: ArrayBuffer, offset: number, length: number): void;
  typeTable(): NativeTypeRow[];
  dequantize(type: number, src: Uint8Array, n: number, dst: Float32Array): void;
  quantize(type: number, src: Float32Array, nrows: number, ncols: number, dst: Uint8Array, imp: Float32Array | null, plain?: boolean): void;
  quantizeActivations(type: number, src: Float32Array, n: number, dst: Uint8Array, variant: number): void;
  vecDot(type: number, row: Uint8Array, act: Float32Array, n: number, variant: number): number;
  matmul(type: number, w: Uint8Array, rows: number, cols: number, x: Float32Array, n: number, out: Float32Array, variant: number): void;
  memRead(buf: Uint8Array): number;
  attention(q: Float32Array, k: Uint8Array, v: Uint8Array, stride: number, nKv: number, headDim: number, scale: number, kvF16: number, out: Float32Array, variant: number, softcap?: number): void;
  attentionBatch(q: Float32Array, nKv: Int32Array, k: Uint8Array, v: Uint8Array, stride: number, headDim: number, scale: number, kvF16: number, out: Float32Array, variant: number, softcap?: number, kv0?: Int32Array | null): void;
  siluMul(g: Float32Array, u: Float32Array, out: Float32Array, variant: number): void;
  rmsnorm(x: Float32Array, w: Float32Array, eps: number, out: Float32Array, variant: number): void;
  setThreads(n: number): void;
  threads(): number;
  matvec(type: number, w: Uint8Array, rows: number, cols: number, x: Float32Array, out: Float32Array, variant: number): void;
  llamaNew(params: NativeLlamaParams, weights: Float64Array, buffer: ArrayBuffer): LlamaHandle;
  llamaEval(h: LlamaHandle, tokens: Int32Array, pos0: number, logits: Float32Array | null, allLogits: number): void;
  llamaDecode(h: LlamaHandle, tokens: Int32Array, pos: Int32Array, seq: Int32Array, out: Int32Array, logits: Float32Array | null): void;
  llamaTruncate(h: LlamaHandle, pos: number, seq: number): void;
  llamaSeqLen(h: LlamaHandle, seq: number): number;
  llamaKvSave(h: LlamaHandle, seq: number, pos0: number, n: number): ArrayBuffer;
  llamaKvLoad(h: LlamaHandle, seq: number, pos0: number, n: number, bytes: Uint8Array): void;
  llamaShift(h: LlamaHandle, keep: number, discard: number, seq: number): number;
  llamaHidden(h: LlamaHandle, out: Float32Array): number;
  llamaFree(h: LlamaHandle): void;
  llamaObserve(h: LlamaHandle, on: boolean): void;
  llamaImatrix(h: LlamaHandle): Float64Array[];
  tryLockFile(fd: number): boolean;
  bertNew(params: NativeBertParams, weights: Float64Array, buffer: ArrayBuffer): BertHandle;
  bertOutSize(h: BertHandle, nTokens: number): number;
  bertEval(h: BertHandle, tokens: Int32Array, out: Float32Array): number;
  bertFree(h: BertHandle): void;
  llamaGpu(h: LlamaHandle): { layers: number; deviceBytes: number; output: boolean };
  llamaRouteTrace(h: LlamaHandle, on: boolean): void;
  llamaRoutes(h: LlamaHandle): { experts: Int32Array; margins: Float32Array };
  vulkanInfo(): VulkanInfo;
  vulkanMatmul(type: number, w: Uint8Array, rows: number, cols: number, x: Float32Array, n: number, bias: Float32Array | null, out: Float32Array): void;
  vulkanRmsnorm(x: Float32Array, w: Float32Array, dim: number, rows: number, eps: number, out: Float32Array): void;
  vulkanRope(v: Float32Array, cs: Float32Array, n: number, heads: number, headDim: number, nRot: number, neox: boolean): void;
  vulkanSiluMul(g: Float32Array, u: Float32Array): void;
  vulkanGeluMul(g: Float32Array, u: Float32Array): void;
  vulkanAdd(x: Float32Array, y: Float32Array): void;
  vulkanAttn(q: Float32Array, k: Float32Array, v: Float32Array, kc0: Uint8Array, vc0: Uint8Array, n: number, nHead: number, nHeadKv: number, headDim: number, pos0: number, scale: number, out: Float32Array, softcap: number, window: number): void;
}

/** One Vulkan device as the backend sees it (kernels/src/vulkan/device.cpp). */
export interface VulkanDevice {
  index: number;
  name: string;
  type: 'discrete' | 'integrated' | 'virtual' | 'cpu' | 'other';
  vendorId: number;
  deviceId: number;
  /** The largest device-local heap. */
  memoryBytes: number;
  storage16: boolean;
  storage8: boolean;
  float16: boolean;
  int8: boolean;
  integerDot: boolean;
  cooperativeMatrix: boolean;
  memoryBudget: boolean;
  subgroupSize: number;
  subgroupArithmetic: boolean;
  sharedMemoryBytes: number;
  maxStorageBufferRange: number;
}

/** The backend's state: built into the addon, a loader and devices found, the one offload would use (-1: none, reason says why). */
export interface VulkanInfo {
  built: boolean;
  available: boolean;
  selected: number;
  reason: string;
  devices: VulkanDevice[];
}

/** What the KV cache holds: f32 rows, or f16 rows (attention then sums as llama.cpp's CPU flash attention does). */
export type KvCacheType = 'f32' | 'f16';

/**
 * llamaNew's named parameters, read field by field into the C++
 * kiln_llama_params (kernels/binding/llama_binding.cc): a field of the wrong
 * type is a TypeError, one out of range a RangeError, each naming the field.
 */
export interface NativeLlamaParams {
  nVocab: number;
  nEmbd: number;
  nLayer: number;
  nHead: number;
  nHeadKv: number;
  nFf: number;
  headDim: number;
  nRot: number;
  ropeNeox: boolean;
  ropeBase: number;
  ropeFreqScale: number;
  rmsEps: number;
  nCtx: number;
  kvCache: KvCacheType;
  /** Index into VARIANTS (kernels/cpu.ts). */
  variant: number;
  /** Multiplies RoPE's cos and sin (llama.cpp's attn_factor, `{arch}.rope.scaling.attn_factor`); 1 for most models. */
  ropeAttnFactor: number;
  // gemma2 / gemma3 (all optional; absent or 0 means off, the llama path)
  /** Token embeddings are multiplied by this (gemma: √nEmbd). */
  embdScale?: number;
  /** The FFN is GELU(gate) · up (ggml's GEGLU) instead of SiLU(gate) · up. */
  ffnGelu?: boolean;
  /** q is multiplied by this after RoPE and attention is then unscaled (0: 1/√headDim). */
  attnQScale?: number;
  /** Attention logit soft-capping: scores = cap · tanh(scores / cap). */
  attnSoftcap?: number;
  /** Final logit soft-capping. */
  finalSoftcap?: number;
  /** Sliding window: on the SWA layers a query at p sees positions (p − nSwa, p]. */
  nSwa?: number;
  /** Layer l is SWA when l % swaPattern < swaPattern − 1 (every layer when 0), as llama.cpp decides. */
  swaPattern?: number;
  /** RoPE base and frequency scale of the SWA layers (default: the global ones). */
  ropeBaseSwa?: number;
  ropeFreqScaleSwa?: number;
  /** Attention over the f16 cache as llama.cpp computes it without flash attention (node-llama-cpp's choice for gemma2). */
  attnUnfused?: boolean;
  /** Sequences, each with its own KV cache region of nCtx positions (default 1); see NativeLlama.decode. */
  nSeq?: number;
  /** The last this many layers run on the Vulkan device when one is chosen (kernels/src/vulkan/offload.h); 0 or absent: none. */
  nGpuLayers?: number;
  /**
   * Element types of the cached keys and values when not kvCache's (only with kvCache 'f16'): a block
   * type (q8_0, q4_0) is read directly by attention as llama.cpp's flash attention reads it, and keeps
   * every layer on the CPU.
   */
  kvTypeK?: 'f16' | 'q8_0' | 'q4_0';
  kvTypeV?: 'f16' | 'q8_0' | 'q4_0';
  /** With nGpuLayers: the final norm and output projection on the device too. */
  gpuOutput?: boolean;
  // mixture of experts (all optional; absent: no experts)
  /** Experts per MoE layer, and how many each token uses (the top k of the router). */
  nExpert?: number;
  nExpertUsed?: number;
  /** An expert's FFN width, and the shared expert's (0: none). */
  nFfExp?: number;
  nFfShexp?: number;
  /** 0: softmax over all experts; 1: sigmoid of each; 2: softmax over the chosen experts' logits (gpt-oss). */
  expertGating?: number;
  /** The chosen experts' weights are divided by their sum. */
  expertWeightsNorm?: boolean;
  /** The weights are multiplied by this (0 or 1: not). */
  expertWeightsScale?: number;
  // gpt-oss (all optional; absent or 0: off)
  /** The experts' activation is ggml's clamped swiglu_oai with this alpha (1.702) and limit (7). */
  swigluOaiAlpha?: number;
  swigluOaiLimit?: number;
  /** YaRN RoPE: llama.cpp's ext_factor (1 for rope scaling type yarn), its beta_fast/beta_slow (32/1) and the original context. */
  yarnExtFactor?: number;
  yarnBetaFast?: number;
  yarnBetaSlow?: number;
  yarnOrigCtx?: number;
}

/**
 * bertNew's named parameters, read into the C++ kiln_bert_params
 * (kernels/binding/bert_binding.cc), each checked there.
 */
export interface NativeBertParams {
  nVocab: number;
  nEmbd: number;
  nLayer: number;
  nHead: number;
  nHeadKv: number;
  nFf: number;
  headDim: number;
  /** Rotated dimensions per head (0 without rotary positions). */
  nRot: number;
  /** 0: absolute position embeddings (bert); 1: NEOX rotary (nomic-bert). */
  rope: 0 | 1;
  ropeBase: number;
  ropeFreqScale: number;
  /** LayerNorm epsilon. */
  normEps: number;
  /** Most tokens one input may have. */
  nCtx: number;
  /** llama.cpp's pooling enum: 0 none, 1 mean, 2 cls, 3 last, 4 rank. */
  pooling: number;
  variant: number;
}

/** An opaque native encoder (weights in a mapped file, scratch). */
export type BertHandle = { readonly __bert: unique symbol };

/** An opaque native model context (weights in a mapped file, KV cache, scratch). */
export type LlamaHandle = { readonly __llama: unique symbol };

export interface NativeTypeRow {
  id: number;
  name: string;
  blockSize: number;
  typeSize: number;
  vecDotType: number;
  hasVecDot: boolean;
  hasQuantize: boolean;
}

const ADDON = join('kernels', 'build', 'Release', 'kiln_kernels.node');

export function findPackageRoot(from: string): string {
  let dir = from;
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new KilnError('E_NATIVE', `no package.json above ${from}`);
    dir = up;
  }
}

let cached: NativeBinding | undefined;

export function native(): NativeBinding {
  if (cached !== undefined) return cached;
  const root = findPackageRoot(dirname(fileURLToPath(import.meta.url)));
  const file = join(root, ADDON);
  if (!existsSync(file)) {
    throw new KilnError('E_NATIVE', `native kernels not built: ${file} is missing (run npm run build:native)`);
  }
  try {
    cached = createRequire(import.meta.url)(file) as NativeBinding;
  } catch (e) {
    throw new KilnError('E_NATIVE', `cannot load ${file}: ${(e as Error).message}`, { cause: e });
  }
  return cached;
}

/** Runs a native call, turning its errors into KilnError('E_NATIVE'). */
export function call<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof KilnError) throw e;
    throw new KilnError('E_NATIVE', e instanceof Error ? e.message : String(e), { cause: e });
  }
}
