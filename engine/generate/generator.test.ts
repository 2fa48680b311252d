import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { KJV_F32, KJV_GOLDEN } from '../../test/helpers/fixtures.js';
import { isKilnError } from '../../common/errors.js';
import { Model } from '../model/model.js';
import { Generator } from './generator.js';
import type { GenerateChunk, GenerateOptions, GenerateStats } from './types.js';

const golden = (JSON.parse(readFileSync(KJV_GOLDEN, 'utf8')) as { prompts: { prompt: string; prompt_tokens: number[]; generated_tokens: number[] }[] }).prompts;
const GREEDY: GenerateOptions = { temperature: 0, repeat_penalty: 1 };
const EOS = 1996;

async function collect(gen: AsyncGenerator<GenerateChunk, GenerateStats>): Promise<{ chunks: GenerateChunk[]; stats: GenerateStats }> {
  const chunks: GenerateChunk[] = [];
  for (;;) {
    const r = await gen.next();
    if (r.done) return { chunks, stats: r.value };
    chunks.push(r.value);
  }
}
const textOf = (chunks: GenerateChunk[]) => chunks.map((c) => c.text).join('');
const tokensOf = (chunks: GenerateChunk[]) => chunks.flatMap((c) => c.tokens);

/** A mask that forbids the end-of-generation tokens, so a run goes on until its limit. */
const noEog = (l: Float32Array) => {
  for (const id of [1996, 1999]) l[id] = -Infinity;
};

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  return undefined;
}

let model: Model;
let gen: Generator;
beforeAll(async () => {
  model = await Model.load(KJV_F32, { nCtx: 256, kvF16: false });
  gen = new Generator(model);
});
afterAll(() => model?.close());

describe('Generator.generate', () => {
  it('streams the golden greedy continuation, text equal to the decoded tokens', async () => {
    for (const g of golden.slice(0, 3)) {
      gen.reset(); // (the prompts share their first token: a cache would count only the rest)
      const { chunks, stats } = await collect(gen.generate(g.prompt_tokens, { ...GREEDY, num_predict: 32 }));
      expect(tokensOf(chunks)).toEqual(g.generated_tokens);
      expect(textOf(chunks)).toBe(model.tokenizer.decode(g.generated_tokens));
      expect(stats).toMatchObject({ doneReason: 'length', promptEvalCount: g.prompt_tokens.length, evalCount: 32 });
      expect(stats.context).toEqual([...g.prompt_tokens, ...g.generated_tokens]);
      expect(stats.promptEvalDurationNs).toBeGreaterThan(0);
      expect(stats.evalDurationNs).toBeGreaterThan(0);
    }
  });

  it('matches a stop string spanning tokens, never emitting any of it', async () => {
    // Greedy: " of| the| LORD|,| and| the| LORD| spake| unto| Moses" …
    const p = golden[0].prompt_tokens;
    for (const [stop, before] of [
      ['LORD spake', ' of the LORD, and the '],
      ['ORD, and th', ' of the L'],
      [' unto Moses', ' of the LORD, and the LORD spake'],
    ]) {
      const { chunks, stats } = await collect(gen.generate(p, { ...GREEDY, num_predict: 32, stop: ['never', stop] }));
      expect(textOf(chunks)).toBe(before);
      expect(stats).toMatchObject({ doneReason: 'stop', stopSequence: stop });
      expect(stats.context.length).toBeLessThan(p.length + stats.evalCount);
    }
  });

  it('holds back text that may start a stop string and releases it when it does not', async () => {
    // " of| the| LORD|,": with stop " the LORDS", " the" and then " the LORD" wait; "," settles it.
    const { chunks, stats } = await collect(gen.generate(golden[0].prompt_tokens, { ...GREEDY, num_predict: 4, stop: [' the LORDS'] }));
    expect(chunks.map((c) => c.text)).toEqual([' of', ' the LORD,']);
    expect(chunks.map((c) => c.tokens.length)).toEqual([1, 3]);
    expect(stats.doneReason).toBe('length');
  });

  it('streams only whole UTF-8 characters when a character spans byte tokens', async () => {
    // Byte tokens 0..255 are the bytes themselves; force é (C3 A9) and 🦙 (F0 9F A6 99).
    const forced = [0x41, 0xc3, 0xa9, 0xf0, 0x9f, 0xa6, 0x99, 0x42];
    let step = 0;
    const mask = (l: Float32Array) => {
      const keep = forced[step++];
      l.fill(-Infinity);
      l[keep] = 0;
    };
    const { chunks } = await collect(gen.generate(golden[0].prompt_tokens, { ...GREEDY, num_predict: forced.length, mask }));
    expect(chunks).toEqual([
      { text: 'A', tokens: [0x41] },
      { text: 'é', tokens: [0xc3, 0xa9] },
      { text: '🦙', tokens: [0xf0, 0x9f, 0xa6, 0x99] },
      { text: 'B', tokens: [0x42] },
    ]);
  });

  it('flushes an incomplete character at the end as U+FFFD', async () => {
    let step = 0;
    const mask = (l: Float32Array) => {
      l.fill(-Infinity);
      l[[0x41, 0xf0, 0x9f][step++]] = 0;
    };
    const { chunks } = await collect(gen.generate(golden[0].prompt_tokens, { ...GREEDY, num_predict: 3, mask }));
    expect(textOf(chunks)).toBe('A\uFFFD');
  });

  it('stops at an end-of-generation token without emitting it', async () => {
    let step = 0;
    const mask = (l: Float32Array) => {
      if (++step === 3) l[EOS] = 1e9;
    };
    const { chunks, stats } = await collect(gen.generate(golden[0].prompt_tokens, { ...GREEDY, mask }));
    expect(tokensOf(chunks)).toEqual(golden[0].generated_tokens.slice(0, 2));
    expect(stats).toMatchObject({ doneReason: 'stop', evalCount: 3 });
    expect(stats.stopSequence).toBeUndefined();
    expect(stats.context).toEqual([...golden[0].prompt_tokens, ...golden[0].generated_tokens.slice(0, 2)]);
  });

  it('gives the same text for the same seed and another for a different seed', async () => {
    const run = async (seed: number) => textOf((await collect(gen.generate(golden[1].prompt_tokens, { temperature: 1, seed, num_predict: 24 }))).chunks);
    const a = await run(11);
    expect(await run(11)).toBe(a);
    expect(await run(12)).not.toBe(a);
  });

  it('reuses the cached prefix: evaluates only the new tokens, with logits equal to a fresh evaluation', async () => {
    const first = await collect(gen.generate(golden[2].prompt_tokens, { ...GREEDY, num_predict: 12 }));
    const next = [...first.stats.context, ...model.tokenizer.encode(' And Moses said', { addSpecial: false })];
    const logitsOf = async (g: Generator) => {
      let seen: Float32Array | undefined;
      const mask = (l: Float32Array) => {
        seen ??= l.slice();
      };
      await collect(g.generate(next, { ...GREEDY, num_predict: 1, mask }));
      return seen!;
    };
    const evalSpy = vi.spyOn(model.native, 'decode');
    const reused = await logitsOf(gen);
    const evaluated = evalSpy.mock.calls.reduce((n, c) => n + (c[0] as ArrayLike<number>).length, 0);
    evalSpy.mockRestore();
    // The cache held the prompt and 11 of the 12 generated tokens (the last was sampled, not evaluated).
    expect(evaluated).toBe(next.length - (golden[2].prompt_tokens.length + 11));

    gen.reset();
    const fresh = await logitsOf(gen);
    let maxDiff = 0;
    for (let i = 0; i < fresh.length; i++) maxDiff = Math.max(maxDiff, Math.abs(fresh[i] - reused[i]));
    // Equal up to float rounding: a fresh prompt runs through the batched
    // (gemm) kernels, the reused tail through the per-token ones, which sum in
    // another order. A stale or misplaced cache entry would move logits by
    // whole units, not by the ~1e-6 seen here.
    expect(maxDiff).toBeLessThan(1e-4);
  });

  it('re-evaluates the last token when the whole prompt is cached, and truncates a diverging cache', async () => {
    const p = golden[3].prompt_tokens;
    await collect(gen.generate(p, { ...GREEDY, num_predict: 1 }));
    const evalSpy = vi.spyOn(model.native, 'decode');
    const truncSpy = vi.spyOn(model.native, 'truncate');
    const again = await collect(gen.generate(p, { ...GREEDY, num_predict: 1 }));
    expect(evalSpy.mock.calls.map((c) => Array.from(c[0] as ArrayLike<number>))).toEqual([[p[p.length - 1]]]);
    expect(again.stats.promptEvalCount).toBe(1);
    expect(truncSpy).toHaveBeenCalledWith(p.length - 1, 0);
    evalSpy.mockRestore();
    truncSpy.mockRestore();
    expect(tokensOf(again.chunks)).toEqual(golden[3].generated_tokens.slice(0, 1));
  });

  it('ends with doneReason cancel when the signal aborts, between tokens', async () => {
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 15);
    const { stats } = await collect(gen.generate(golden[4].prompt_tokens, { ...GREEDY, mask: noEog, signal: ac.signal }));
    expect(stats.doneReason).toBe('cancel');
    expect(stats.evalCount).toBeGreaterThan(0);
    expect(stats.evalCount).toBeLessThan(256 - golden[4].prompt_tokens.length);

    const pre = new AbortController();
    pre.abort();
    const none = await collect(gen.generate(golden[4].prompt_tokens, { ...GREEDY, signal: pre.signal }));
    expect(none).toMatchObject({ chunks: [], stats: { doneReason: 'cancel', evalCount: 0 } });
  });

  it('stops at num_predict with doneReason length, and num_predict 0 generates nothing', async () => {
    const five = await collect(gen.generate(golden[5].prompt_tokens, { ...GREEDY, num_predict: 5 }));
    expect(five.stats).toMatchObject({ doneReason: 'length', evalCount: 5 });
    const zero = await collect(gen.generate(golden[5].prompt_tokens, { ...GREEDY, num_predict: 0 }));
    expect(zero).toMatchObject({ chunks: [], stats: { doneReason: 'length', evalCount: 0 } });
  });

  it('refuses a second call while one is running', async () => {
    const a = gen.generate(golden[0].prompt_tokens, { ...GREEDY, num_predict: 4 });
    await a.next();
    const err = await rejection(gen.generate(golden[0].prompt_tokens, GREEDY).next());
    expect(isKilnError(err, 'E_CONFLICT')).toBe(true);
    await collect(a);
    expect((await collect(gen.generate(golden[0].prompt_tokens, { ...GREEDY, num_predict: 1 }))).stats.evalCount).toBe(1);
  });
});

describe('Generator with a small context', () => {
  let small: Model;
  let g: Generator;
  const prompt = [1995, ...Array.from({ length: 19 }, (_, i) => 300 + i)]; // 20 tokens
  beforeAll(async () => {
    small = await Model.load(KJV_F32, { nCtx: 32, kvF16: false });
    g = new Generator(small);
  });
  afterAll(() => small?.close());

  it('ends with doneReason length when the context fills (-1 and -2 alike)', async () => {
    for (const num_predict of [-1, -2]) {
      const { chunks, stats } = await collect(g.generate(prompt, { ...GREEDY, mask: noEog, num_predict }));
      // 12 more tokens fit in the cache; a 13th can be sampled from the last logits.
      expect(stats).toMatchObject({ doneReason: 'length', evalCount: 13 });
      expect(tokensOf(chunks).length).toBe(13);
      expect(g.cachedTokens.length).toBe(32);
    }
  });

  it('honours a num_ctx below the loaded context', async () => {
    const { stats } = await collect(g.generate(prompt, { ...GREEDY, mask: noEog, num_ctx: 24 }));
    expect(stats).toMatchObject({ doneReason: 'length', evalCount: 5 });
  });

  it('refuses a prompt longer than the context, saying by how much', async () => {
    const long = [...prompt, ...prompt.slice(1, 14)]; // 33 tokens
    const err = await rejection(g.generate(long, GREEDY).next());
    expect(isKilnError(err, 'E_BAD_REQUEST')).toBe(true);
    expect((err as Error).message).toContain('33 tokens but num_ctx is 32');
    const bad = await rejection(g.generate([1995, 5000], GREEDY).next());
    expect((bad as Error).message).toContain('outside the vocabulary');
  });
});

describe('Generator.embed', () => {
  it('returns a unit vector, deterministic, mean and last pooling distinct', () => {
    const toks = model.tokenizer.encode('In the beginning God created the heaven and the earth.');
    const mean = gen.embed(toks);
    const last = gen.embed(toks, 'last');
    const norm = (v: Float32Array) => Math.sqrt(v.reduce((s, x) => s + x * x, 0));
    expect(mean).toHaveLength(256);
    expect(norm(mean)).toBeCloseTo(1, 5);
    expect(norm(last)).toBeCloseTo(1, 5);
    expect(Array.from(gen.embed(toks, 'mean'))).toEqual(Array.from(mean));
    expect(Array.from(last)).not.toEqual(Array.from(mean));
    // Last-token pooling is the final normed hidden state of the last position, scaled.
    model.native.truncate(0);
    model.native.eval(toks, 0);
    const h = model.native.hidden(toks.length).subarray((toks.length - 1) * 256);
    const scale = 1 / norm(h);
    last.forEach((x, i) => expect(x).toBeCloseTo(h[i] * scale, 6));
    gen.reset();
  });

  it('puts related texts closer than unrelated ones', () => {
    const e = (t: string) => gen.embed(model.tokenizer.encode(t));
    const dot = (a: Float32Array, b: Float32Array) => a.reduce((s, x, i) => s + x * b[i], 0);
    const a = e('And the LORD spake unto Moses, saying,');
    const b = e('And the LORD said unto Moses,');
    const c = e('1234567890 %%% ### @@@');
    expect(dot(a, b)).toBeGreaterThan(dot(a, c));
  });
});
