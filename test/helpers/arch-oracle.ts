/**
 * The per-architecture oracle test: a small random-weight model of the
 * architecture, written by kiln's GGUF writer (bench/random-model.ts) in F32
 * and quantized by kiln to F16, Q8_0 and Q4_K_M, must continue 8 held-out
 * prompts for 32 tokens exactly as llama.cpp (node-llama-cpp, pinned) does on
 * the same file, parting only at near-ties.
 *
 * Usage, one test file per architecture:
 *
 *   archOracle('qwen3', (nVocab) => ({ arch: 'qwen3', kv: {...}, tensors: [...] }), { promptLength: 24 });
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeRandomModel, vocabSize, type RandomModelSpec } from '../../bench/random-model.js';
import { Model } from '../../engine/model/model.js';
import type { MixName } from '../../engine/quantize/policy.js';
import { quantizeFile } from '../../engine/quantize/quantize.js';
import { cleanup, tempHome } from './daemon.js';
import { describeReport, expectGreedyParity, heldoutPrompts, withSequence } from './decoder-oracle.js';
import { distributions, load, oracle, type LlamaKvType, type Loaded } from './llama-cpp.js';
import type { KvTypes } from '../../common/kv-cache.js';

export const ORACLE_TYPES: MixName[] = ['f32', 'f16', 'q8_0', 'q4_K_M'];

export interface ArchOracleOptions {
  /** Prompt length in tokens (default 24): longer than the model's sliding window, if it has one. */
  promptLength?: number;
  /** Tokens generated per prompt (default 32). */
  n?: number;
  /** KV/context size for both sides (default 128). */
  nCtx?: number;
  types?: MixName[];
  /** Quantized KV caches to check too, on the F32 file, with the same cache types on llama.cpp's side. */
  kvTypes?: KvTypes[];
  /**
   * Types whose next-token probabilities must also equal llama.cpp's, teacher-forced over one
   * 48-token held-out prompt evaluated as one batch, within `tol` (max |Δp| over every position
   * and token). Where both sides round alike (Q8_0's integer dots) they agree to ~1e-5, so this
   * catches an op rounded differently long before it parts a greedy continuation.
   */
  probabilities?: { types: MixName[]; tol: number };
}

/** Largest |Δp| between kiln's softmaxed logits for every position of `tokens` and llama.cpp's probabilities. */
export async function maxProbabilityGap(model: Model, theirs: Loaded, tokens: number[]): Promise<number> {
  const V = model.hp.nVocab;
  model.native.truncate(0);
  const logits = model.native.eval(tokens, 0, true);
  const ref = await withSequence(() => distributions(theirs, tokens, V));
  let worst = 0;
  for (let t = 0; t < tokens.length; t++) {
    const row = logits.subarray(t * V, (t + 1) * V);
    let max = -Infinity;
    for (const x of row) max = Math.max(max, x);
    let sum = 0;
    for (const x of row) sum += Math.exp(x - max);
    for (let v = 0; v < V; v++) worst = Math.max(worst, Math.abs(Math.exp(row[v] - max) / sum - ref[t][v]));
  }
  return worst;
}

export function archOracle(name: string, spec: (nVocab: number) => RandomModelSpec, opts: ArchOracleOptions = {}): void {
  const types = opts.types ?? ORACLE_TYPES;
  const nCtx = opts.nCtx ?? 128;
  let dir: string;
  const report: string[] = [];

  describe(`${name}: greedy continuations against llama.cpp`, () => {
    beforeAll(async () => {
      dir = tempHome(`kiln-oracle-${name}-`);
      const f32 = join(dir, `${name}-f32.gguf`);
      await writeRandomModel(f32, spec(await vocabSize()));
      for (const t of types) if (t !== 'f32') await quantizeFile(f32, join(dir, `${name}-${t}.gguf`), t);
    }, 120_000);

    afterAll(async () => {
      if (report.length) console.log(`\nkiln vs llama.cpp, random-weight ${name} (greedy tokens):\n${report.join('\n')}`);
      cleanup(dir);
      await (await oracle()).dispose();
    });

    it.each(types)(`%s: 8 prompts × ${opts.n ?? 32} tokens equal llama.cpp's, parting only at near-ties`, async (type) => {
      const path = join(dir, `${name}-${type}.gguf`);
      const model = await Model.load(path, { nCtx });
      const theirs = await load(path, nCtx);
      try {
        const prompts = heldoutPrompts(model, 8, opts.promptLength ?? 24);
        const r = await expectGreedyParity(model, theirs, prompts, opts.n ?? 32);
        report.push(describeReport(type, r));
        // a random model whose continuations all part at near-ties proves nothing: most must agree whole
        expect(r.whole, 'continuations equal to the last token').toBeGreaterThanOrEqual(Math.ceil(prompts.length / 2));
      } finally {
        model.close();
        await theirs.dispose();
      }
    });

    const upper = (t: string) => t.toUpperCase() as LlamaKvType;
    it.each(opts.kvTypes ?? [])('f32 with a $k/$v KV cache: equal to llama.cpp with the same cache, parting only at near-ties', async (kv) => {
      const path = join(dir, `${name}-f32.gguf`);
      const model = await Model.load(path, { nCtx, kvTypes: kv });
      const theirs = await load(path, nCtx, { k: upper(kv.k), v: upper(kv.v) });
      try {
        expect(model.kvTypes).toEqual(kv);
        const prompts = heldoutPrompts(model, 8, opts.promptLength ?? 24);
        const r = await expectGreedyParity(model, theirs, prompts, opts.n ?? 32);
        report.push(describeReport(`f32, ${kv.k}/${kv.v} KV`, r));
        expect(r.whole, 'continuations equal to the last token').toBeGreaterThanOrEqual(Math.ceil(prompts.length / 2));
      } finally {
        model.close();
        await theirs.dispose();
      }
    });
    const probe = opts.probabilities;
    if (probe)
      it.each(probe.types)(`%s: teacher-forced next-token probabilities equal llama.cpp's within ${probe.tol}`, async (type) => {
        const path = join(dir, `${name}-${type}.gguf`);
        const model = await Model.load(path, { nCtx });
        const theirs = await load(path, nCtx);
        try {
          const [prompt] = heldoutPrompts(model, 1, 48);
          const gap = await maxProbabilityGap(model, theirs, prompt);
          report.push(`  ${type.padEnd(16)} max |Δp| ${gap.toExponential(1)} teacher-forced over 48 tokens`);
          expect(gap).toBeLessThan(probe.tol);
        } finally {
          model.close();
          await theirs.dispose();
        }
      });
  });
}
