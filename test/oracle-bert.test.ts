/**
 * The BERT-family encoder against llama.cpp (node-llama-cpp, pinned): small
 * random-weight bert and nomic-bert models, written by kiln's GGUF writer with
 * the tokenizer of llama.cpp's bge vocabulary fixture, in F32 and quantized by
 * kiln to F16 and Q8_0. Each input's pooled embedding (mean and CLS pooling)
 * must have cosine ≥ 0.9999 with llama.cpp's (MIN_COSINE), and a random reranker's scores (the probability node-llama-cpp's
 * rank() gives) must equal llama.cpp's within 1e-3. Inputs are token ids (starting with
 * [CLS] and ending with [SEP], so neither side adds any), one of them longer
 * than 64 tokens (where attention switches to f32 tiles on both sides).
 */
import { join } from 'node:path';
import type { LlamaModel } from 'node-llama-cpp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeRandomModel, vocabSize, type RandomModelSpec } from '../bench/random-model.js';
import { gv } from '../engine/gguf/types.js';
import { EmbeddingModel, sigmoid } from '../engine/model/embedding.js';
import type { MixName } from '../engine/quantize/policy.js';
import { quantizeFile } from '../engine/quantize/quantize.js';
import { encoderSpec } from '../bench/arch-specs.js';
import { cleanup, tempHome } from './helpers/daemon.js';
import { oracle } from './helpers/llama-cpp.js';
import { llamaSource } from './helpers/llama-src.js';

const TYPES: MixName[] = ['f32', 'f16', 'q8_0'];
/**
 * Every type must agree to cosine 0.9999 (issue 12). Q8_0 rounds every
 * activation to 8 bits before each matmul on both sides, so an ulp of
 * difference upstream can move a value a whole step (1/127 of its block's
 * largest). With RoPE, RMSNorm, SiLU and flash attention's sum rounded as
 * llama.cpp rounds them, the worst Q8_0 cosine went from 0.99989 (nomic-bert)
 * to 0.99997 (bert, CLS pooling).
 */
const MIN_COSINE: Record<string, number> = { f32: 0.9999, f16: 0.9999, q8_0: 0.9999 };
const N_CTX = 128;
const CLS = 101, SEP = 102;

/** Deterministic inputs of word-piece ids (not special tokens), wrapped in [CLS] … [SEP]. */
function inputs(lengths: number[], seed: number): number[][] {
  let s = seed;
  const next = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0), s);
  return lengths.map((n) => [CLS, ...Array.from({ length: n - 2 }, () => 1000 + (next() % 29000)), SEP]);
}

function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let ab = 0, aa = 0, bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += a[i] * b[i];
    aa += a[i] * a[i];
    bb += b[i] * b[i];
  }
  return ab / Math.sqrt(aa * bb);
}

/** bert: 160 wide, 5 heads of 32, FFN 384, 3 layers, separate q/k/v with biases, absolute positions (a reranker: 96 wide, 3 heads, FFN 224). */
function bertSpec(nVocab: number, pooling: number, vocabFrom: string, rerank = false): RandomModelSpec {
  const shape = rerank ? { nEmbd: 96, nHead: 3, nFf: 224 } : { nEmbd: 160, nHead: 5, nFf: 384 };
  return encoderSpec('bert', { ...shape, nLayer: 3, nCtx: N_CTX }, nVocab, { pooling, vocabFrom, rerank });
}

/** nomic-bert: 192 wide, 3 heads of 64, FFN 320 (SwiGLU), 4 layers, fused qkv, NEOX rotary with base 1000. */
function nomicSpec(nVocab: number, pooling: number, vocabFrom: string): RandomModelSpec {
  return encoderSpec('nomic-bert', { nEmbd: 192, nHead: 3, nFf: 320, nLayer: 4, nCtx: 2048 }, nVocab, { pooling, vocabFrom });
}

let dir: string;
let vocabFrom: string;
let nVocab: number;

beforeAll(async () => {
  dir = tempHome('kiln-oracle-bert-');
  vocabFrom = join(llamaSource(), 'models', 'ggml-vocab-bert-bge.gguf');
  nVocab = await vocabSize(vocabFrom);
}, 120_000);

afterAll(async () => {
  cleanup(dir);
  await (await oracle()).dispose();
});

/** Writes the F32 model and kiln's quantizations of it; returns the path of each type. */
async function build(name: string, spec: RandomModelSpec): Promise<Record<string, string>> {
  const f32 = join(dir, `${name}-f32.gguf`);
  await writeRandomModel(f32, spec);
  const out: Record<string, string> = { f32 };
  for (const t of TYPES) if (t !== 'f32') await quantizeFile(f32, (out[t] = join(dir, `${name}-${t}.gguf`)), t);
  return out;
}

async function theirModel(path: string): Promise<LlamaModel> {
  return (await oracle()).loadModel({ modelPath: path });
}

const CASES = [
  { arch: 'bert', pooling: 'mean', code: 1 },
  { arch: 'bert', pooling: 'cls', code: 2 },
  { arch: 'nomic-bert', pooling: 'mean', code: 1 },
  { arch: 'nomic-bert', pooling: 'cls', code: 2 },
] as const;

describe.each(CASES)('$arch, $pooling pooling: embeddings against llama.cpp', ({ arch, pooling, code }) => {
  let paths: Record<string, string>;
  beforeAll(async () => {
    paths = await build(`${arch}-${pooling}`, arch === 'bert' ? bertSpec(nVocab, code, vocabFrom) : nomicSpec(nVocab, code, vocabFrom));
  }, 120_000);

  it.each(TYPES)('%s: cosine ≥ 0.9999 to llama.cpp on every input', async (type) => {
    const ours = await EmbeddingModel.load(paths[type], { nCtx: N_CTX });
    const model = await theirModel(paths[type]);
    const ctx = await model.createEmbeddingContext({ contextSize: N_CTX, threads: 1 });
    try {
      expect(ours.hp.pooling).toBe(pooling);
      const cos: number[] = [];
      for (const toks of inputs([5, 19, 46, 90], arch.length * 7 + code)) {
        const theirs = (await ctx.getEmbeddingFor(toks as never)).vector;
        const mine = ours.encodeTokens(toks);
        expect(mine.length).toBe(theirs.length);
        cos.push(cosine(mine, theirs));
      }
      console.log(`${arch} ${pooling} ${type}: cosines ${cos.map((c) => c.toFixed(7)).join(' ')}`);
      for (const c of cos) expect(c).toBeGreaterThanOrEqual(MIN_COSINE[type]);
    } finally {
      ours.close();
      await ctx.dispose();
      await model.dispose();
    }
  });
});

describe('bert reranker (cls head, rank pooling): scores against llama.cpp', () => {
  let paths: Record<string, string>;
  beforeAll(async () => {
    paths = await build('rerank', bertSpec(nVocab, 4, vocabFrom, true));
  }, 120_000);

  it.each(TYPES)('%s: scores equal llama.cpp within 1e-3', async (type) => {
    const ours = await EmbeddingModel.load(paths[type], { nCtx: N_CTX });
    const model = await theirModel(paths[type]);
    const ctx = await model.createRankingContext({ contextSize: N_CTX, threads: 1 });
    try {
      expect(ours.isReranker).toBe(true);
      const query = inputs([7], 3)[0].slice(1, -1);
      const docs = inputs([4, 12, 30, 70], 5).map((d) => d.slice(1, -1));
      const rows: string[] = [];
      for (const doc of docs) {
        // node-llama-cpp's pair for this vocabulary (BOS [CLS], no EOS, SEP [SEP]): [CLS] query [SEP] document
        const relevance = await ctx.rank(query as never, doc as never);
        const score = ours.scoreTokens([CLS, ...query, SEP, ...doc]);
        const theirLogit = Math.log(relevance / (1 - relevance));
        rows.push(`${score.toFixed(5)}/${theirLogit.toFixed(5)}`);
        // the score node-llama-cpp's rank() gives (the probability) and the raw logit within 1e-3 (F16's
        // logit was 1.6e-3 off before F16 matrices took binary16 activations as llama.cpp's do; 6e-4 now)
        expect(Math.abs(sigmoid(score) - relevance)).toBeLessThanOrEqual(1e-3);
        expect(Math.abs(score - theirLogit)).toBeLessThanOrEqual(1e-3);
      }
      console.log(`rerank ${type}: kiln/llama.cpp logits ${rows.join(' ')}`);
    } finally {
      ours.close();
      await ctx.dispose();
      await model.dispose();
    }
  });
});

describe('library API on text: EmbeddingModel.embed and rank against llama.cpp', () => {
  const TEXTS = ['Why is the sky blue?', 'Rayleigh scattering makes the sky look blue during the day.', "Llamas are members of the camelid family, aren't they?"];
  let bert: string, rerank: string;
  beforeAll(async () => {
    // F16 matrices written directly (no quantization pass)
    bert = await writeRandomModel(join(dir, 'text-bert.gguf'), { ...bertSpec(nVocab, 1, vocabFrom), seed: 7, matrixType: 'F16' });
    rerank = await writeRandomModel(join(dir, 'text-rerank.gguf'), { ...bertSpec(nVocab, 4, vocabFrom, true), seed: 9, matrixType: 'F16' });
  }, 120_000);

  it('embed(text): [CLS] … [SEP] tokenized, L2-normalized, cosine ≥ 0.9999 to llama.cpp', async () => {
    const ours = await EmbeddingModel.load(bert);
    const model = await theirModel(bert);
    const ctx = await model.createEmbeddingContext({ contextSize: N_CTX, threads: 1 });
    try {
      for (const text of TEXTS) {
        const mine = ours.embed(text);
        expect(Math.hypot(...mine)).toBeCloseTo(1, 5);
        expect(cosine(mine, (await ctx.getEmbeddingFor(text)).vector)).toBeGreaterThanOrEqual(0.9999);
      }
    } finally {
      ours.close();
      await ctx.dispose();
      await model.dispose();
    }
  });

  it('rank(query, documents): every relevance equals llama.cpp ranking within 1e-3', async () => {
    const ours = await EmbeddingModel.load(rerank);
    const model = await theirModel(rerank);
    const ctx = await model.createRankingContext({ contextSize: N_CTX, threads: 1 });
    try {
      const results = ours.rank(TEXTS[0], TEXTS.slice(1).concat(['blue']));
      const theirs = await ctx.rankAll(TEXTS[0], TEXTS.slice(1).concat(['blue']));
      expect(results.map((r) => r.index)).toEqual([0, 1, 2]);
      results.forEach((r, i) => expect(Math.abs(r.relevance - theirs[i])).toBeLessThanOrEqual(1e-3));
      expect(() => ours.embed('x')).toThrow(/reranker/);
    } finally {
      ours.close();
      await ctx.dispose();
      await model.dispose();
    }
  });
});
