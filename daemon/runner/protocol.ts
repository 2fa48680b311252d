/**
 * The daemon ↔ runner protocol: messages over the child's Node IPC channel
 * (`serialization: 'advanced'`, so typed arrays travel as they are). The
 * daemon sends one `load` first; the runner answers `loaded` or `load-failed`
 * and then serves requests, each tagged with the daemon's request id, on a
 * numbered slot (one KV cache region each). Requests on one slot run one
 * after the other; the active slots advance together, one batched forward
 * pass per token.
 */
import type { SamplerOptions } from '../../engine/sampler/options.js';
import type { ToolCallGrammarSpec } from '../../engine/grammar/tool-call.js';
import type { TokenLogprob } from '../api/types.js';
import type { KvTypes } from '../../common/kv-cache.js';

/** Sampling and stopping options the runner passes to the engine (GenerateOptions without the hooks). */
export interface SamplingOptions extends SamplerOptions {
  num_predict?: number;
  stop?: string[];
  num_keep?: number;
}

export interface LoadMsg {
  t: 'load';
  path: string;
  numCtx: number;
  /** KV caches (parallel requests) to allocate. */
  slots: number;
  kvF16: boolean;
  /** KV cache types of keys and values (absent: f16 or f32 as kvF16 says). */
  kvTypes?: KvTypes;
  /** Native thread count (0: the kernels' default, every hardware thread). */
  threads: number;
  /** Bytes the prompt cache may hold (0: none). */
  promptCacheBytes: number;
  /** Prompt cache entries of an earlier runner of the same model and context (see ParkMsg). */
  promptCache?: ParkedEntry[];
  /** num_gpu: layers on the Vulkan device; absent: all of them when a device is chosen (kernels/vulkan.ts). */
  numGpu?: number;
}

/** A prompt cache entry in transit: tokens and their KV rows (engine/generate/prompt-cache.ts). */
export interface ParkedEntry {
  tokens: number[];
  bytes: Uint8Array;
}

/** Before the daemon stops a runner: it answers `parked` with its prompt cache's entries. */
export interface ParkMsg {
  t: 'park';
  id: number;
}

export interface GenerateMsg {
  t: 'generate';
  id: number;
  slot: number;
  /** Rendered prompt text; control tokens spelled in it (`<|eot_id|>`) are parsed. */
  prompt: string;
  /** Tokens of an earlier exchange (/api/generate `context`) that the prompt continues. */
  context?: number[];
  options: SamplingOptions;
  /** `format` of the request ("json" or a JSON schema): constrains sampling. */
  format?: unknown;
  /** tool_choice "required" or a named tool: the answer is tool calls (wins over `format`). */
  toolCalls?: ToolCallGrammarSpec;
  /** Log-probabilities of the generated tokens: absent for none, else how many top tokens to list with each. */
  logprobs?: number;
  /** Shift the context when it fills instead of ending with "length". */
  shift: boolean;
}

export interface EmbedMsg {
  t: 'embed';
  id: number;
  slot: number;
  inputs: string[];
  /** Cut inputs longer than the context instead of failing. */
  truncate: boolean;
}

/** A reranker scores (query, document) pairs, each written as llama.cpp's server writes it. */
export interface RankMsg {
  t: 'rank';
  id: number;
  slot: number;
  query: string;
  documents: string[];
  /** Cut pairs longer than the context instead of failing. */
  truncate: boolean;
}

export interface CancelMsg {
  t: 'cancel';
  id: number;
}

export interface HealthMsg {
  t: 'health';
  id: number;
}

export type ToRunner = LoadMsg | GenerateMsg | EmbedMsg | RankMsg | CancelMsg | HealthMsg | ParkMsg;

export interface RunnerStats {
  doneReason: 'stop' | 'length' | 'cancel';
  /** The stop string that ended the answer, when one did. */
  stopSequence?: string;
  /** Prompt tokens evaluated (after the cached prefix). */
  promptEvalCount: number;
  /** Prompt tokens taken from the cache (absent when none). */
  promptCachedCount?: number;
  promptEvalDurationNs: number;
  evalCount: number;
  evalDurationNs: number;
  /** Prompt plus generated tokens, for the next request's `context`. */
  context: number[];
  /** Prompt tokens dropped to fit the context window. */
  truncated: number;
  /** Context shifts while generating (absent when none). */
  shifts?: number;
}

export type FromRunner =
  | { t: 'loaded'; nCtx: number; loadDurationNs: number; threads?: number; gpuLayers?: number; gpuAll?: boolean; vramBytes?: number; gpuPlanBytes?: number; gpu?: string; kvTypes?: { k: string; v: string } }
  | { t: 'load-failed'; code: string; message: string }
  | { t: 'chunk'; id: number; text: string; tokens: number[]; logprobs?: TokenLogprob[] }
  | { t: 'done'; id: number; stats: RunnerStats }
  | { t: 'embedded'; id: number; embeddings: Float32Array[]; promptEvalCount: number }
  | { t: 'ranked'; id: number; scores: number[]; promptEvalCount: number }
  | { t: 'error'; id: number; code: string; message: string }
  | { t: 'health'; id: number; busySlots: number[]; rss: number }
  | { t: 'parked'; id: number; entries: ParkedEntry[] };
