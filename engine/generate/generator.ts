/**
 * Generation over one loaded model: the loop the daemon's runner drives for
 * /api/generate and /api/chat, and embeddings for /api/embed.
 *
 * The KV cache is kept between calls: a prompt that starts with the tokens
 * already cached (a chat's earlier turns, the `context` of a previous
 * /api/generate) evaluates only the rest. The cache never silently drops
 * tokens: a prompt longer than the context is refused, and a generation that
 * fills it ends with doneReason 'length', or (option `shift`) drops the older
 * half of the context after `num_keep` tokens and goes on, counted in
 * stats.shifts.
 *
 * A Generator owns one sequence of its model's native context. Generators
 * of the same model (one per slot) evaluate through the model's Batch, so
 * the active ones advance together, one forward pass per step (batch.ts).
 * One call at a time per Generator (the runner serializes requests per
 * slot); overlapping calls are refused with E_CONFLICT rather than
 * interleaving two requests in one sequence.
 *
 * With a PromptCache, a prompt that starts with the tokens of an earlier
 * conversation (kept when its request ended, whichever sequence served it)
 * loads their keys and values instead of evaluating them.
 */
import { KilnError } from '../../common/errors.js';
import type { Model } from '../model/model.js';
import { Sampler } from '../sampler/sampler.js';
import { StepLogprobs, type TokenLogprob } from './logprobs.js';
import { Batch, PROMPT_BATCH } from './batch.js';
import { Pooler, modelPooling } from './pooling.js';
import type { PromptCache } from './prompt-cache.js';
import { StopMatcher } from './stop-matcher.js';
import type { GenerateChunk, GenerateOptions, GenerateStats, Pooling } from './types.js';

/**
 * Tokens at the start of a context that truncating a prompt or shifting the
 * context keeps unless num_keep says otherwise: the BOS token, when the model adds one.
 */
export function defaultNumKeep(tokenizer: { addBos: boolean }): number {
  return tokenizer.addBos ? 1 : 0;
}

export { PROMPT_BATCH };

export interface GeneratorOptions {
  /** The sequence of the model's native context this Generator uses (default 0). */
  seq?: number;
  /** KV prefixes kept across requests and sequences. */
  promptCache?: PromptCache;
}

export class Generator {
  /** The tokens whose keys and values are in the cache, position by position. */
  private cached: number[] = [];
  private busy = false;
  readonly seq: number;
  private readonly batch: Batch;
  private readonly promptCache?: PromptCache;

  constructor(
    readonly model: Model,
    opts: GeneratorOptions = {},
  ) {
    this.seq = opts.seq ?? 0;
    if (!Number.isInteger(this.seq) || this.seq < 0 || this.seq >= model.nSeq) {
      throw new KilnError('E_BAD_REQUEST', `sequence ${this.seq} is outside the model's ${model.nSeq}`);
    }
    this.batch = Batch.of(model);
    this.promptCache = opts.promptCache;
  }

  /** The tokens currently in the KV cache (a copy). */
  get cachedTokens(): number[] {
    return this.cached.slice();
  }

  /** Forgets the cache (the next call evaluates its prompt from position 0). */
  reset(): void {
    this.model.native.truncate(0, this.seq);
    this.cached = [];
  }

  async *generate(prompt: number[], opts: GenerateOptions = {}): AsyncGenerator<GenerateChunk, GenerateStats> {
    this.enter();
    try {
      return yield* this.run(prompt, opts);
    } finally {
      this.busy = false;
    }
  }

  /**
   * Embedding of a token sequence: final normed hidden states pooled (mean or
   * last token; default per the model's metadata) and L2-normalized. Leaves
   * the tokens in the cache, so a generate that starts with them reuses it.
   */
  embed(tokens: number[], pooling?: Pooling): Float32Array {
    this.enter();
    try {
      this.checkTokens(tokens, this.model.hp.nCtx, 'input');
      const pooler = new Pooler(pooling ?? modelPooling(this.model.file, this.model.hp.arch), this.model.hp.nEmbd);
      this.reset();
      for (let i = 0; i < tokens.length; i += PROMPT_BATCH) {
        const batch = tokens.slice(i, i + PROMPT_BATCH);
        // synchronous: no other step can run between the evaluation and reading its hidden states
        this.evalNow(batch);
        pooler.add(this.model.native.hidden(batch.length), batch.length);
      }
      return pooler.result();
    } finally {
      this.busy = false;
    }
  }

  private enter(): void {
    if (this.busy) throw new KilnError('E_CONFLICT', 'the model is busy with another request');
    this.busy = true;
  }

  private checkTokens(tokens: number[], nCtx: number, what: string): void {
    if (tokens.length === 0) throw new KilnError('E_BAD_REQUEST', `the ${what} is empty`);
    if (tokens.length > nCtx) {
      throw new KilnError('E_BAD_REQUEST', `the ${what} is ${tokens.length} tokens but num_ctx is ${nCtx}; shorten it or raise num_ctx`);
    }
    const nVocab = this.model.hp.nVocab;
    for (const t of tokens) {
      if (!Number.isInteger(t) || t < 0 || t >= nVocab) throw new KilnError('E_BAD_REQUEST', `token id ${t} is outside the vocabulary (0..${nVocab - 1})`);
    }
  }

  /** Evaluates tokens at the end of the cache in the model's next batch step; resolves with the last token's logits. */
  private async evalBatch(tokens: number[]): Promise<Float32Array> {
    try {
      const logits = await this.batch.eval(this.seq, tokens, this.cached.length);
      for (const t of tokens) this.cached.push(t);
      return logits;
    } catch (e) {
      // The native side may have written part of the batch: start over next time.
      this.reset();
      throw e;
    }
  }

  /** Evaluates tokens at the end of the cache at once, alone (embeddings). */
  private evalNow(tokens: number[]): void {
    try {
      const n = tokens.length;
      const pos = Int32Array.from({ length: n }, (_, i) => this.cached.length + i);
      this.model.native.decode(Int32Array.from(tokens), pos, new Int32Array(n).fill(this.seq), new Int32Array(0));
      for (const t of tokens) this.cached.push(t);
    } catch (e) {
      this.reset();
      throw e;
    }
  }

  /**
   * Context shift (Ollama's): keeps the first `numKeep` cached tokens, drops
   * half of the rest (the older half) and moves the newer half down, so
   * generation can go on. False when there is nothing to drop.
   */
  private shift(nCtx: number, numKeep = defaultNumKeep(this.model.tokenizer)): boolean {
    const keep = Math.max(0, Math.min(Math.floor(numKeep), Math.floor(nCtx / 2)));
    const discard = Math.floor((this.cached.length - keep) / 2);
    if (discard < 1) return false;
    try {
      this.model.native.shift(keep, discard, this.seq);
    } catch (e) {
      this.reset();
      throw e;
    }
    this.cached.splice(keep, discard);
    return true;
  }

  /**
   * Keeps the longest cached prefix of `prompt` (at least one token is
   * re-evaluated, for its logits): the sequence's own cache, or a longer one
   * from the prompt cache, loaded into this sequence.
   */
  private reuse(prompt: number[]): number {
    let n = 0;
    const max = Math.min(this.cached.length, prompt.length - 1);
    while (n < max && this.cached[n] === prompt[n]) n++;
    const hit = this.promptCache?.lookup(prompt, prompt.length - 1, n);
    if (hit) {
      try {
        this.model.native.truncate(0, this.seq);
        this.model.native.kvLoad(this.seq, 0, hit.n, hit.bytes);
        this.cached = prompt.slice(0, hit.n);
        return hit.n;
      } catch {
        this.reset();
        return 0;
      }
    }
    if (n < this.cached.length) {
      this.model.native.truncate(n, this.seq);
      this.cached.length = n;
    }
    return n;
  }

  /** Offers the sequence's cache to the prompt cache (when a request ends). */
  private keep(): void {
    if (!this.promptCache || this.cached.length === 0) return;
    const n = this.cached.length;
    try {
      this.promptCache.store(this.cached, () => this.model.native.kvSave(this.seq, 0, n));
    } catch {
      // a cache that cannot take it only costs the next request its prompt time
    }
  }

  private async *run(prompt: number[], opts: GenerateOptions): AsyncGenerator<GenerateChunk, GenerateStats> {
    const nCtx = Math.max(1, Math.min(opts.num_ctx ?? Infinity, this.model.hp.nCtx));
    this.checkTokens(prompt, nCtx, 'prompt');
    const tokenizer = this.model.tokenizer;
    const signal = opts.signal;
    const numPredict = opts.num_predict ?? -1;
    const limit = numPredict < 0 ? Infinity : numPredict;
    const stats: GenerateStats = {
      doneReason: 'stop',
      promptEvalCount: prompt.length,
      promptEvalDurationNs: 0,
      evalCount: 0,
      evalDurationNs: 0,
      context: prompt.slice(),
    };

    const t0 = process.hrtime.bigint();
    let logits: Float32Array | undefined;
    const reused = this.reuse(prompt);
    // only the tokens evaluated now: what the cache held is not counted again
    stats.promptEvalCount = prompt.length - reused;
    if (reused > 0) stats.promptCachedCount = reused;
    // the batch feeds the prompt in chunks; cancellation ends it between chunks of PROMPT_BATCH
    for (let i = reused; i < prompt.length; i += PROMPT_BATCH) {
      if (signal?.aborted) break;
      logits = await this.evalBatch(prompt.slice(i, Math.min(i + PROMPT_BATCH, prompt.length)));
    }
    const t1 = process.hrtime.bigint();
    stats.promptEvalDurationNs = Number(t1 - t0);
    if (signal?.aborted || !logits) {
      stats.doneReason = 'cancel';
      return stats;
    }

    const sampler = new Sampler(opts, { mask: opts.mask, nCtx });
    for (const t of prompt) sampler.accept(t);
    const decoder = tokenizer.createStreamDecoder();
    const stops = new StopMatcher(opts.stop ?? []);
    let pending: number[] = [];
    const wantLogprobs = opts.logprobs !== undefined && opts.logprobs >= 0;
    let pendingLp: TokenLogprob[] = [];
    /** The chunk of the pending tokens (and their logprobs, when asked for); starts the next pending run. */
    const chunk = (text: string): GenerateChunk => {
      const c: GenerateChunk = { text, tokens: pending, ...(wantLogprobs ? { logprobs: pendingLp } : {}) };
      pending = [];
      pendingLp = [];
      return c;
    };
    let stopped = false;

    try {
      for (;;) {
        if (stats.evalCount >= limit) {
          stats.doneReason = 'length';
          break;
        }
        if (signal?.aborted) {
          stats.doneReason = 'cancel';
          break;
        }
        // read before sampling: the sampler edits the logits in place
        const step = wantLogprobs ? new StepLogprobs(logits, opts.logprobs!) : undefined;
        const tok = sampler.sample(logits);
        stats.evalCount++;
        if (tokenizer.isEog(tok)) {
          stats.doneReason = 'stop';
          break;
        }
        sampler.accept(tok);
        opts.onSample?.(tok);
        pending.push(tok);
        if (step) pendingLp.push(step.pick(tok));
        const r = stops.push(decoder.push(tok));
        if (r.stopped) {
          stopped = true;
          stats.doneReason = 'stop';
          stats.stopSequence = r.stop;
          const c = chunk(r.text);
          if (r.text) yield c;
          break;
        }
        if (r.text) {
          stats.context.push(...pending);
          yield chunk(r.text);
        }
        if (stats.evalCount >= limit) {
          stats.doneReason = 'length';
          break;
        }
        if (this.cached.length >= nCtx) {
          if (!opts.shift || numPredict === -2 || !this.shift(nCtx, opts.num_keep)) {
            stats.doneReason = 'length';
            break;
          }
          stats.shifts = (stats.shifts ?? 0) + 1;
        }
        logits = await this.evalBatch([tok]);
      }
      if (!stopped) {
        const r = stops.push(decoder.flush());
        const text = r.text + (r.stopped ? '' : stops.flush());
        if (r.stopped) {
          stats.doneReason = 'stop';
          stats.stopSequence = r.stop;
        } else stats.context.push(...pending);
        if (text) yield chunk(text);
      }
    } finally {
      stats.evalDurationNs = Number(process.hrtime.bigint() - t1);
      this.keep();
    }
    return stats;
  }
}
