/**
 * The evaluation windows of perplexity and KL, as llama.cpp's figure for
 * kjv's heldout.txt was computed: the text is tokenized without BOS and cut
 * into consecutive chunks of n_ctx − 1 tokens (the last one shorter); each
 * chunk is evaluated from an empty cache as [BOS] + chunk, and every chunk
 * token is scored, the first one included (predicted from BOS alone).
 * A model without a BOS token gets chunks of n_ctx tokens and its first
 * token goes unscored.
 */
import { setImmediate as tick } from 'node:timers/promises';
import { KilnError } from '../../common/errors.js';
import type { Model } from '../model/model.js';

export interface Window {
  /** Index of the chunk's first token in the text's tokens. */
  start: number;
  /** The tokens scored: the chunk. */
  targets: number[];
  /** The sequence evaluated: [BOS] + chunk (or the chunk alone without a BOS). */
  input: number[];
  /** Row of the logits that predicts targets[0] (the others follow). */
  firstRow: number;
}

export function windows(tokens: number[], nCtx: number, bos: number | undefined): Window[] {
  if (nCtx < 2) throw new KilnError('E_BAD_REQUEST', `a context of ${nCtx} tokens is too short to score anything`);
  const size = bos === undefined ? nCtx : nCtx - 1;
  const out: Window[] = [];
  for (let start = 0; start < tokens.length; start += size) {
    const chunk = tokens.slice(start, start + size);
    if (bos === undefined) {
      if (chunk.length < 2) break;
      out.push({ start: start + 1, targets: chunk.slice(1), input: chunk, firstRow: 0 });
    } else {
      out.push({ start, targets: chunk, input: [bos, ...chunk], firstRow: 0 });
    }
  }
  return out;
}

/** The context of an evaluation: the requested one, at most what the model was loaded with. */
export function evalContext(model: Model, nCtx?: number): number {
  const loaded = model.hp.nCtx;
  if (nCtx !== undefined && (!Number.isInteger(nCtx) || nCtx > loaded)) {
    throw new KilnError('E_BAD_REQUEST', `--ctx ${nCtx} is more than the ${loaded} tokens the model was loaded with`);
  }
  return nCtx ?? loaded;
}

/**
 * Most logits rows per native call: all-position logits of a large
 * vocabulary are big (128k × 512 × 4 bytes = 256 MiB), so batches shrink to
 * keep the buffer near 32 MiB.
 */
export function rowsPerCall(nVocab: number): number {
  return Math.max(1, Math.min(512, Math.floor((8 << 20) / nVocab)));
}

/**
 * Evaluates a window from an empty cache and calls `row(i, logits)` with the
 * logits that predict targets[i], for every target in order.
 */
export async function scoreWindow(model: Model, w: Window, row: (i: number, logits: Float32Array) => void): Promise<void> {
  const nVocab = model.hp.nVocab;
  const per = rowsPerCall(nVocab);
  model.native.truncate(0);
  for (let pos = 0; pos < w.input.length; pos += per) {
    const batch = w.input.slice(pos, pos + per);
    const logits = model.native.eval(batch, pos, true);
    for (let r = 0; r < batch.length; r++) {
      const i = pos + r - w.firstRow;
      if (i >= 0 && i < w.targets.length) row(i, logits.subarray(r * nVocab, (r + 1) * nVocab));
    }
    await tick();
  }
}

/** ln Σ exp(logits), in float64. */
export function logSumExp(logits: Float32Array): number {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) if (logits[i] > max) max = logits[i];
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += Math.exp(logits[i] - max);
  return max + Math.log(sum);
}
