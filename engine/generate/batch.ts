/**
 * Continuous batching over one native context: every sequence of a model
 * that wants tokens evaluated joins the next step, and a step is ONE native
 * forward pass (NativeLlama.decode) over all of their tokens. Generation is
 * memory-bound, so the matmuls serve four sequences for little more than the
 * price of one; each sequence keeps its own positions and cache region, and
 * attention never crosses sequences (kernels/src/llama/forward.cpp).
 *
 * A single request is a batch of one: the Generator always evaluates through
 * here, whether one sequence is active or eight.
 *
 * Prompts are fed in chunks. A sequence alone in the batch takes PROMPT_BATCH
 * tokens a step (llama.cpp's n_batch: nobody waits on it). While others are
 * generating, prompts share PROMPT_CHUNK tokens a step, so a new request
 * delays the streams already going by one such chunk per step at most (see
 * PROMPT_CHUNK).
 */
import type { Model } from '../model/model.js';

/** Tokens per step while reading a prompt alone (llama.cpp's default n_batch). */
export const PROMPT_BATCH = 512;

/**
 * Prompt tokens per step while other sequences are generating. A step costs
 * about as much as its prompt part (one generated token per sequence is
 * nearly free beside it), so this bounds the pause a new request inflicts on
 * the running streams. 128 keeps the prompt's own pace close to its pace
 * alone: the gemm kernels already run full blocks, attention takes the same
 * tiled path as for longer batches (from 64 queries), and the weights are
 * read once per 128 prompt tokens instead of once per 512, which is still
 * far from the memory bound. Smaller chunks would shorten the pause but
 * re-read the weights more often and drop to the row-by-row attention path.
 */
export const PROMPT_CHUNK = 128;

interface Request {
  seq: number;
  tokens: number[];
  /** Position of tokens[0]. */
  pos0: number;
  /** Tokens already evaluated. */
  done: number;
  resolve(logits: Float32Array): void;
  reject(e: unknown): void;
}

const batches = new WeakMap<Model, Batch>();

export class Batch {
  private waiting: Request[] = [];
  private scheduled = false;
  /** Steps run and entries evaluated (for tests and stats). */
  steps = 0;
  maxEntries = 0;

  private constructor(readonly model: Model) {}

  /** The batch of a model's native context (one per context, shared by its Generators). */
  static of(model: Model): Batch {
    let b = batches.get(model);
    if (!b) {
      b = new Batch(model);
      batches.set(model, b);
    }
    return b;
  }

  /** Sequences with work waiting for the next step. */
  get active(): number {
    return this.waiting.length;
  }

  /**
   * Evaluates tokens for sequence seq at positions pos0.. in the coming
   * steps; resolves with the logits of the last one. The sequence's cache
   * must hold 0..pos0 already.
   */
  eval(seq: number, tokens: number[], pos0: number): Promise<Float32Array> {
    if (this.waiting.some((r) => r.seq === seq)) return Promise.reject(new Error(`sequence ${seq} already has an evaluation waiting`));
    return new Promise((resolve, reject) => {
      this.waiting.push({ seq, tokens, pos0, done: 0, resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    // After the current turn: every sequence that a step's results woke up
    // submits its next token first (promise continuations), and messages
    // (a cancel) get in between steps.
    setImmediate(() => {
      this.scheduled = false;
      this.step();
      if (this.waiting.length) this.schedule();
    });
  }

  private step(): void {
    const work = this.waiting;
    if (!work.length) return;
    const nVocab = this.model.hp.nVocab;
    let budget = work.length > 1 ? PROMPT_CHUNK : PROMPT_BATCH;
    const taken: { r: Request; n: number }[] = [];
    let total = 0;
    // generated tokens first (one each), then prompts in arrival order within the budget
    for (const r of work) {
      if (r.tokens.length - r.done === 1 && r.tokens.length === 1) {
        taken.push({ r, n: 1 });
        total++;
      }
    }
    for (const r of work) {
      if (r.tokens.length === 1) continue;
      if (budget <= 0) break;
      const n = Math.min(r.tokens.length - r.done, budget);
      budget -= n;
      taken.push({ r, n });
      total += n;
    }
    const tokens = new Int32Array(total);
    const pos = new Int32Array(total);
    const seq = new Int32Array(total);
    const outs: number[] = [];
    const finishing: Request[] = [];
    let i = 0;
    for (const { r, n } of taken) {
      for (let k = 0; k < n; k++, i++) {
        tokens[i] = r.tokens[r.done + k];
        pos[i] = r.pos0 + r.done + k;
        seq[i] = r.seq;
      }
      if (r.done + n === r.tokens.length) {
        outs.push(i - 1);
        finishing.push(r);
      }
    }
    let logits: Float32Array;
    try {
      logits = this.model.native.decode(tokens, pos, seq, Int32Array.from(outs));
    } catch (e) {
      // every sequence in the step may have had part of its tokens written: each caller resets its own
      for (const { r } of taken) r.reject(e);
      const failed = new Set(taken.map((t) => t.r));
      this.waiting = work.filter((r) => !failed.has(r));
      return;
    }
    this.steps++;
    this.maxEntries = Math.max(this.maxEntries, total);
    for (const { r, n } of taken) r.done += n;
    this.waiting = work.filter((r) => r.done < r.tokens.length);
    finishing.forEach((r, k) => r.resolve(logits.slice(k * nVocab, (k + 1) * nVocab)));
  }
}
