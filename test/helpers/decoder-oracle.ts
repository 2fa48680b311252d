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
    expect(Math.abs(q[theirsAt] - q[ours[k]]), `prompt ${pi} parts from llama.cpp at token ${k} (${ours[k]} vs ${theirsAt})`).toBeLessThan(NEAR_TIE);
  }
  return { whole, same, prompts: prompts.length, n };
}

export function describeReport(label: string, r: GreedyReport): string {
  return `  ${label.padEnd(16)} ${r.whole}/${r.prompts} continuations equal, ${r.same}/${r.prompts * r.n} tokens before any parting`;
}
