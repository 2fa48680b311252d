/**
 * Embedding models through the real daemon: small random-weight bert (mean
 * pooling) and nomic-bert (CLS pooling) GGUFs with the bge WordPiece
 * vocabulary, created from a Modelfile, served on /api/embed (the official
 * `ollama` client), /api/embeddings and /v1/embeddings (the official `openai`
 * client), each vector compared with llama.cpp's for the same text. A
 * generate or chat request gets Ollama's 400, /api/show says "embedding", and
 * `kiln run` says it is an embedding model.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ollama } from 'ollama';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { vocabSize, writeRandomModel } from '../bench/random-model.js';
import { gv } from '../engine/gguf/types.js';
import { fill } from '../bench/arch-specs.js';
import { cleanup, kiln, kilnEnv, startDaemon, type RunningDaemon } from './helpers/daemon.js';
import { oracle } from './helpers/llama-cpp.js';
import { llamaSource } from './helpers/llama-src.js';

const TEXTS = ['Why is the sky blue?', 'The sky is blue because of Rayleigh scattering.'];

let d: RunningDaemon;
let ollama: Ollama;
let openai: OpenAI;
const files: Record<string, string> = {};
/** llama.cpp's embedding of each text, per model. */
const theirs: Record<string, number[][]> = {};

function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let ab = 0, aa = 0, bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += a[i] * b[i];
    aa += a[i] * a[i];
    bb += b[i] * b[i];
  }
  return ab / Math.sqrt(aa * bb);
}

const ln = (name: string, d: number) => [
  { name: `${name}.weight`, dims: [d], fill: fill.norm(0.2) },
  { name: `${name}.bias`, dims: [d], fill: fill.bias(0.1) },
];

async function writeModels(dir: string): Promise<void> {
  const vocabFrom = join(llamaSource(), 'models', 'ggml-vocab-bert-bge.gguf');
  const nVocab = await vocabSize(vocabFrom);
  const D = 64, FF = 128, L = 2;
  const common = (arch: string, pooling: number) => ({
    [`${arch}.context_length`]: gv.u32(64),
    [`${arch}.embedding_length`]: gv.u32(D),
    [`${arch}.block_count`]: gv.u32(L),
    [`${arch}.feed_forward_length`]: gv.u32(FF),
    [`${arch}.attention.head_count`]: gv.u32(2),
    [`${arch}.attention.layer_norm_epsilon`]: gv.f32(1e-12),
    [`${arch}.pooling_type`]: gv.u32(pooling),
  });
  files.bert = await writeRandomModel(join(dir, 'bert.gguf'), {
    arch: 'bert',
    vocabFrom,
    kv: common('bert', 1),
    tensors: [
      { name: 'token_embd.weight', dims: [D, nVocab], fill: { kind: 'uniform', sigma: 1 } },
      { name: 'position_embd.weight', dims: [D, 64], fill: { kind: 'uniform', sigma: 0.5 } },
      ...ln('token_embd_norm', D),
      ...Array.from({ length: L }, (_, l) => [
        ...['q', 'k', 'v'].map((x) => ({ name: `blk.${l}.attn_${x}.weight`, dims: [D, D], fill: fill.matrix() })),
        { name: `blk.${l}.attn_output.weight`, dims: [D, D], fill: fill.matrix() },
        ...ln(`blk.${l}.attn_output_norm`, D),
        { name: `blk.${l}.ffn_up.weight`, dims: [D, FF], fill: fill.matrix() },
        { name: `blk.${l}.ffn_down.weight`, dims: [FF, D], fill: fill.matrix() },
        ...ln(`blk.${l}.layer_output_norm`, D),
      ]).flat(),
    ],
  });
  files.nomic = await writeRandomModel(join(dir, 'nomic.gguf'), {
    arch: 'nomic-bert',
    vocabFrom,
    kv: { ...common('nomic-bert', 2), 'nomic-bert.rope.freq_base': gv.f32(1000) },
    tensors: [
      { name: 'token_embd.weight', dims: [D, nVocab], fill: { kind: 'uniform', sigma: 1 } },
      { name: 'token_types.weight', dims: [D, 2], fill: { kind: 'uniform', sigma: 0.5 } },
      ...ln('token_embd_norm', D),
      ...Array.from({ length: L }, (_, l) => [
        { name: `blk.${l}.attn_qkv.weight`, dims: [D, 3 * D], fill: fill.matrix() },
        { name: `blk.${l}.attn_output.weight`, dims: [D, D], fill: fill.matrix() },
        ...ln(`blk.${l}.attn_output_norm`, D),
        ...['up', 'gate'].map((x) => ({ name: `blk.${l}.ffn_${x}.weight`, dims: [D, FF], fill: fill.matrix() })),
        { name: `blk.${l}.ffn_down.weight`, dims: [FF, D], fill: fill.matrix() },
        ...ln(`blk.${l}.layer_output_norm`, D),
      ]).flat(),
    ],
  });
  const llama = await oracle();
  for (const [name, path] of Object.entries(files)) {
    const model = await llama.loadModel({ modelPath: path });
    const ctx = await model.createEmbeddingContext({ contextSize: 64, threads: 1 });
    theirs[name] = [];
    for (const t of TEXTS) theirs[name].push([...(await ctx.getEmbeddingFor(t)).vector]);
    await ctx.dispose();
    await model.dispose();
  }
}

beforeAll(async () => {
  d = await startDaemon();
  await writeModels(d.home);
  for (const [name, path] of Object.entries(files)) {
    writeFileSync(join(d.home, `Modelfile.${name}`), `FROM ${path}\n`);
    const r = await kiln(['create', `r${name}`, '-f', join(d.home, `Modelfile.${name}`)], kilnEnv(d.home, { KILN_HOST: `127.0.0.1:${d.port}` }));
    expect(r.code, r.stderr).toBe(0);
  }
  ollama = new Ollama({ host: d.url });
  openai = new OpenAI({ baseURL: `${d.url}/v1`, apiKey: 'kiln', maxRetries: 0 });
}, 120_000);

afterAll(async () => {
  await d?.stop();
  if (d) cleanup(d.home);
  await (await oracle()).dispose();
});

describe.each(['bert', 'nomic'])('r%s through the daemon', (name) => {
  const model = `r${name}`;

  it('ollama.embed: unit vectors with cosine ≥ 0.9999 to llama.cpp, one per input', async () => {
    const r = await ollama.embed({ model, input: TEXTS });
    expect(r.model).toBe(model);
    expect(r.embeddings).toHaveLength(TEXTS.length);
    r.embeddings.forEach((e, i) => {
      expect(e).toHaveLength(64);
      expect(Math.hypot(...e)).toBeCloseTo(1, 5);
      expect(cosine(e, theirs[name][i])).toBeGreaterThanOrEqual(0.9999);
    });
    // [CLS] and [SEP] around each text's word pieces
    expect(r.prompt_eval_count).toBeGreaterThan(2 * TEXTS.length);
  });

  it('openai.embeddings.create and /api/embeddings give the same vectors', async () => {
    const r = await openai.embeddings.create({ model, input: TEXTS, encoding_format: 'float' });
    expect(r.data).toHaveLength(TEXTS.length);
    r.data.forEach((e, i) => expect(cosine(e.embedding, theirs[name][i])).toBeGreaterThanOrEqual(0.9999));
    const legacy = await ollama.embeddings({ model, prompt: TEXTS[0] });
    expect(cosine(legacy.embedding, theirs[name][0])).toBeGreaterThanOrEqual(0.9999);
  });

  it('generate and chat are refused with a 400 as Ollama words it', async () => {
    await expect(ollama.generate({ model, prompt: 'hi' })).rejects.toMatchObject({ status_code: 400, error: `"${model}" does not support generate` });
    await expect(ollama.generate({ model, prompt: '' })).rejects.toMatchObject({ status_code: 400 });
    await expect(ollama.chat({ model, messages: [{ role: 'user', content: 'hi' }] })).rejects.toMatchObject({ status_code: 400, error: `"${model}" does not support chat` });
    await expect(openai.chat.completions.create({ model, messages: [{ role: 'user', content: 'hi' }] })).rejects.toMatchObject({ status: 400 });
  });

  it('/api/show lists the "embedding" capability and not "completion"', async () => {
    const s = await ollama.show({ model });
    expect(s.capabilities).toEqual(['embedding']);
  });
});

it('kiln run on an embedding model says it is one, and exits non-zero', async () => {
  const r = await kiln(['run', 'rbert', 'hello'], kilnEnv(d.home, { KILN_HOST: `127.0.0.1:${d.port}` }));
  expect(r.code).not.toBe(0);
  expect(r.stderr).toMatch(/'rbert' is an embedding model/);
});

it('the daemon stays up and still serves the generative demo model', async () => {
  const r = await ollama.generate({ model: 'kjv', prompt: 'In the beginning', options: { num_predict: 2 } });
  expect(r.done).toBe(true);
});
