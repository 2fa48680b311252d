/**
 * Perplexity of a model over a text, windowed as in windows.ts: the mean of
 * −ln p(token) over every scored token, and its exponential. For kjv-f32 on
 * heldout.txt llama.cpp reports mean NLL 4.33838, perplexity 76.5830.
 */
import { KilnError } from '../../common/errors.js';
import type { Model } from '../model/model.js';
import { evalContext, logSumExp, scoreWindow, windows } from './windows.js';

export interface PerplexityOptions {
  /** Window size in tokens (default: the context the model was loaded with). */
  nCtx?: number;
  /** Called after each window with the running figures. */
  onProgress?: (p: { window: number; windows: number; meanNll: number }) => void;
}

export interface PerplexityResult {
  /** Tokens of the text (without BOS). */
  tokens: number;
  /** Tokens scored. */
  scored: number;
  nCtx: number;
  meanNll: number;
  perplexity: number;
  chunks: { start: number; nTokens: number; meanNll: number }[];
}

export async function perplexity(model: Model, text: string, opts: PerplexityOptions = {}): Promise<PerplexityResult> {
  const nCtx = evalContext(model, opts.nCtx);
  const tokens = model.tokenizer.encode(text, { addSpecial: false });
  const ws = windows(tokens, nCtx, model.tokenizer.bos);
  if (ws.length === 0) throw new KilnError('E_BAD_REQUEST', 'the text is too short to score');
  let total = 0;
  let scored = 0;
  const chunks: PerplexityResult['chunks'] = [];
  for (const [k, w] of ws.entries()) {
    let nll = 0;
    await scoreWindow(model, w, (i, logits) => {
      nll += logSumExp(logits) - logits[w.targets[i]];
    });
    chunks.push({ start: w.start, nTokens: w.targets.length, meanNll: nll / w.targets.length });
    total += nll;
    scored += w.targets.length;
    opts.onProgress?.({ window: k + 1, windows: ws.length, meanNll: total / scored });
  }
  model.native.truncate(0);
  const meanNll = total / scored;
  return { tokens: tokens.length, scored, nCtx, meanNll, perplexity: Math.exp(meanNll), chunks };
}
