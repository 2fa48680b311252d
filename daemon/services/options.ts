import { KilnError } from '../../common/errors.js';
import type { Options } from '../api/types.js';
import type { SamplingOptions } from '../runner/protocol.js';
import { KV_F16, kvTypesOf, type KvTypes } from '../../common/kv-cache.js';

const NUMERIC = [
  'temperature', 'top_k', 'top_p', 'min_p', 'typical_p', 'repeat_penalty', 'repeat_last_n',
  'presence_penalty', 'frequency_penalty', 'seed', 'num_predict', 'num_keep',
] as const satisfies readonly (keyof SamplingOptions)[];

/** Tokens one answer may have, in contexts (Ollama's limit on endless generation). */
export const MAX_CONTEXTS_PER_ANSWER = 10;

export interface RunOptions {
  sampling: SamplingOptions;
  /** Context length to load the model with. */
  numCtx: number;
  /** num_gpu: layers on the GPU (0 none); absent: as many as the device takes. */
  numGpu?: number;
  /** KV cache types of keys and values (kv_cache_type, _k, _v; default KILN_KV_CACHE_TYPE...). */
  kvTypes: KvTypes;
  /** num_thread: the runner's native threads; absent: one per physical core (a different value reloads the runner, as Ollama does). */
  numThread?: number;
}

function numberOf(key: string, v: unknown): number {
  const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isFinite(n)) throw new KilnError('E_BAD_REQUEST', `option ${key}: ${JSON.stringify(v)} is not a number`);
  return n;
}

function stopsOf(v: unknown): string[] {
  const list = typeof v === 'string' ? [v] : v;
  if (!Array.isArray(list) || list.some((s) => typeof s !== 'string')) throw new KilnError('E_BAD_REQUEST', 'option stop: expected a string or an array of strings');
  return list as string[];
}

/**
 * The options of one request: the model's PARAMETERs overlaid with the
 * request's `options`, as Ollama merges them. The context length is the
 * request's or the model's num_ctx; without either, KILN_CONTEXT_LENGTH
 * capped at the length the model was trained for (an explicit num_ctx
 * above it is honoured: the caller asked for it).
 */
export function runOptions(modelParams: Record<string, unknown>, request: Options | undefined, defaults: { contextLength: number; trainCtx: number; kvCache?: KvTypes }): RunOptions {
  if (request !== undefined && (typeof request !== 'object' || request === null || Array.isArray(request))) {
    throw new KilnError('E_BAD_REQUEST', 'options must be an object');
  }
  const merged: Record<string, unknown> = { ...modelParams, ...(request ?? {}) };
  const sampling: SamplingOptions = {};
  for (const k of NUMERIC) {
    if (merged[k] === undefined || merged[k] === null) continue;
    sampling[k] = numberOf(k, merged[k]);
  }
  if (merged.stop !== undefined && merged.stop !== null) sampling.stop = stopsOf(merged.stop);
  let numCtx = Math.min(defaults.contextLength, defaults.trainCtx);
  if (merged.num_ctx !== undefined && merged.num_ctx !== null) {
    numCtx = numberOf('num_ctx', merged.num_ctx);
    if (!Number.isInteger(numCtx) || numCtx < 1 || numCtx > 1 << 20) throw new KilnError('E_BAD_REQUEST', `option num_ctx: ${numCtx} is not an integer in [1, 1048576]`);
  }
  // As Ollama: at most ten contexts' worth of tokens per answer, so a model
  // that never says it is done cannot shift the context forever (-2, "fill
  // the context", stops at the first full context anyway).
  const most = MAX_CONTEXTS_PER_ANSWER * numCtx;
  const predict = sampling.num_predict ?? -1;
  if (predict !== -2 && (predict < 0 || predict > most)) sampling.num_predict = most;
  let numGpu: number | undefined;
  if (merged.num_gpu !== undefined && merged.num_gpu !== null) {
    numGpu = numberOf('num_gpu', merged.num_gpu);
    if (!Number.isInteger(numGpu) || numGpu < -1 || numGpu > 4096) throw new KilnError('E_BAD_REQUEST', `option num_gpu: ${numGpu} is not an integer in [-1, 4096]`);
    if (numGpu === -1) numGpu = undefined; // Ollama's -1: decide automatically
  }
  let numThread: number | undefined;
  if (merged.num_thread !== undefined && merged.num_thread !== null) {
    numThread = numberOf('num_thread', merged.num_thread);
    if (!Number.isInteger(numThread) || numThread < 0 || numThread > 1024) throw new KilnError('E_BAD_REQUEST', `option num_thread: ${numThread} is not an integer in [0, 1024]`);
    if (numThread === 0) numThread = undefined; // Ollama's 0: the runtime decides
  }
  const kvTypes = kvTypesOf(merged, defaults.kvCache ?? KV_F16);
  return { sampling, numCtx, kvTypes, ...(numGpu === undefined ? {} : { numGpu }), ...(numThread === undefined ? {} : { numThread }) };
}
