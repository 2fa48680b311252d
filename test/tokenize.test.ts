/**
 * POST /api/tokenize and /api/detokenize on the real daemon with the bundled
 * kjv model: llama-server's shapes, token for token with llama.cpp (through
 * node-llama-cpp, vocabulary only), the chat template applied for
 * `messages`, no weights loaded, the library's Llama giving the same answers,
 * and bad input refused with 4xx while the daemon stays up.
 */
import { join } from 'node:path';
import { Ollama } from 'ollama';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Llama } from '../engine/llama.js';
import { cleanup, ROOT, startDaemon, type RunningDaemon } from './helpers/daemon.js';
import { oracle } from './helpers/llama-cpp.js';

const KJV = join(ROOT, 'models', 'kjv', 'kjv-f16.gguf');
const MAX_BODY = 64 * 1024;

let d: RunningDaemon;

beforeAll(async () => {
  d = await startDaemon(undefined, { KILN_MAX_BODY: String(MAX_BODY) });
});

afterAll(async () => {
  await d?.stop();
  if (d) cleanup(d.home);
});

async function post(path: string, body: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const r = await fetch(`${d.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: typeof body === 'string' ? body : JSON.stringify(body) });
  return { status: r.status, json: (await r.json()) as Record<string, unknown> };
}

const TEXTS = ['In the beginning God created the heaven and the earth.', '  And the LORD said unto Moses,\n\tGo!', 'créa über 😀 日本語', '<|eot_id|> is control text', ''];

describe('tokenize and detokenize', () => {
  it('round-trips text through the model and loads no weights', async () => {
    for (const content of TEXTS) {
      const t = await post('/api/tokenize', { model: 'kjv', content });
      expect(t.status).toBe(200);
      expect(t.json.model).toBe('kjv');
      const tokens = t.json.tokens as number[];
      expect(tokens.every((x) => Number.isInteger(x))).toBe(true);
      const back = await post('/api/detokenize', { model: 'kjv', tokens });
      expect(back.status).toBe(200);
      expect(back.json.content).toBe(content);
    }
    const ps = (await (await fetch(`${d.url}/api/ps`)).json()) as { models: unknown[] };
    expect(ps.models).toEqual([]);
  });

  it("gives llama.cpp's tokens (add_special and parse_special as llama-server reads them)", async () => {
    const llama = await oracle();
    const model = await llama.loadModel({ modelPath: KJV, vocabOnly: true });
    try {
      for (const content of TEXTS) {
        // llama-server's defaults: no BOS, control tokens parsed
        const parsed = (await post('/api/tokenize', { model: 'kjv', content })).json.tokens;
        expect(parsed).toEqual([...model.tokenize(content, true)]);
        const plain = (await post('/api/tokenize', { model: 'kjv', content, parse_special: false })).json.tokens;
        expect(plain).toEqual([...model.tokenize(content, false)]);
        const withBos = (await post('/api/tokenize', { model: 'kjv', content, add_special: true })).json.tokens as number[];
        expect(withBos).toEqual([model.tokens.bos, ...model.tokenize(content, true)]);
        expect((await post('/api/detokenize', { model: 'kjv', tokens: withBos })).json.content).toBe(model.detokenize(withBos as never, true));
      }
    } finally {
      await model.dispose();
    }
  });

  it('answers pieces with with_pieces: text, or bytes for a piece that is part of a character', async () => {
    const content = 'In the beginning 😀';
    const r = await post('/api/tokenize', { model: 'kjv', content, with_pieces: true });
    const tokens = r.json.tokens as { id: number; piece: string | number[] }[];
    const ids = (await post('/api/tokenize', { model: 'kjv', content })).json.tokens;
    expect(tokens.map((t) => t.id)).toEqual(ids);
    expect(tokens.slice(0, 2).map((t) => t.piece)).toEqual(['In', ' the']);
    const bytes = tokens.flatMap((t) => (typeof t.piece === 'string' ? [...Buffer.from(t.piece)] : t.piece));
    expect(Buffer.from(bytes).toString('utf8')).toBe(content);
    expect(tokens.some((t) => Array.isArray(t.piece))).toBe(true); // the emoji is split into byte tokens
  });

  it("renders messages through the model's chat template: the very tokens /api/chat feeds the model", async () => {
    const messages = [
      { role: 'system', content: 'You are terse.' },
      { role: 'user', content: 'Who made the heaven?' },
    ];
    const r = await post('/api/tokenize', { model: 'kjv', messages });
    expect(r.status).toBe(200);
    const prompt = r.json.prompt as string;
    expect(prompt).toContain('<|start_header_id|>user<|end_header_id|>');
    expect(prompt).toContain('Who made the heaven?');
    const tokens = r.json.tokens as number[];
    expect(tokens.filter((t) => t === tokens[0]).length).toBe(1); // one BOS, though the template writes it too
    const chat = await new Ollama({ host: d.url }).chat({ model: 'kjv', messages, options: { num_predict: 1, temperature: 0 } });
    expect(chat.prompt_eval_count).toBe(tokens.length);
  });

  it('is the library API too: Llama.tokenize / tokenizeWithPieces / detokenize agree with the daemon', async () => {
    const llm = await Llama.load({ modelPath: KJV, nCtx: 64 });
    try {
      const content = TEXTS[2];
      const daemon = (await post('/api/tokenize', { model: 'kjv', content, add_special: true, with_pieces: true })).json.tokens;
      expect(await llm.tokenizeWithPieces(content, { addSpecial: true, parseSpecial: true })).toEqual(daemon);
      const ids = await llm.tokenize(content, { addSpecial: false, parseSpecial: true });
      expect(ids).toEqual((await post('/api/tokenize', { model: 'kjv', content })).json.tokens);
      const withBos = await llm.tokenize(content);
      expect(await llm.detokenize(withBos, { special: true })).toBe((await post('/api/detokenize', { model: 'kjv', tokens: withBos })).json.content);
      expect(await llm.detokenize(withBos)).toBe(content);
    } finally {
      await (llm as unknown as { close?: () => Promise<void> }).close?.();
    }
  });

  it.each([
    ['/api/tokenize', { model: 'kjv', content: 5 }, 400, /content: expected a string/],
    ['/api/tokenize', { model: 'kjv' }, 400, /content: is required/],
    ['/api/tokenize', { content: 'x' }, 400, /model: is required/],
    ['/api/tokenize', { model: 'kjv', content: 'x', messages: [] }, 400, /not both/],
    ['/api/tokenize', { model: 'kjv', content: 'x', with_pieces: 'yes' }, 400, /with_pieces: expected a boolean/],
    ['/api/tokenize', { model: 'kjv', messages: [{ role: 'user', content: 3 }] }, 400, /messages\[0\]\.content/],
    ['/api/tokenize', { model: 'no-such-model', content: 'x' }, 404, /not found/],
    ['/api/detokenize', { model: 'kjv', tokens: [1, 'a'] }, 400, /tokens\[1\]: expected an integer/],
    ['/api/detokenize', { model: 'kjv', tokens: [1, 1.5] }, 400, /tokens\[1\]/],
    ['/api/detokenize', { model: 'kjv', tokens: [2000] }, 400, /tokens\[0\]: 2000 is not a token id/],
    ['/api/detokenize', { model: 'kjv', tokens: [-1] }, 400, /tokens\[0\]/],
    ['/api/detokenize', { model: 'kjv' }, 400, /tokens: is required/],
    ['/api/detokenize', { model: 'no-such-model', tokens: [1] }, 404, /not found/],
    ['/api/tokenize', '{"model": "kjv", "content": ', 400, /invalid JSON/],
    ['/api/tokenize', { model: 'kjv', content: 'x'.repeat(MAX_BODY) }, 413, /larger than/],
  ].map(([path, body, status, msg], i) => ({ path: path as string, body, status: status as number, msg: msg as RegExp, i })))('bad input $i to $path is $status and the daemon stays up', async ({ path, body, status, msg }) => {
    const r = await post(path, body);
    expect(r.status).toBe(status);
    expect(String(r.json.error)).toMatch(msg);
    expect((await fetch(`${d.url}/api/version`)).status).toBe(200);
  });

  it('GET /metrics is off by default', async () => {
    expect((await fetch(`${d.url}/metrics`)).status).toBe(404);
  });
});
