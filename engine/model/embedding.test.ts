/**
 * The encoder's boundaries (kernels/binding/bert_binding.cc, engine/model/
 * bert.ts, EmbeddingModel): bad parameters, bad shapes and bad inputs are
 * typed errors, never a crash; pooling follows `{arch}.pooling_type`; and a
 * generative loader refuses an encoder with a clear message.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeRandomModel, vocabSize, type RandomModelSpec } from '../../bench/random-model.js';
import { mapFile, NativeBert } from '../../kernels/index.js';
import { cleanup, tempHome } from '../../test/helpers/daemon.js';
import { readGGUFFile } from '../gguf/reader.js';
import { gv } from '../gguf/types.js';
import { bertLayout } from './bert.js';
import { EmbeddingModel } from './embedding.js';
import { loadModel, Model } from './model.js';
import { Llama } from '../llama.js';

const D = 32, FF = 64, CTX = 16;

function spec(nVocab: number, extra: Partial<RandomModelSpec> = {}, pooling?: number): RandomModelSpec {
  const ln = (n: string) => [
    { name: `${n}.weight`, dims: [D], fill: { kind: 'norm' as const } },
    { name: `${n}.bias`, dims: [D], fill: { kind: 'uniform' as const, sigma: 0.05 } },
  ];
  return {
    arch: 'bert',
    kv: {
      'bert.context_length': gv.u32(CTX),
      'bert.embedding_length': gv.u32(D),
      'bert.block_count': gv.u32(1),
      'bert.feed_forward_length': gv.u32(FF),
      'bert.attention.head_count': gv.u32(2),
      'bert.attention.layer_norm_epsilon': gv.f32(1e-12),
      ...(pooling === undefined ? {} : { 'bert.pooling_type': gv.u32(pooling) }),
    },
    tensors: [
      { name: 'token_embd.weight', dims: [D, nVocab], fill: { kind: 'uniform', sigma: 1 } },
      { name: 'position_embd.weight', dims: [D, CTX], fill: { kind: 'uniform', sigma: 0.5 } },
      ...ln('token_embd_norm'),
      ...['q', 'k', 'v', 'output'].map((x) => ({ name: `blk.0.attn_${x}.weight`, dims: [D, D], fill: { kind: 'matrix' as const } })),
      ...ln('blk.0.attn_output_norm'),
      { name: 'blk.0.ffn_up.weight', dims: [D, FF], fill: { kind: 'matrix' } },
      { name: 'blk.0.ffn_down.weight', dims: [FF, D], fill: { kind: 'matrix' } },
      ...ln('blk.0.layer_output_norm'),
    ],
    ...extra,
  };
}

let dir: string;
let nVocab: number;
const paths: Record<string, string> = {};

beforeAll(async () => {
  dir = tempHome('kiln-embedding-');
  nVocab = await vocabSize();
  paths.none = await writeRandomModel(join(dir, 'none.gguf'), spec(nVocab));
  paths.mean = await writeRandomModel(join(dir, 'mean.gguf'), spec(nVocab, {}, 1));
  paths.cls = await writeRandomModel(join(dir, 'cls.gguf'), spec(nVocab, {}, 2));
  paths.last = await writeRandomModel(join(dir, 'last.gguf'), spec(nVocab, {}, 3));
  paths.bad = await writeRandomModel(join(dir, 'bad.gguf'), spec(nVocab, {}, 9));
  const rr = spec(nVocab, {}, 4);
  rr.tensors.push(
    { name: 'cls.weight', dims: [D, D], fill: { kind: 'matrix' } },
    { name: 'cls.bias', dims: [D], fill: { kind: 'uniform', sigma: 0.05 } },
    { name: 'cls.output.weight', dims: [D, 1], fill: { kind: 'matrix', gain: 3 } },
    { name: 'cls.output.bias', dims: [1], fill: { kind: 'uniform', sigma: 0.05 } },
  );
  paths.rerank = await writeRandomModel(join(dir, 'rerank.gguf'), rr);
}, 60_000);

afterAll(() => cleanup(dir));

describe('pooling', () => {
  it('follows {arch}.pooling_type: none gives every token, mean/cls/last one vector, related as their names say', async () => {
    const toks = [5, 9, 200, 31, 7];
    const models = Object.fromEntries(await Promise.all(['none', 'mean', 'cls', 'last'].map(async (k) => [k, await EmbeddingModel.load(paths[k])] as const)));
    try {
      const all = models.none.encodeTokens(toks);
      expect(all.length).toBe(toks.length * D);
      const row = (t: number) => all.subarray(t * D, (t + 1) * D);
      const mean = Float32Array.from({ length: D }, (_, j) => toks.reduce((s, _t, i) => s + row(i)[j], 0) / toks.length);
      const near = (a: Float32Array, b: Float32Array) => a.forEach((x, i) => expect(x).toBeCloseTo(b[i], 5));
      near(models.mean.encodeTokens(toks), mean);
      near(models.cls.encodeTokens(toks), row(0));
      near(models.last.encodeTokens(toks), row(toks.length - 1));
      // embedTokens: unit length, and a model without a pooling type is mean-pooled
      const e = models.none.embedTokens(toks);
      expect(Math.hypot(...e)).toBeCloseTo(1, 5);
      const m = models.mean.embedTokens(toks);
      e.forEach((x, i) => expect(x).toBeCloseTo(m[i], 5));
    } finally {
      for (const m of Object.values(models)) m.close();
    }
  });

  it('an unknown pooling type is E_GGUF_UNSUPPORTED', async () => {
    await expect(EmbeddingModel.load(paths.bad)).rejects.toMatchObject({ code: 'E_GGUF_UNSUPPORTED' });
  });
});

describe('bad inputs and shapes', () => {
  it('empty, too long and out-of-vocabulary inputs are E_BAD_REQUEST', async () => {
    const m = await EmbeddingModel.load(paths.mean);
    try {
      expect(m.hp.nCtx).toBe(CTX); // bounded by the position table
      expect(() => m.encodeTokens([])).toThrow(expect.objectContaining({ code: 'E_BAD_REQUEST' }));
      expect(() => m.encodeTokens(new Array(CTX + 1).fill(5))).toThrow(expect.objectContaining({ code: 'E_BAD_REQUEST' }));
      expect(() => m.encodeTokens([5, nVocab])).toThrow(expect.objectContaining({ code: 'E_BAD_REQUEST' }));
      expect(() => m.scoreTokens([5])).toThrow(/not a reranker/);
      expect(m.encodeTokens(new Array(CTX).fill(5)).length).toBe(D);
    } finally {
      m.close();
    }
  });

  it('the native side refuses wrong shapes and parameters with E_NATIVE, naming the field', async () => {
    const { hp, weights } = bertLayout(await readGGUFFile(paths.mean));
    const map = mapFile(paths.mean);
    try {
      expect(() => new NativeBert(map, { ...hp, nFf: FF + 1 }, weights)).toThrow(/wrong shape/);
      expect(() => new NativeBert(map, { ...hp, nCtx: CTX + 1 }, weights)).toThrow(/position embeddings/);
      expect(() => new NativeBert(map, { ...hp, normEps: -1 }, weights)).toThrow(/normEps/);
      expect(() => new NativeBert(map, { ...hp, nHead: undefined as never }, weights)).toThrow(/nHead is missing/);
      const enc = new NativeBert(map, hp, weights);
      enc.free();
      expect(() => enc.encode([1])).toThrow(/freed/);
    } finally {
      map.unmap();
    }
  });
});

describe('loading either kind', () => {
  it('loadModel gives an EmbeddingModel for an encoder; Model.load refuses one by name', async () => {
    const m = await loadModel(paths.mean);
    expect(m.kind).toBe('embedding');
    m.close();
    await expect(Model.load(paths.mean)).rejects.toThrow(/is an embedding model \(bert\)/);
  });
});

describe('Llama (library API) on an embedding model', () => {
  it('embeds as the EmbeddingModel does, and refuses complete and chat as Ollama words it', async () => {
    const llm = await Llama.load({ modelPath: paths.mean });
    const em = await EmbeddingModel.load(paths.mean);
    try {
      const v = await llm.embed('In the beginning');
      expect(v).toEqual(Array.from(em.embed('In the beginning')));
      expect(await llm.encoder()).toBeDefined();
      await expect(llm.complete('x')).rejects.toThrow('"mean.gguf" does not support generate');
      await expect(llm.chat([{ role: 'user', content: 'x' }])).rejects.toThrow('"mean.gguf" does not support chat');
      await expect(llm.rank('q', ['d'])).rejects.toThrow(/not a reranker/);
    } finally {
      em.close();
      await llm.close();
    }
  });

  it('rank(query, documents) scores each document with the classifier head, in order', async () => {
    const llm = await Llama.load({ modelPath: paths.rerank });
    const em = await EmbeddingModel.load(paths.rerank);
    try {
      const docs = ['In the beginning God created the heaven', 'and the earth', 'the'];
      const r = await llm.rank('In the beginning', docs);
      expect(r.map((x) => x.index)).toEqual([0, 1, 2]);
      r.forEach((x, i) => {
        expect(x.score).toBe(em.scoreTokens(em.tokenizer.encodePair('In the beginning', docs[i])));
        expect(x.relevance).toBeCloseTo(1 / (1 + Math.exp(-x.score)), 12);
      });
      expect(new Set(r.map((x) => x.score)).size).toBe(3);
    } finally {
      em.close();
      await llm.close();
    }
  });
});
