/**
 * A source model's predictions over a text, recorded once and compared with
 * many quantized models (the quality ladder). It is klDivergence (kl.ts)
 * split in two: `Reference.record` scores the windows (windows.ts) with the
 * source and spills every scored row of raw logits to a temporary file (an
 * 8 B model's 128k-token vocabulary makes the rows of a few KB of text half a
 * gigabyte, too much to keep in memory, and scoring the source again for
 * every type would double the work); `compare` scores the same windows with
 * another model and reads the source's rows back. The arithmetic is kl.ts's,
 * in the same order, so the figures are the same as `kiln kl` gives.
 */
import { closeSync, mkdtempSync, openSync, readSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { KilnError } from '../../common/errors.js';
import type { Model } from '../model/model.js';
import { logSumExp, scoreWindow, windows, type Window } from './windows.js';

export interface ScoreProgress {
  window: number;
  windows: number;
}

export interface Comparison {
  /** Mean KL(source ‖ model) in nats per scored token. */
  meanKl: number;
  p99Kl: number;
  /** Share of scored positions where both models' most likely token is the same. */
  top1Agreement: number;
  perplexity: number;
  /** Scored tokens per second of the windowed evaluation (prompt processing). */
  promptTokensPerSecond: number;
}

export class Reference {
  private constructor(
    readonly nVocab: number,
    readonly nCtx: number,
    readonly tokens: number[],
    readonly windows: Window[],
    /** ln Σ exp of each scored row of the source, in order. */
    private readonly lse: Float64Array,
    private readonly dir: string,
    private fd: number,
    /** The source's own figures (KL 0, full agreement). */
    readonly self: Comparison,
  ) {}

  get scored(): number {
    return this.lse.length;
  }

  /** Scores `text` with the source model in windows of `nCtx` tokens; the spill file goes in a new folder under `tmpRoot`. */
  static async record(source: Model, text: string, nCtx: number, tmpRoot: string, onProgress?: (p: ScoreProgress) => void): Promise<Reference> {
    const nVocab = source.hp.nVocab;
    const tokens = source.tokenizer.encode(text, { addSpecial: false });
    const ws = windows(tokens, nCtx, source.tokenizer.bos);
    if (ws.length === 0) throw new KilnError('E_BAD_REQUEST', 'the text is too short to score');
    const scored = ws.reduce((s, w) => s + w.targets.length, 0);
    const lse = new Float64Array(scored);
    const dir = mkdtempSync(join(tmpRoot, 'kiln-ladder-'));
    const fd = openSync(join(dir, 'reference.f32'), 'w+');
    const rowBytes = nVocab * 4;
    let row = 0;
    let nll = 0;
    let evalMs = 0;
    try {
      for (const [k, w] of ws.entries()) {
        const t0 = performance.now();
        await scoreWindow(source, w, (i, logits) => {
          const l = logSumExp(logits);
          lse[row] = l;
          nll += l - logits[w.targets[i]];
          writeSync(fd, logits, 0, rowBytes, row * rowBytes);
          row++;
        });
        evalMs += performance.now() - t0;
        onProgress?.({ window: k + 1, windows: ws.length });
      }
    } catch (e) {
      closeSync(fd);
      rmSync(dir, { recursive: true, force: true });
      throw e;
    }
    source.native.truncate(0);
    const self: Comparison = {
      meanKl: 0,
      p99Kl: 0,
      top1Agreement: 1,
      perplexity: Math.exp(nll / scored),
      promptTokensPerSecond: scored / (evalMs / 1000),
    };
    return new Reference(nVocab, nCtx, tokens, ws, lse, dir, fd, self);
  }

  /** Scores the same windows with `model` and compares its distributions with the source's. */
  async compare(model: Model, onProgress?: (p: ScoreProgress) => void): Promise<Comparison> {
    if (this.fd < 0) throw new KilnError('E_INTERNAL', 'the reference was closed');
    const nVocab = this.nVocab;
    if (model.hp.nVocab !== nVocab) {
      throw new KilnError('E_BAD_REQUEST', `the models have different vocabularies (${nVocab} and ${model.hp.nVocab} tokens)`);
    }
    const base = new Float32Array(nVocab);
    const rowBytes = nVocab * 4;
    const kls: number[] = [];
    let agree = 0;
    let nll = 0;
    let evalMs = 0;
    let row = 0;
    for (const [k, w] of this.windows.entries()) {
      const t0 = performance.now();
      await scoreWindow(model, w, (i, logits) => {
        readSync(this.fd, base, 0, rowBytes, row * rowBytes);
        const lseP = this.lse[row];
        row++;
        const lse = logSumExp(logits);
        let kl = 0;
        let argP = 0;
        let argQ = 0;
        let lpArg = base[0] - lseP;
        for (let t = 0; t < nVocab; t++) {
          const lp = base[t] - lseP;
          const lq = logits[t] - lse;
          kl += Math.exp(lp) * (lp - lq);
          if (lp > lpArg) {
            argP = t;
            lpArg = lp;
          }
          if (logits[t] > logits[argQ]) argQ = t;
        }
        kls.push(Math.max(0, kl));
        if (argP === argQ) agree++;
        nll += lse - logits[w.targets[i]];
      });
      evalMs += performance.now() - t0;
      onProgress?.({ window: k + 1, windows: this.windows.length });
    }
    model.native.truncate(0);
    const n = kls.length;
    const sorted = Float64Array.from(kls).sort();
    return {
      meanKl: kls.reduce((a, b) => a + b, 0) / n,
      p99Kl: sorted[Math.min(n - 1, Math.floor(0.99 * n))],
      top1Agreement: agree / n,
      perplexity: Math.exp(nll / n),
      promptTokensPerSecond: n / (evalMs / 1000),
    };
  }

  /** Closes and deletes the spill file. */
  close(): void {
    if (this.fd < 0) return;
    closeSync(this.fd);
    this.fd = -1;
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * Generation speed: greedy decoding one token per call after a short prompt
 * from the text, up to `maxTokens` or until `budgetMs` has passed (at least 4
 * tokens), in tokens per second.
 */
export function decodeSpeed(model: Model, tokens: number[], maxTokens = 32, budgetMs = 2000): number {
  const bos = model.tokenizer.bos;
  const prompt = [...(bos === undefined ? [] : [bos]), ...tokens.slice(0, 8)];
  if (prompt.length === 0) prompt.push(0);
  const room = model.hp.nCtx - prompt.length;
  model.native.truncate(0);
  let logits = model.native.eval(prompt, 0);
  let pos = prompt.length;
  let n = 0;
  const t0 = performance.now();
  while (n < Math.min(maxTokens, room)) {
    let next = 0;
    for (let t = 1; t < logits.length; t++) if (logits[t] > logits[next]) next = t;
    logits = model.native.eval([next], pos++, false, logits);
    n++;
    if (n >= 4 && performance.now() - t0 > budgetMs) break;
  }
  const s = (performance.now() - t0) / 1000;
  model.native.truncate(0);
  return n > 0 && s > 0 ? n / s : 0;
}
