/**
 * How far a model's next-token distributions drift from a base model's over
 * a text (the quality column of the quantization ladder): both models score
 * the same windows (windows.ts) and at every scored position we compare the
 * full softmax distributions, P of the base and Q of the other:
 * KL(P‖Q) = Σ P (ln P − ln Q) in nats, computed from log-softmaxes so a tiny
 * Q never divides by zero; whether the most likely token agrees; and the
 * largest |P − Q| of any token.
 */
import { KilnError } from '../../common/errors.js';
import type { Model } from '../model/model.js';
import { evalContext, logSumExp, scoreWindow, windows } from './windows.js';

export interface KlOptions {
  nCtx?: number;
  onProgress?: (p: { window: number; windows: number; meanKl: number }) => void;
}

export interface KlResult {
  tokens: number;
  scored: number;
  nCtx: number;
  meanKl: number;
  medianKl: number;
  p99Kl: number;
  maxKl: number;
  /** Share of positions where both models' most likely token is the same. */
  top1Agreement: number;
  /** Largest |P − Q| of any token at any position. */
  maxAbsDp: number;
  base: { meanNll: number; perplexity: number };
  other: { meanNll: number; perplexity: number };
}

export async function klDivergence(base: Model, other: Model, text: string, opts: KlOptions = {}): Promise<KlResult> {
  const nVocab = base.hp.nVocab;
  if (other.hp.nVocab !== nVocab || other.tokenizer.vocabSize !== base.tokenizer.vocabSize) {
    throw new KilnError('E_BAD_REQUEST', `the models have different vocabularies (${nVocab} and ${other.hp.nVocab} tokens)`);
  }
  const nCtx = Math.min(evalContext(base, opts.nCtx), evalContext(other, opts.nCtx));
  const tokens = base.tokenizer.encode(text, { addSpecial: false });
  const ws = windows(tokens, nCtx, base.tokenizer.bos);
  if (ws.length === 0) throw new KilnError('E_BAD_REQUEST', 'the text is too short to score');

  const kls: number[] = [];
  let agree = 0;
  let maxAbsDp = 0;
  let nllBase = 0;
  let nllOther = 0;
  for (const [k, w] of ws.entries()) {
    // The base's log-probabilities of the window, kept while the other model runs.
    const baseRows: Float64Array[] = [];
    await scoreWindow(base, w, (i, logits) => {
      const lse = logSumExp(logits);
      baseRows[i] = Float64Array.from(logits, (l) => l - lse);
      nllBase -= baseRows[i][w.targets[i]];
    });
    await scoreWindow(other, w, (i, logits) => {
      const lp = baseRows[i];
      const lse = logSumExp(logits);
      let kl = 0;
      let argP = 0;
      let argQ = 0;
      for (let t = 0; t < nVocab; t++) {
        const lq = logits[t] - lse;
        const p = Math.exp(lp[t]);
        kl += p * (lp[t] - lq);
        maxAbsDp = Math.max(maxAbsDp, Math.abs(p - Math.exp(lq)));
        if (lp[t] > lp[argP]) argP = t;
        if (logits[t] > logits[argQ]) argQ = t;
      }
      kls.push(Math.max(0, kl));
      if (argP === argQ) agree++;
      nllOther += lse - logits[w.targets[i]];
    });
    opts.onProgress?.({ window: k + 1, windows: ws.length, meanKl: kls.reduce((a, b) => a + b, 0) / kls.length });
  }
  base.native.truncate(0);
  other.native.truncate(0);
  const n = kls.length;
  const sorted = Float64Array.from(kls).sort();
  const mean = (x: number) => ({ meanNll: x / n, perplexity: Math.exp(x / n) });
  return {
    tokens: tokens.length,
    scored: n,
    nCtx,
    meanKl: kls.reduce((a, b) => a + b, 0) / n,
    medianKl: sorted[Math.floor((n - 1) / 2)],
    p99Kl: sorted[Math.min(n - 1, Math.floor(0.99 * n))],
    maxKl: sorted[n - 1],
    top1Agreement: agree / n,
    maxAbsDp,
    base: mean(nllBase),
    other: mean(nllOther),
  };
}
