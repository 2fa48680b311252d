/**
 * kiln's native kernels: CPU probe and variant choice, read-only file
 * mappings, and the GGUF quant formats (dequantize, quantize, dot products,
 * matvec). Arguments are validated in TypeScript; the binding checks bounds
 * again but trusts nothing else about its callers.
 */
export {
  cpuFeatures,
  defaultVariant,
  selectedVariant,
  setThreads,
  supportedVariants,
  threads,
  VARIANTS,
} from './cpu.js';
export type { CpuFeatures, Variant } from './cpu.js';
export { tryLockFile } from './flock.js';
export { mapFile } from './mmap.js';
export type { MappedFile } from './mmap.js';
export {
  dequantize,
  GGML_TYPE,
  hasPlainQuantizer,
  matmul,
  matvec,
  quantize,
  quantizeActivations,
  rowSize,
  typeInfo,
  typeOf,
  vecDot,
} from './quants.js';
export type { QuantType, TypeInfo } from './quants.js';
export { NativeLlama } from './llama.js';
export { NativeBert, POOLING_TYPES, type BertParams, type BertWeights, type BertLayerRefs, type PoolingType } from './bert.js';
export type { KvCacheType, LlamaParams, LlamaWeights, LlamaLayerRefs, WeightRef } from './llama.js';
