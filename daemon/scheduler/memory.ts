import { readFileSync } from 'node:fs';
import { freemem } from 'node:os';
import { join } from 'node:path';
import { KilnError } from '../../common/errors.js';
import { KV_F16, kvTypeBytes, type KvTypes } from '../../common/kv-cache.js';

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
/**
 * A runner is a whole Node process: its heap (the runner's modules, the
 * tokenizer's tables) and the pages of Node's own code it touches, before any
 * weights. Measured as a loaded runner's RSS less the model's (about 100 MiB
 * on Linux x64, Node 22; test/fit-measured.test.ts holds the estimate to it).
 */
export const PROCESS_OVERHEAD = 104 * 1024 * 1024;

/**
 * Memory a runner needs: the weights file (mapped: the pages come out of the
 * same free memory, even if they can be dropped again), one f16 (or f32) KV
 * cache region of numCtx positions per slot, and the forward pass's scratch
 * (one native context serves every slot, batched) for a batch of PROMPT_BATCH
 * tokens plus a token per other slot (the vectors
 * kernels/src/llama/forward.cpp resizes), a row of logits per slot and the
 * attention scores.
 */
export function estimateMemory(shape: ModelShape, fileSize: number, numCtx: number, slots: number, kvTypes: KvTypes = KV_F16): MemoryEstimate {
  const kvDim = shape.nHeadKv * shape.headDim;
  const qDim = shape.nHead * shape.headDim;
  // rows of kvDim values per layer and position: f16 2 bytes a value, q8_0 34 and q4_0 18 bytes per 32
  const kvCache = shape.nLayer * numCtx * (kvTypeBytes(kvTypes.k, kvDim) + kvTypeBytes(kvTypes.v, kvDim)) * slots;
  const perToken = 3 * shape.nEmbd + 2 * qDim + 2 * kvDim + 2 * shape.nFf + Math.max(shape.nEmbd, qDim);
  const batch = PROMPT_BATCH + slots - 1;
  const scratch = batch * perToken * 4 + batch * shape.nFf * 1.25 + slots * shape.nVocab * 4 + numCtx * 4;
  const compute = Math.ceil(scratch) + PROCESS_OVERHEAD;
  return { weights: fileSize, kvCache, compute, total: fileSize + kvCache + compute };
}

/** A cgroup's memory limit file: a byte count, or undefined for "max" / unreadable. */
function cgroupNumber(path: string): number | undefined {
  try {
    const t = readFileSync(path, 'utf8').trim();
    const n = Number(t);
    return /^\d+$/.test(t) && Number.isSafeInteger(n) ? n : undefined;
  } catch {
    return undefined;
  }
}

/** A counter of a cgroup's memory.stat (0 when absent). */
function statField(dir: string, key: string): number {
  try {
    const m = new RegExp(`^${key} (\\d+)$`, 'm').exec(readFileSync(join(dir, 'memory.stat'), 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/**
 * What the cgroup kiln runs in (a container, a systemd slice) still lets it
 * take: limit - usage + inactive page cache (reclaimable, as `docker stats`
 * counts it), cgroup v2 or v1; undefined when there is no limit.
 */
export function cgroupAvailable(root = '/sys/fs/cgroup'): number | undefined {
  let v2 = '';
  let v1 = '';
  try {
    const self = readFileSync('/proc/self/cgroup', 'utf8');
    v2 = /^0::(.*)$/m.exec(self)?.[1] ?? ''; // "0::/path"
    v1 = /^\d+:(?:[^:]*,)?memory(?:,[^:]*)?:(.*)$/m.exec(self)?.[1] ?? ''; // "4:memory:/path"
  } catch {
    // not Linux
  }
  for (const dir of [join(root, v2), root]) {
    const max = cgroupNumber(join(dir, 'memory.max'));
    const cur = cgroupNumber(join(dir, 'memory.current'));
    if (max !== undefined && cur !== undefined) return Math.max(0, max - cur + statField(dir, 'inactive_file'));
  }
  for (const dir of [join(root, 'memory', v1), join(root, 'memory')]) {
    const limit = cgroupNumber(join(dir, 'memory.limit_in_bytes'));
    const usage = cgroupNumber(join(dir, 'memory.usage_in_bytes'));
    // v1 says "no limit" with a huge number (2^63 rounded down to pages)
    if (limit !== undefined && usage !== undefined) return limit < 2 ** 60 ? Math.max(0, limit - usage + statField(dir, 'total_inactive_file')) : undefined;
  }
  return undefined;
}

/**
 * Memory the kernel could give a new process now: MemAvailable (page cache
 * counts as free), else os.freemem(), and no more than the cgroup allows.
 */
export function availableMemory(): number {
  let free = freemem();
  try {
    const m = /^MemAvailable:\s+(\d+)\s+kB$/m.exec(readFileSync('/proc/meminfo', 'utf8'));
    if (m) free = Number(m[1]) * 1024;
  } catch {
    // not Linux
  }
  const cg = cgroupAvailable();
  return cg === undefined ? free : Math.min(free, cg);
}

export function formatGiB(bytes: number): string {
  const gib = bytes / 1024 ** 3;
  return gib >= 1 ? `${gib.toFixed(1)} GiB` : `${(bytes / 1024 ** 2).toFixed(1)} MiB`;
}

/** The refusal of a load: the system memory figures, then each device's (`devices`: what the GPU's plan says, when there is one). */
export function insufficientMemory(name: string, need: MemoryEstimate, free: number, devices?: string): KilnError {
  return new KilnError(
    'E_INSUFFICIENT_MEMORY',
    `model '${name}' requires more system memory (${formatGiB(need.total)}: ${formatGiB(need.weights)} weights, ${formatGiB(need.kvCache)} KV cache, ${formatGiB(need.compute)} compute) than is available (${formatGiB(free)})${devices ? `; ${devices}` : ''}; try a smaller num_ctx or a smaller quantization`,
  );
}
