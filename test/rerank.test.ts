/**
 * /v1/rerank and /api/rerank through the real daemon on a random-weight
 * bert reranker (a classification head, pooling type rank) with the bge
 * vocabulary: the scores are the library's EmbeddingModel.rank scores (which
 * test/oracle-bert.test.ts checks against llama.cpp), best first, top_n of
 * them; bad input gets its 400/404 and the daemon stays up.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encoderSpec } from '../bench/arch-specs.js';
import { vocabSize, writeRandomModel } from '../bench/random-model.js';
import { EmbeddingModel } from '../engine/model/embedding.js';
import { cleanup, kiln, startDaemon, type RunningDaemon } from './helpers/daemon.js';
import { llamaSource } from './helpers/llama-src.js';

let d: RunningDaemon;
let modelPath: string;

const QUERY = 'Who made the heaven and the earth?';
const DOCS = ['In the beginning God created the heaven and the earth.', 'The quick brown fox', 'And the earth was without form, and void.', 'Blessed are the meek'];

beforeAll(async () => {
  d = await startDaemon();
  const vocabFrom = join(llamaSource(), 'models', 'ggml-vocab-bert-bge.gguf');
  modelPath = join(d.home, 'reranker.gguf');
  await writeRandomModel(
    modelPath,
    encoderSpec('bert', { nEmbd: 96, nHead: 3, nFf: 224, nLayer: 2, nCtx: 128 }, await vocabSize(vocabFrom), { pooling: 4, vocabFrom, rerank: true }),
  );
  writeFileSync(join(d.home, 'Modelfile.rr'), `FROM ${modelPath}\n`);
  const created = await kiln(['create', 'rr', '-f', join(d.home, 'Modelfile.rr')], d.env);
  expect(created.code, created.stderr).toBe(0);
}, 120_000);

afterAll(async () => {
  await d?.stop();
  if (d) cleanup(d.home);
});

const post = (path: string, body: unknown) => fetch(`${d.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

describe('rerank', () => {
  it('/v1/rerank scores each document as the library does, best first, top_n of them, with the documents on request', async () => {
    const m = await EmbeddingModel.load(modelPath);
    const expected = m.rank(QUERY, DOCS);
    m.close();
    const r = await post('/v1/rerank', { model: 'rr', query: QUERY, documents: [DOCS[0], DOCS[1], { text: DOCS[2] }, DOCS[3]], top_n: 3, return_documents: true });
    expect(r.status).toBe(200);
    const body = (await r.json()) as { object: string; model: string; results: { index: number; relevance_score: number; document?: { text: string } }[]; usage: { prompt_tokens: number } };
    expect(body.object).toBe('list');
    expect(body.model).toBe('rr');
    expect(body.results).toHaveLength(3);
    const best = [...expected].sort((a, b) => b.score - a.score).slice(0, 3);
    expect(body.results.map((x) => x.index)).toEqual(best.map((x) => x.index));
    for (const x of body.results) {
      expect(x.relevance_score).toBeCloseTo(expected[x.index].score, 5);
      expect(x.document?.text).toBe(DOCS[x.index]);
    }
    expect(body.usage.prompt_tokens).toBeGreaterThan(4 * 10);
  });

  it('/api/rerank answers the same, every document without top_n, no texts unless asked', async () => {
    const a = (await (await post('/api/rerank', { model: 'rr', query: QUERY, documents: DOCS })).json()) as { results: { index: number; relevance_score: number; document?: unknown }[] };
    const b = (await (await post('/v1/rerank', { model: 'rr', query: QUERY, documents: DOCS })).json()) as typeof a;
    expect(a.results).toHaveLength(DOCS.length);
    expect(a.results).toEqual(b.results);
    expect(a.results.every((x) => x.document === undefined)).toBe(true);
    for (let i = 1; i < a.results.length; i++) expect(a.results[i - 1].relevance_score).toBeGreaterThanOrEqual(a.results[i].relevance_score);
  });

  it('refuses bad input with 400/404 in each surface’s error shape, and stays up', async () => {
    const cases: [string, unknown, number, RegExp][] = [
      ['/v1/rerank', { model: 'rr', documents: DOCS }, 400, /query/],
      ['/v1/rerank', { model: 'rr', query: QUERY, documents: 'one' }, 400, /documents/],
      ['/api/rerank', { model: 'rr', query: QUERY, documents: [1] }, 400, /documents\[0\]/],
      ['/api/rerank', { model: 'rr', query: QUERY, documents: DOCS, top_n: 0 }, 400, /top_n/],
      ['/api/rerank', { model: 'kjv', query: QUERY, documents: DOCS }, 400, /"kjv" does not support rerank/],
      ['/v1/rerank', { model: 'nope', query: QUERY, documents: DOCS }, 404, /nope/],
    ];
    for (const [path, body, status, msg] of cases) {
      const r = await post(path, body);
      expect(r.status, JSON.stringify(body)).toBe(status);
      const e = (await r.json()) as { error: string | { message: string } };
      expect(typeof e.error === 'string' ? e.error : e.error.message).toMatch(msg);
    }
    expect((await fetch(`${d.url}/api/version`)).status).toBe(200);
  });
});
