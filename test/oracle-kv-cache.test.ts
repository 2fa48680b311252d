/**
 * Quantized KV caches against llama.cpp (node-llama-cpp, pinned) with the
 * same cache types (its experimentalKvCacheKeyType / ValueType context
 * options; llama.cpp runs flash attention on the CPU, as kiln's f16 path
 * assumes): kiln's greedy continuations of kjv's held-out prompts equal
 * llama.cpp's under the near-tie rule, for q8_0 and q4_0 keys and values and
 * for keys and values of different types.
 *
 * What kiln does as llama.cpp does: each K and V row is quantized whole when
 * it is written (Q8_0 as the activation quantizer, Q4_0 round to nearest on
 * max / -8), q is quantized to Q8_0 once per head and scored with the Q8_0 /
 * Q4_0 dot product, an f16 V is summed in binary16 and a quantized one in
 * f32 with fused multiply-adds, and every batch runs the row-by-row
 * online-softmax path (llama.cpp never tiles a quantized cache).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Model } from '../engine/model/model.js';
import type { KvTypes } from '../common/kv-cache.js';
import { KJV_F32 } from './helpers/fixtures.js';
import { describeReport, expectGreedyParity, heldoutPrompts } from './helpers/decoder-oracle.js';
import { distributions, load, oracle, type LlamaKvType, type Loaded } from './helpers/llama-cpp.js';

/** Softmax of each nVocab row of a batch's logits. */
function softmaxRows(logits: Float32Array, nVocab: number): Float64Array[] {
  const out: Float64Array[] = [];
  for (let r = 0; r < logits.length / nVocab; r++) {
    const row = logits.subarray(r * nVocab, (r + 1) * nVocab);
    let max = -Infinity;
    for (const x of row) max = Math.max(max, x);
    const p = new Float64Array(nVocab);
    let sum = 0;
    for (let i = 0; i < nVocab; i++) sum += p[i] = Math.exp(row[i] - max);
    for (let i = 0; i < nVocab; i++) p[i] /= sum;
    out.push(p);
  }
  return out;
}

/** Largest |Δp| over every position and token. */
function maxDp(a: Float64Array[], b: Float64Array[]): number {
  let m = 0;
  for (let r = 0; r < a.length; r++) for (let i = 0; i < a[r].length; i++) m = Math.max(m, Math.abs(a[r][i] - b[r][i]));
  return m;
}

/** kiln's next-token distributions after each position of a prompt evaluated as one batch. */
function kilnDistributions(m: Model, prompt: number[]): Float64Array[] {
  m.native.truncate(0);
  return softmaxRows(m.native.eval(prompt, 0, true), m.hp.nVocab);
}

let f16: Model;
beforeAll(async () => {
  f16 = await Model.load(KJV_F32, { nCtx: 256 });
}, 60_000);
afterAll(() => f16?.close());

const CASES: KvTypes[] = [
  { k: 'q8_0', v: 'q8_0' },
  { k: 'q4_0', v: 'q4_0' },
  { k: 'q8_0', v: 'q4_0' },
  { k: 'q4_0', v: 'f16' },
];

const report: string[] = [];

afterAll(async () => {
  if (report.length) console.log(`\nkiln vs llama.cpp, kjv-f32 with a quantized KV cache (8 held-out prompts x 32 greedy tokens):\n${report.join('\n')}`);
  await (await oracle()).dispose();
});

const upper = (t: string) => t.toUpperCase() as LlamaKvType;

describe.each(CASES)('K $k, V $v', (kv) => {
  let ours: Model;
  let theirs: Loaded;
  beforeAll(async () => {
    ours = await Model.load(KJV_F32, { nCtx: 256, kvTypes: kv });
    theirs = await load(KJV_F32, 256, { k: upper(kv.k), v: upper(kv.v) });
  }, 60_000);
  afterAll(async () => {
    ours?.close();
    await theirs?.dispose();
  });

  it('holds the cache in the types asked for', () => {
    expect(ours.kvTypes).toEqual(kv);
  });

  it("gives llama.cpp's next-token distributions with the same cache, far closer than an f16 cache's", async () => {
    // one 96-token prompt in one batch: more queries than llama.cpp's tiling threshold (64), which a quantized cache never takes
    const prompt = heldoutPrompts(ours, 1, 96)[0];
    const ref = await distributions(theirs, prompt, ours.hp.nVocab);
    const same = maxDp(kilnDistributions(ours, prompt), ref);
    const asF16 = maxDp(kilnDistributions(f16, prompt), ref);
    report.push(`  ${`${kv.k}/${kv.v}`.padEnd(16)} max |Δp| vs llama.cpp ${same.toExponential(2)} (kiln with an f16 cache: ${asF16.toExponential(2)})`);
    expect(same).toBeLessThan(2e-3);
    expect(same).toBeLessThan(asF16 / 4);
  }, 60_000);

  it('continues the held-out prompts as llama.cpp does', async () => {
    const r = await expectGreedyParity(ours, theirs, heldoutPrompts(ours, 8, 24), 32);
    report.push(describeReport(`${kv.k}/${kv.v}`, r));
    expect(r.whole).toBeGreaterThanOrEqual(6);
  }, 120_000);
});
