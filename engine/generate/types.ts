/**
 * The contract between the engine and its callers (the daemon's runner, the
 * library API). Option names are Ollama's, so a request's `options` object
 * passes straight through.
 */
import type { SamplerOptions } from '../sampler/options.js';

export interface GenerateOptions extends SamplerOptions {
  /**
   * Most tokens to generate. -1 (default): until an end-of-generation token,
   * a stop string or a full context; -2: fill the context. kiln does not
   * shift the context, so both end with doneReason 'length' when it fills.
   */
  num_predict?: number;
  /** Stop strings: generation ends at the first one, which is not emitted (nor any text after it). */
  stop?: string[];
  /**
   * Context length for this call, at most the one the model was loaded with
   * (a larger value is clamped; the runner reloads the model to grow it).
   */
  num_ctx?: number;
  /** Aborting ends generation between tokens with doneReason 'cancel'. */
  signal?: AbortSignal;
  /**
   * Output constraint (grammar, JSON mode): called with each step's logits
   * (vocabulary-sized) before sampling; set forbidden tokens to -Infinity.
   */
  mask?: (ids: Float32Array /* logits */) => void;
}

export interface GenerateChunk {
  /** Text to show: complete UTF-8 characters, with any stop string and what follows it removed. */
  text: string;
  /** The tokens whose text this chunk completes (a token held back with its text travels with the next chunk). */
  tokens: number[];
}

export interface GenerateStats {
  doneReason: 'stop' | 'length' | 'cancel';
  /** Tokens in the prompt (all of them, as Ollama reports it, including a prefix reused from the cache). */
  promptEvalCount: number;
  /** Time spent evaluating the part of the prompt that was not cached. */
  promptEvalDurationNs: number;
  /** Tokens sampled, the end-of-generation token included. */
  evalCount: number;
  /** Time from the end of the prompt evaluation to the end of generation. */
  evalDurationNs: number;
  /**
   * The prompt plus the generated tokens that were emitted (no end-of-generation
   * token, no stop-string tokens): Ollama's `context`, to continue from.
   */
  context: number[];
}

export type Pooling = 'mean' | 'last';
