/**
 * The daemon ↔ runner protocol: messages over the child's Node IPC channel
 * (`serialization: 'advanced'`, so typed arrays travel as they are). The
 * daemon sends one `load` first; the runner answers `loaded` or `load-failed`
 * and then serves requests, each tagged with the daemon's request id, on a
 * numbered slot (one KV cache each). Requests on one slot run one after the
 * other; different slots interleave token by token.
 */
import type { SamplerOptions } from '../../engine/sampler/options.js';

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
  /** Native thread count (0: the kernels' default, every hardware thread). */
  threads: number;
  /** num_gpu: layers on the Vulkan device; absent: all of them when a device is chosen (kernels/vulkan.ts). */
  numGpu?: number;
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

export interface CancelMsg {
  t: 'cancel';
  id: number;
}

export interface HealthMsg {
  t: 'health';
  id: number;
}

export type ToRunner = LoadMsg | GenerateMsg | EmbedMsg | CancelMsg | HealthMsg;

export interface RunnerStats {
  doneReason: 'stop' | 'length' | 'cancel';
  /** The stop string that ended the answer, when one did. */
  stopSequence?: string;
  promptEvalCount: number;
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
  | { t: 'loaded'; nCtx: number; loadDurationNs: number; gpuLayers?: number; gpuAll?: boolean; vramBytes?: number; gpuPlanBytes?: number; gpu?: string }
  | { t: 'load-failed'; code: string; message: string }
  | { t: 'chunk'; id: number; text: string; tokens: number[] }
  | { t: 'done'; id: number; stats: RunnerStats }
  | { t: 'embedded'; id: number; embeddings: Float32Array[]; promptEvalCount: number }
  | { t: 'error'; id: number; code: string; message: string }
  | { t: 'health'; id: number; busySlots: number[]; rss: number };
