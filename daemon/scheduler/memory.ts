import { readFileSync } from 'node:fs';
import { freemem } from 'node:os';
import { KilnError } from '../../engine/errors.js';

/** The shape numbers the estimate needs (from the GGUF header). */
export interface ModelShape {
  nLayer: number;
  nEmbd: number;
  nHead: number;
  nHeadKv: number;
  headDim: number;
  nFf: number;
  nVocab: number;
}

export interface MemoryEstimate {
  weights: number;
  kvCache: number;
  compute: number;
  total: number;
}

/** Tokens per forward call when evaluating a prompt: sizes the activation scratch. */
export const PROMPT_BATCH = 512;
/** A runner is a whole Node process: its heap and code before any model. */
const PROCESS_OVERHEAD = 64 * 1024 * 1024;

/**
 * Memory a runner needs: the weights file (mapped: the pages come out of the
 * same free memory, even if they can be dropped again), one f16 (or f32) KV
 * cache of numCtx positions per slot, and per slot the forward pass's scratch
 * for a batch of PROMPT_BATCH tokens (the vectors kernels/src/llama/forward.cpp
 * resizes) plus one row of logits and the attention scores.
 */
export function estimateMemory(shape: ModelShape, fileSize: number, numCtx: number, slots: number, kvF16 = true): MemoryEstimate {
  const kvDim = shape.nHeadKv * shape.headDim;
  const qDim = shape.nHead * shape.headDim;
  const kvCache = 2 * shape.nLayer * numCtx * kvDim * (kvF16 ? 2 : 4) * slots;
  const perToken = 3 * shape.nEmbd + 2 * qDim + 2 * kvDim + 2 * shape.nFf + Math.max(shape.nEmbd, qDim);
  const scratch = PROMPT_BATCH * perToken * 4 + PROMPT_BATCH * shape.nFf * 1.25 + shape.nVocab * 4 + numCtx * 4;
  const compute = slots * Math.ceil(scratch) + PROCESS_OVERHEAD;
  return { weights: fileSize, kvCache, compute, total: fileSize + kvCache + compute };
}

/** Memory the kernel could give a new process now: MemAvailable (page cache counts as free), else os.freemem(). */
export function availableMemory(): number {
  try {
    const m = /^MemAvailable:\s+(\d+)\s+kB$/m.exec(readFileSync('/proc/meminfo', 'utf8'));
    if (m) return Number(m[1]) * 1024;
  } catch {
    // not Linux
  }
  return freemem();
}

export function formatGiB(bytes: number): string {
  const gib = bytes / 1024 ** 3;
  return gib >= 1 ? `${gib.toFixed(1)} GiB` : `${(bytes / 1024 ** 2).toFixed(1)} MiB`;
}

export function insufficientMemory(name: string, need: MemoryEstimate, free: number): KilnError {
  return new KilnError(
    'E_INSUFFICIENT_MEMORY',
    `model '${name}' requires more system memory (${formatGiB(need.total)}: ${formatGiB(need.weights)} weights, ${formatGiB(need.kvCache)} KV cache, ${formatGiB(need.compute)} compute) than is available (${formatGiB(free)}); try a smaller num_ctx or a smaller quantization`,
  );
}
