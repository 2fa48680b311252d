import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decoderSpec } from '../../bench/arch-specs.js';
import { vocabSize, writeRandomModel } from '../../bench/random-model.js';
import { gv } from '../gguf/types.js';
import { KJV_F16, KJV_GOLDEN } from '../../test/helpers/fixtures.js';
import { Model } from '../model/model.js';
import { Batch } from './batch.js';
import { Generator } from './generator.js';
import { PromptCache } from './prompt-cache.js';
import type { GenerateChunk, GenerateOptions, GenerateStats } from './types.js';

const golden = (JSON.parse(readFileSync(KJV_GOLDEN, 'utf8')) as { prompts: { prompt_tokens: number[] }[] }).prompts;
const GREEDY: GenerateOptions = { temperature: 0, repeat_penalty: 1 };

async function run(gen: AsyncGenerator<GenerateChunk, GenerateStats>): Promise<{ tokens: number[]; stats: GenerateStats }> {
  const tokens: number[] = [];
  for (;;) {
    const r = await gen.next();
    if (r.done) return { tokens, stats: r.value };
    tokens.push(...r.value.tokens);
  }
}

function maxRelDiff(a: Float32Array, b: Float32Array): number {
  let worst = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) scale = Math.max(scale, Math.abs(b[i]));
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return worst / scale;
}

let model: Model; // four sequences
let alone: Model; // one
beforeAll(async () => {
  model = await Model.load(KJV_F16, { nCtx: 512, nSeq: 4 });
  alone = await Model.load(KJV_F16, { nCtx: 512 });
});
afterAll(() => {
  model?.close();
  alone?.close();
});

describe('NativeLlama.decode: several sequences in one pass', () => {
  it('gives each sequence the logits it gets alone, and keeps their caches apart', () => {
    const prompts = golden.slice(0, 3).map((g) => g.prompt_tokens);
    const V = model.hp.nVocab;
    // alone: each prompt, then 6 greedy steps, on a one-sequence context
    const ref: Float32Array[][] = [];
    const steps: number[][] = [];
    for (const p of prompts) {
      alone.native.truncate(0);
      let l = alone.native.eval(p, 0);
      const mine = [l];
      const toks: number[] = [];
      for (let s = 0; s < 6; s++) {
        let best = 0;
        for (let i = 1; i < V; i++) if (l[i] > l[best]) best = i;
        toks.push(best);
        l = alone.native.eval([best], p.length + s);
        mine.push(l);
      }
      ref.push(mine);
      steps.push(toks);
    }
    // together: the three prompts in ONE decode on sequences 1..3, then each step's three tokens in one decode
    const entries = prompts.flatMap((p, k) => p.map((t, i) => [t, i, k + 1]));
    const outs: number[] = [];
    let at = 0;
    for (const p of prompts) outs.push((at += p.length) - 1);
    let logits = model.native.decode(
      Int32Array.from(entries.map((e) => e[0])),
      Int32Array.from(entries.map((e) => e[1])),
      Int32Array.from(entries.map((e) => e[2])),
      Int32Array.from(outs),
    );
    // within float error, not bit for bit: a batch of several tokens sums its F16 matmuls in the
    // order of llama.cpp's gemm, one token in its vec_dot order (as llama.cpp does); a cache shared
    // or mixed up between sequences would be off by far more
    for (let s = 0; s <= 6; s++) {
      for (let k = 0; k < 3; k++) expect(maxRelDiff(logits.subarray(k * V, (k + 1) * V), ref[k][s])).toBeLessThan(1e-3);
      if (s === 6) break;
      logits = model.native.decode(
        Int32Array.from(steps.map((t) => t[s])),
        Int32Array.from(prompts.map((p) => p.length + s)),
        Int32Array.from([1, 2, 3]),
        Int32Array.from([0, 1, 2]),
      );
    }
    expect(prompts.map((p, k) => model.native.seqLen(k + 1))).toEqual(prompts.map((p) => p.length + 6));
    expect(model.native.seqLen(0)).toBe(0);
  });

  it('refuses a batch whose sequence does not continue its cache', () => {
    model.native.truncate(0, 0);
    expect(() => model.native.decode(Int32Array.from([5]), Int32Array.from([3]), Int32Array.from([0]), Int32Array.from([0]))).toThrow(/continue/);
    expect(() => model.native.decode(Int32Array.from([5]), Int32Array.from([0]), Int32Array.from([4]), Int32Array.from([0]))).toThrow(/sequence/);
  });

  it('saves a sequence\'s KV rows and loads them into another sequence of another context', () => {
    const p = golden[0].prompt_tokens;
    model.native.truncate(0, 2);
    model.native.decode(Int32Array.from(p), Int32Array.from(p.map((_, i) => i)), new Int32Array(p.length).fill(2), new Int32Array(0));
    const bytes = model.native.kvSave(2, 0, p.length - 1);
    alone.native.truncate(0);
    alone.native.kvLoad(0, 0, p.length - 1, new Uint8Array(bytes));
    const fromCopy = alone.native.eval([p.at(-1)!], p.length - 1);
    alone.native.truncate(0);
    const direct = alone.native.eval(p, 0);
    expect(maxRelDiff(fromCopy, direct)).toBeLessThan(1e-4);
  });
});

describe('NativeLlama.decode on other architectures: batched equals alone', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-batch-arch-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const shapes = {
    // sliding window 16 on every other layer, its own RoPE base: prompts longer than the window, one long enough for the tiled attention path
    gemma3: { shape: { nEmbd: 64, nHead: 4, nHeadKv: 2, headDim: 32, nFf: 128, nLayer: 2 }, kv: { 'attention.sliding_window': gv.u32(16), 'attention.sliding_window_pattern': gv.u32(2) } },
    // fused qkv and gate|up
    phi3: { shape: { nEmbd: 96, nHead: 3, nHeadKv: 3, nFf: 160, nLayer: 2 }, kv: {} },
  } as const;
  for (const [arch, { shape, kv }] of Object.entries(shapes)) {
    it(`${arch}: three sequences prefilled and decoded together, one shifted, give the logits each gets alone`, async () => {
      const path = await writeRandomModel(join(dir, `${arch}.gguf`), decoderSpec(arch, shape, await vocabSize(), { kv }));
      const many = await Model.load(path, { nCtx: 128, nSeq: 3 });
      const one = await Model.load(path, { nCtx: 128 });
      try {
        const V = many.hp.nVocab;
        const prompts = [80, 20, 40].map((n, k) => Array.from({ length: n }, (_, i) => 3 + ((i * 31 + k * 17) % (V - 3))));
        const entries = prompts.flatMap((p, k) => p.map((t, i) => [t, i, k]));
        let at = 0;
        const outs = prompts.map((p) => (at += p.length) - 1);
        const got = [many.native.decode(Int32Array.from(entries.map((e) => e[0])), Int32Array.from(entries.map((e) => e[1])), Int32Array.from(entries.map((e) => e[2])), Int32Array.from(outs))];
        // sequence 1 drops 8 positions after the first 2 (a context shift), the others do not
        const len = prompts.map((p) => p.length);
        len[1] = many.native.shift(2, 8, 1);
        const next = [7, 8, 9];
        got.push(many.native.decode(Int32Array.from(next), Int32Array.from(len), Int32Array.from([0, 1, 2]), Int32Array.from([0, 1, 2])));
        for (let k = 0; k < 3; k++) {
          one.native.truncate(0);
          const first = one.native.eval(prompts[k], 0);
          expect(maxRelDiff(got[0].subarray(k * V, (k + 1) * V), first)).toBeLessThan(1e-4);
          const pos = k === 1 ? one.native.shift(2, 8) : prompts[k].length;
          expect(pos).toBe(len[k]);
          const second = one.native.eval([next[k]], pos);
          expect(maxRelDiff(got[1].subarray(k * V, (k + 1) * V), second)).toBeLessThan(1e-4);
        }
      } finally {
        many.close();
        one.close();
      }
    });
  }
});

describe('Generator: concurrent requests batched', () => {
  it('four greedy requests at once equal the same requests one at a time, in batched steps', async () => {
    const prompts = golden.slice(0, 4).map((g) => g.prompt_tokens);
    const gens = [0, 1, 2, 3].map((seq) => new Generator(model, { seq }));
    const opts = { ...GREEDY, num_predict: 24 };
    const one: number[][] = [];
    for (const p of prompts) one.push((await run(gens[0].generate(p, opts))).tokens);
    const batch = Batch.of(model);
    const steps0 = batch.steps;
    const together = await Promise.all(prompts.map((p, k) => run(gens[k].generate(p, opts))));
    expect(together.map((r) => r.tokens)).toEqual(one);
    // 4 prompts + 24 tokens each in (about) 24 steps, not 4 × 24
    expect(batch.steps - steps0).toBeLessThan(40);
    expect(batch.maxEntries).toBeGreaterThanOrEqual(4);
  });

  it('a cancelled request ends alone; the others go on unchanged', async () => {
    const prompts = golden.slice(0, 3).map((g) => g.prompt_tokens);
    const gens = [0, 1, 2].map((seq) => new Generator(model, { seq }));
    const opts = { ...GREEDY, num_predict: 20 };
    const ref: number[][] = [];
    for (const p of prompts) ref.push((await run(gens[0].generate(p, opts))).tokens);
    const ac = new AbortController();
    const cancelled = (async () => {
      const it = gens[1].generate(prompts[1], { ...opts, signal: ac.signal });
      let n = 0;
      for (;;) {
        const r = await it.next();
        if (r.done) return r.value;
        if (++n === 3) ac.abort();
      }
    })();
    const [a, stats, c] = await Promise.all([run(gens[0].generate(prompts[0], opts)), cancelled, run(gens[2].generate(prompts[2], opts))]);
    expect(stats.doneReason).toBe('cancel');
    expect(a.tokens).toEqual(ref[0]);
    expect(c.tokens).toEqual(ref[2]);
  });
});

describe('PromptCache', () => {
  it('a prompt that continues an earlier conversation evaluates only the new tokens, from another sequence or context', async () => {
    const cache = new PromptCache(64 << 20, model.hp.nLayer);
    const g0 = new Generator(model, { seq: 0, promptCache: cache });
    const g1 = new Generator(model, { seq: 1, promptCache: cache });
    const first = golden[0].prompt_tokens;
    const r1 = await run(g0.generate(first, { ...GREEDY, num_predict: 16 }));
    expect(r1.stats.promptEvalCount).toBe(first.length);
    // seq 0 serves someone else meanwhile
    await run(g0.generate(golden[1].prompt_tokens, { ...GREEDY, num_predict: 4 }));
    const next = [...r1.stats.context, ...golden[2].prompt_tokens.slice(1)];
    const r2 = await run(g1.generate(next, { ...GREEDY, num_predict: 8 }));
    // the cache held the prompt and the answer but its last token (never evaluated)
    expect(r2.stats.promptEvalCount).toBe(next.length - (r1.stats.context.length - 1));
    // the same continuation without a cache: equal tokens
    const plain = new Generator(alone);
    expect((await run(plain.generate(next, { ...GREEDY, num_predict: 8 }))).tokens).toEqual(r2.tokens);
    // another context of the model (as after a reload), entries handed over
    const other = new PromptCache(64 << 20, alone.hp.nLayer);
    for (const e of cache.list()) other.add(e);
    const g = new Generator(alone, { promptCache: other });
    g.reset();
    const more = [...r2.stats.context, ...golden[3].prompt_tokens.slice(1)];
    const r3 = await run(g.generate(more, { ...GREEDY, num_predict: 4 }));
    expect(r3.stats.promptEvalCount).toBe(more.length - (r2.stats.context.length - 1));
  });

  it('drops the least recently used entries past its budget', () => {
    const row = 10;
    const cache = new PromptCache(100 * 2 * row * 3, 1); // room for 300 positions
    const seq = (base: number, n: number) => Array.from({ length: n }, (_, i) => base + i);
    cache.store(seq(0, 100), () => new Uint8Array(100 * 2 * row));
    cache.store(seq(1000, 100), () => new Uint8Array(100 * 2 * row));
    cache.store(seq(2000, 100), () => new Uint8Array(100 * 2 * row));
    expect(cache.lookup(seq(0, 50), 50)?.n).toBe(50); // touches the first
    cache.store(seq(3000, 100), () => new Uint8Array(100 * 2 * row));
    expect(cache.size).toBe(3);
    expect(cache.lookup(seq(1000, 50), 50)).toBeUndefined(); // the least recently used went
    expect(cache.lookup(seq(0, 60), 60)?.bytes.byteLength).toBe(60 * 2 * row);
  });
});
