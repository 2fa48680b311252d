/**
 * Device-offloaded models against kiln's own CPU path: greedy continuations
 * must be equal, parting only where the CPU's top two candidates are within
 * NEAR_TIE (the device sums in float32 in its own order, with f32 activations
 * where the CPU quantizes them, and an f16 KV cache, so a near-tie may fall
 * either way).
 */
import { expect } from 'vitest';
import type { Model } from '../../engine/model/model.js';
import { kilnGreedy, NEAR_TIE } from './decoder-oracle.js';

export function softmax(logits: Float32Array): Float64Array {
  let max = -Infinity;
  for (const l of logits) if (l > max) max = l;
  const p = Float64Array.from(logits, (l) => Math.exp(l - max));
  const s = p.reduce((a, b) => a + b, 0);
  return p.map((x) => x / s);
}

/** Asserts the near-tie rule at every parting; returns a one-line report. */
export function expectSameAsCpu(label: string, cpu: Model, gpu: Model, prompts: number[][], n: number): string {
  let whole = 0;
  let same = 0;
  for (const [pi, prompt] of prompts.entries()) {
    const ref = kilnGreedy(cpu, prompt, n);
    const ours = kilnGreedy(gpu, prompt, n);
    let k = 0;
    while (k < n && ours[k] === ref[k]) k++;
    same += k;
    if (k === n) {
      whole++;
      continue;
    }
    cpu.native.truncate(0);
    const p = softmax(cpu.native.eval([...prompt, ...ref.slice(0, k)], 0));
    expect(Math.abs(p[ref[k]] - p[ours[k]]), `${label}: prompt ${pi} parts from the CPU at token ${k}`).toBeLessThan(NEAR_TIE);
  }
  return `  ${label.padEnd(34)} ${whole}/${prompts.length} continuations equal, ${same}/${prompts.length * n} tokens before any parting`;
}
