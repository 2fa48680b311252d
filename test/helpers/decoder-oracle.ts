/**
 * Greedy continuations of kiln against llama.cpp (node-llama-cpp, pinned) on
 * the same GGUF file, with the near-tie rule of the forward-oracle test: a
 * continuation may part from llama.cpp's only where llama.cpp's top two
 * candidates at the parting were within NEAR_TIE of each other.
 */
import { readFileSync } from 'node:fs';
import { expect } from 'vitest';
import type { Model } from '../../engine/model/model.js';
import { argmax } from '../../engine/sampler/sampler.js';
import { KJV_HELDOUT } from './fixtures.js';
import { distributions, greedy, type Loaded } from './llama-cpp.js';

/** Continuations may part only where llama.cpp's top two were this close. */
export const NEAR_TIE = 5e-3;

/**
 * In a mixture of experts, a router near-tie is a near-tie too: where a token's last chosen expert
 * and the best one left out score within this much (router probability), the float rounding of
 * either side may choose the other, and the outputs then differ by far more than a near-tie of
 * the logits. A continuation may part at such a choice (see routerTieAt).
 */
export const ROUTER_NEAR_TIE = 5e-3;

/**
 * node-llama-cpp hands a disposed sequence back to its context
 * asynchronously (under a lock), so a call right after another may find no
 * free sequence yet: retry briefly.
 */
export async function withSequence<T>(f: () => Promise<T>): Promise<T> {
  for (let i = 0; ; i++) {
    try {
      return await f();
    } catch (e) {
      if (i >= 100 || !/No sequences left/.test((e as Error).message)) throw e;
      await new Promise((r) => setTimeout(r, 5));
    }
  }
}

/**
 * `count` prompts of `length` tokens each from kjv's held-out text (one line
 * or more per prompt, in order), BOS first when the model's tokenizer adds
 * it. Longer than a test model's sliding window when `length` is.
 */
export function heldoutPrompts(model: Model, count = 8, length = 24): number[][] {
  const lines = readFileSync(KJV_HELDOUT, 'utf8').split('\n').filter((l) => l.trim());
  const out: number[][] = [];
  let i = 0;
  while (out.length < count) {
    let text = '';
    let toks: number[] = [];
    while (toks.length < length) {
      text += (text ? ' ' : '') + lines[i++ % lines.length];
      toks = model.tokenizer.encode(text);
    }
    out.push(toks.slice(0, length));
  }
  return out;
}

export interface GreedyReport {
  /** Continuations equal to llama.cpp's over all n tokens. */
  whole: number;
  /** Partings accepted because kiln and llama.cpp first differed at a router near-tie (MoE models). */
  routerTies: number;
  /** Tokens before the first parting, summed over prompts. */
  same: number;
  prompts: number;
  n: number;
}

/** kiln's greedy continuation of a prompt, from an empty cache. */
export function kilnGreedy(model: Model, prompt: number[], n: number): number[] {
  model.native.truncate(0);
  let logits = model.native.eval(prompt, 0);
  const ours: number[] = [];
  for (let i = 0; i < n; i++) {
    ours.push(argmax(logits));
    if (i + 1 < n) logits = model.native.eval([ours[i]], prompt.length + i);
  }
  return ours;
}

/**
 * Compares kiln's greedy continuations with llama.cpp's and asserts the
 * near-tie rule at every parting.
 */
export async function expectGreedyParity(model: Model, theirs: Loaded, prompts: number[][], n = 32): Promise<GreedyReport> {
  const nVocab = model.hp.nVocab;
  let same = 0;
  let whole = 0;
  let routerTies = 0;
  for (const [pi, prompt] of prompts.entries()) {
    const ours = kilnGreedy(model, prompt, n);
    const ref = await withSequence(() => greedy(theirs, prompt, n));
    let k = 0;
    while (k < ref.length && ours[k] === ref[k]) k++;
    // llama.cpp's continuation stops before an end-of-generation token, which kiln's (raw argmax) goes on past
    const end = ref.length < n && k === ref.length && model.tokenizer.isEog(ours[k]);
    same += end ? n : k;
    if (k === n || end) {
      whole++;
      continue;
    }
    const dists = await withSequence(() => distributions(theirs, [...prompt, ...ref.slice(0, k)], nVocab));
    const q = dists[prompt.length - 1 + k];
    const theirsAt = k < ref.length ? ref[k] : (model.tokenizer.eos ?? -1);
    const gap = Math.abs(q[theirsAt] - q[ours[k]]);
    if (gap >= NEAR_TIE && (model.hp.nExpert ?? 0) > 0) {
      const tie = routerTieAt(model, prompt, ref.slice(0, k), dists);
      if (tie !== undefined) {
        routerTies++;
        continue;
      }
    }
    expect(gap, `prompt ${pi} parts from llama.cpp at token ${k} (${ours[k]} vs ${theirsAt})`).toBeLessThan(NEAR_TIE);
  }
  return { whole, routerTies, same, prompts: prompts.length, n };
}

/** Softmax of logits in double. */
function softmax(logits: Float32Array): Float64Array {
  let mx = -Infinity;
  for (const v of logits) mx = Math.max(mx, v);
  const p = new Float64Array(logits.length);
  let s = 0;
  for (let i = 0; i < p.length; i++) s += p[i] = Math.exp(logits[i] - mx);
  for (let i = 0; i < p.length; i++) p[i] /= s;
  return p;
}

/**
 * Where kiln's next-token distributions first differ from llama.cpp's (`theirs`, one per position of
 * prompt + generated) by a near-tie or more, teacher-forced as kiln generates (the prompt as a
 * batch, then one token at a time), the smallest router margin over the layers at that position
 * and the one before it; returned only when it is a router near-tie (below ROUTER_NEAR_TIE), else
 * undefined.
 */
export function routerTieAt(model: Model, prompt: number[], generated: number[], theirs: Float64Array[]): number | undefined {
  const L = model.hp.nLayer;
  const native = model.native;
  native.traceRoutes(true);
  try {
    native.truncate(0);
    const all = [...prompt, ...generated];
    let logits = native.eval(prompt, 0, true);
    let routes = native.routes();
    let before = Infinity;
    const V = model.hp.nVocab;
    // position i's logits: row i of the prompt's batch, then the one row of each single-token eval
    const dist = (i: number): Float64Array => {
      const row = i < prompt.length ? i : 0;
      return softmax(logits.subarray(row * V, (row + 1) * V));
    };
    for (let i = 0; i < all.length; i++) {
      if (i >= prompt.length) {
        logits = native.eval([all[i]], i, true);
        routes = native.routes();
      }
      const p = dist(i);
      let diff = 0;
      for (let j = 0; j < p.length; j++) diff = Math.max(diff, Math.abs(p[j] - theirs[i][j]));
      const row = i < prompt.length ? i : 0;
      let margin = Infinity;
      for (let l = 0; l < L; l++) margin = Math.min(margin, routes.margins[row * L + l]);
      if (diff < NEAR_TIE) {
        before = margin;
        continue;
      }
      // a choice flipped between two experts of small weight barely moves its own position's
      // logits, but the keys and values it leaves move the next position's: that one counts too
      const m = Math.min(margin, before);
      return m < ROUTER_NEAR_TIE ? m : undefined;
    }
    return undefined;
  } finally {
    native.traceRoutes(false);
    native.truncate(0);
  }
}

export function describeReport(label: string, r: GreedyReport): string {
  const ties = r.routerTies ? `, ${r.routerTies} parting${r.routerTies > 1 ? 's' : ''} at router near-ties` : '';
  return `  ${label.padEnd(16)} ${r.whole}/${r.prompts} continuations equal, ${r.same}/${r.prompts * r.n} tokens before any parting${ties}`;
}
