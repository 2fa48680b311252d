/**
 * The quality of a quantized file as llama.cpp sees it (issue 17's method):
 * the F32 model and the quantized one, both run by llama.cpp (node-llama-cpp,
 * CPU), score the same held-out text in 128-token windows (BOS + 127 tokens,
 * 64 apart); at each position of a window's second half we take the full
 * next-token distributions and average KL(F32 ‖ quant) in nats.
 */
import { getLlama, type Llama, type LlamaModel } from 'node-llama-cpp';

import { readGGUFFile } from '../engine/gguf/reader.js';

const WINDOW = 128;
const STRIDE = 64;

let llama: Promise<Llama> | undefined;

async function oracle(): Promise<Llama> {
  if (llama && (await llama).disposed) llama = undefined;
  llama ??= getLlama({ gpu: false, build: 'never', logLevel: 'error' as never });
  return llama;
}

/** Releases llama.cpp (call once at the end). */
export async function disposeOracle(): Promise<void> {
  if (llama) await (await llama).dispose();
  llama = undefined;
}

export interface Reference {
  vocab: number;
  windows: number[][];
  /** Per window, the F32 distributions at its scored positions. */
  dists: Float64Array[][];
}

async function withModel<T>(path: string, f: (m: LlamaModel) => Promise<T>): Promise<T> {
  const model = await (await oracle()).loadModel({ modelPath: path });
  try {
    return await f(model);
  } finally {
    await model.dispose();
  }
}

async function windowDists(model: LlamaModel, windows: number[][], vocab: number): Promise<Float64Array[][]> {
  const context = await model.createContext({ contextSize: WINDOW, batchSize: WINDOW, threads: 1 });
  try {
    const out: Float64Array[][] = [];
    const seq = context.getSequence();
    for (const w of windows) {
      await seq.clearHistory();
      {
        const res = await seq.controlledEvaluate(
          w.map((t, i) => (i >= WINDOW - STRIDE ? [t, { generateNext: { probabilities: true, options: { temperature: 1, topK: 0, topP: 1, minP: 0 } } }] : t) as never),
        );
        const rows: Float64Array[] = [];
        for (let i = WINDOW - STRIDE; i < w.length; i++) {
          const p = new Float64Array(vocab);
          for (const [tok, prob] of (res[i] as { next: { probabilities: Map<number, number> } }).next.probabilities) p[tok] = prob;
          rows.push(p);
        }
        out.push(rows);
      }
    }
    seq.dispose();
    return out;
  } finally {
    await context.dispose();
  }
}

/** The F32 model's distributions over the text's windows. */
export async function reference(f32Path: string, text: string): Promise<Reference> {
  return withModel(f32Path, async (model) => {
    const tokensKv = (await readGGUFFile(f32Path)).kv.get('tokenizer.ggml.tokens')?.value;
    const nVocab = Array.isArray(tokensKv) ? tokensKv.length : 0;
    if (nVocab === 0) throw new Error(`${f32Path} has no tokenizer.ggml.tokens`);
    const tokens = model.tokenize(text) as number[];
    const bos = model.tokens.bos as number;
    const windows: number[][] = [];
    for (let s = 0; s + WINDOW - 1 <= tokens.length; s += STRIDE) windows.push([bos, ...tokens.slice(s, s + WINDOW - 1)]);
    if (windows.length === 0) throw new Error('the text is too short: it needs at least 127 tokens');
    return { vocab: nVocab, windows, dists: await windowDists(model, windows, nVocab) };
  });
}

/** KL(p ‖ q) in nats, q floored so a zero does not make it infinite. */
function kl(p: Float64Array, q: Float64Array): number {
  let s = 0;
  for (let i = 0; i < p.length; i++) if (p[i] > 0) s += p[i] * Math.log(p[i] / Math.max(q[i], 1e-12));
  return s;
}

/** Mean KL(F32 ‖ file) over the reference's scored positions. */
export async function meanKl(path: string, ref: Reference): Promise<number> {
  const dists = await withModel(path, (m) => windowDists(m, ref.windows, ref.vocab));
  let sum = 0;
  let n = 0;
  for (const [w, rows] of dists.entries()) {
    for (const [i, q] of rows.entries()) {
      sum += kl(ref.dists[w][i], q);
      n++;
    }
  }
  return sum / n;
}
