/**
 * The contract between the engine and its callers (the daemon's runner, the
 * library API). Option names are Ollama's, so a request's `options` object
 * passes straight through.
 */
import type { SamplerOptions } from '../sampler/options.js';
import type { TokenLogprob } from './logprobs.js';

export interface GenerateOptions extends SamplerOptions {
  /**
   * Most tokens to generate. -1 (default): until an end-of-generation token,
   * a stop string or a full context (or, with `shift`, on past it); -2: fill
   * the context and stop there, shift or not.
   */
  num_predict?: number;
  /**
   * When the context fills while generating: false (default) ends with
   * doneReason 'length'; true shifts it as Ollama does, dropping the older
   * half of what follows the first `num_keep` tokens, and goes on.
   */
  shift?: boolean;
  /** Tokens at the start of the context that a shift keeps (default: the BOS token, if the model adds one). */
  num_keep?: number;
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
  /**
   * Log-probabilities of the generated tokens (logprobs.ts): undefined for
   * none, 0 for each token's own, N for it and the N most likely tokens at its position.
   */
  logprobs?: number;
  /** Called with each sampled token that generation goes on from (constrained decoding follows the output through it). */
  onSample?: (token: number) => void;
}

export interface GenerateChunk {
  /** Text to show: complete UTF-8 characters, with any stop string and what follows it removed. */
  text: string;
  /** The tokens whose text this chunk completes (a token held back with its text travels with the next chunk). */
  tokens: number[];
  /** With the `logprobs` option: one entry per token of `tokens`, in order. */
  logprobs?: TokenLogprob[];
}

export interface GenerateStats {
  doneReason: 'stop' | 'length' | 'cancel';
  /** The stop string that ended the generation, when one did. */
  stopSequence?: string;
  /** Prompt tokens evaluated: those after the prefix reused from the cache (the sequence's own or the prompt cache). */
  promptEvalCount: number;
  /** Prompt tokens whose keys and values came from the cache instead (the rest of the prompt). */
  promptCachedCount?: number;
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
  /** Context shifts made while generating (option `shift`); absent when none. */
  shifts?: number;
}

export type Pooling = 'mean' | 'last';
