/**
 * `kiln imatrix`: runs a model over a calibration text and records, for each
 * matmul weight, the sum of squares of each input column over the tokens
 * (and how many tokens), as llama.cpp's imatrix tool does. The text is cut
 * into chunks evaluated from an empty cache ([BOS] + chunk, windows.ts), with
 * every position's logits computed so the output matrix sees every token too.
 */
import { setImmediate as tick } from 'node:timers/promises';
import { KilnError } from '../../common/errors.js';
import { rowsPerCall, windows } from '../eval/windows.js';
import { Model } from '../model/model.js';
import { emptyImatrix, type Imatrix } from './imatrix.js';

export interface ImatrixProgress {
  tokens: number;
  total: number;
  tokensPerSecond: number;
}

export interface ImatrixOptions {
  /** Tokens per chunk (default 512, at most the model's trained context). */
  chunk?: number;
  /** Recorded in imatrix.datasets. */
  dataset?: string;
  onProgress?: (p: ImatrixProgress) => void;
}

export async function computeImatrix(modelPath: string, text: string, opts: ImatrixOptions = {}): Promise<Imatrix> {
  const probe = await Model.load(modelPath, { nCtx: 8 });
  const trainCtx = probe.hp.trainCtx;
  probe.close();
  const chunk = Math.min(opts.chunk ?? 512, trainCtx);
  if (!Number.isInteger(chunk) || chunk < 2) throw new KilnError('E_BAD_REQUEST', `the chunk size must be an integer of at least 2, not ${chunk}`);
  const model = await Model.load(modelPath, { nCtx: chunk });
  try {
    const tokens = model.tokenizer.encode(text, { addSpecial: false });
    const ws = windows(tokens, chunk, model.tokenizer.bos);
    if (ws.length === 0) throw new KilnError('E_BAD_REQUEST', 'the calibration text is empty');
    const total = ws.reduce((s, w) => s + w.input.length, 0);
    const step = rowsPerCall(model.hp.nVocab);
    const started = performance.now();
    let done = 0;
    model.native.observe(true);
    for (const w of ws) {
      model.native.truncate(0);
      for (let p = 0; p < w.input.length; p += step) {
        const part = w.input.slice(p, p + step);
        model.native.eval(part, p, true);
        done += part.length;
        opts.onProgress?.({ tokens: done, total, tokensPerSecond: done / ((performance.now() - started) / 1000) });
        await tick();
      }
    }
    model.native.observe(false);
    // each weight by its offset; a 3-D expert tensor by each expert's slice (the forward pass observes them apart)
    const byOffset = new Map<number, { name: string; mat: number; nmat: number }>();
    for (const t of model.file.tensors) {
      const nmat = t.dims.length > 2 ? t.dims.slice(2).reduce((a, b) => a * b, 1) : 1;
      for (let e = 0; e < nmat; e++) byOffset.set(t.absOffset + (e * t.byteSize) / nmat, { name: t.name, mat: e, nmat });
    }
    const m = emptyImatrix(chunk, opts.dataset !== undefined ? [opts.dataset] : []);
    m.chunkCount = ws.length;
    for (const s of model.native.activationSums()) {
      const at = byOffset.get(s.offset);
      if (at === undefined) continue;
      const ncols = s.sum2.length;
      let e = m.entries.get(at.name);
      if (!e) {
        // an expert never chosen keeps a count of 0 (its importance then defaults to ones)
        e = { sum2: new Float64Array(ncols * at.nmat), counts: new Float64Array(at.nmat), ncols };
        m.entries.set(at.name, e);
      }
      e.sum2.set(s.sum2, at.mat * ncols);
      e.counts[at.mat] = s.count;
    }
    return m;
  } finally {
    model.close();
  }
}
