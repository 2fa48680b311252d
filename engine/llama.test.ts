import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { threads, setThreads } from '../kernels/index.js';
import { KJV_F32, KJV_GOLDEN } from '../test/helpers/fixtures.js';
import { chatPromptTokens, renderChatPrompt } from './chat-prompt.js';
import { isKilnError } from '../common/errors.js';
import { Llama } from './index.js';

const golden = (JSON.parse(readFileSync(KJV_GOLDEN, 'utf8')) as { prompts: { prompt: string; generated_tokens: number[] }[] }).prompts;
const GREEDY = { temperature: 0, repeatPenalty: 1 };

/** The kjv template's shape written as an Ollama Go template (the Messages path). */
const OLLAMA_TEMPLATE =
  '{{- range .Messages }}<|start_header_id|>{{ .Role }}<|end_header_id|>\n\n{{ .Content }}<|eot_id|>{{ end }}<|start_header_id|>assistant<|end_header_id|>\n\n';

describe('Llama (library API) on kjv', () => {
  let llm: Llama;
  const threadsBefore = threads();
  beforeAll(async () => {
    llm = await Llama.load({ modelPath: KJV_F32, nGpuLayers: 99, nCtx: 256, nThreads: 1, kvF16: false });
  });
  afterAll(async () => {
    await llm?.close();
    setThreads(threadsBefore);
  });

  it('completes a prompt greedily with the OpenAI completion shape and usage', async () => {
    const model = await llm.model();
    const r = await llm.complete(golden[0].prompt, { ...GREEDY, maxTokens: 16 });
    expect(r).toMatchObject({ object: 'text_completion', model: 'kjv-f32.gguf', choices: [{ index: 0, finish_reason: 'length' }] });
    expect(r.choices[0].text).toBe(model.tokenizer.decode(golden[0].generated_tokens.slice(0, 16)));
    expect(r.usage).toEqual({ prompt_tokens: 5, completion_tokens: 16, total_tokens: 21 });
    expect(r.id).toMatch(/^cmpl-/);
    expect(threads()).toBe(1); // nThreads reached the kernels; nGpuLayers was accepted and ignored
  });

  it('finishes with length when the context fills, or shifts it and goes on with shift', async () => {
    const noEog = (l: Float32Array) => {
      for (const id of [1996, 1999]) l[id] = -Infinity;
    };
    const full = await llm.complete(golden[0].prompt, { ...GREEDY, maxTokens: 400, mask: noEog });
    expect(full.choices[0].finish_reason).toBe('length');
    expect(full.usage.total_tokens).toBe(256 + 1); // the cache holds every token but the last sampled one
    const on = await llm.complete(golden[0].prompt, { ...GREEDY, maxTokens: 400, mask: noEog, shift: true, numKeep: 1 });
    expect(on.choices[0].finish_reason).toBe('length');
    expect(on.usage.completion_tokens).toBe(400);
  });

  it('stops at a stop string without returning it', async () => {
    const r = await llm.complete(golden[0].prompt, { ...GREEDY, maxTokens: 32, stop: 'Moses' });
    expect(r.choices[0]).toEqual({ index: 0, text: ' of the LORD, and the LORD spake unto ', finish_reason: 'stop' });
  });

  it('streams the same text in chunks, the last chunk carrying finish_reason and usage', async () => {
    const chunks = [];
    for await (const c of llm.completeStream(golden[1].prompt, { ...GREEDY, maxTokens: 12 })) chunks.push(c);
    const whole = await llm.complete(golden[1].prompt, { ...GREEDY, maxTokens: 12 });
    expect(chunks.map((c) => c.choices[0].text).join('')).toBe(whole.choices[0].text);
    expect(chunks.slice(0, -1).every((c) => c.choices[0].finish_reason === null && !c.usage)).toBe(true);
    expect(chunks.at(-1)).toMatchObject({ choices: [{ finish_reason: 'length' }], usage: whole.usage });
  });

  it('serves overlapping calls one after another, and a stream abandoned early frees the model', async () => {
    const [a, b] = await Promise.all([
      llm.complete(golden[2].prompt, { ...GREEDY, maxTokens: 8 }),
      llm.complete(golden[3].prompt, { ...GREEDY, maxTokens: 8 }),
    ]);
    expect(a.choices[0].text).toBe((await llm.complete(golden[2].prompt, { ...GREEDY, maxTokens: 8 })).choices[0].text);
    expect(b.choices[0].text).toBe((await llm.complete(golden[3].prompt, { ...GREEDY, maxTokens: 8 })).choices[0].text);
    for await (const c of llm.completeStream(golden[4].prompt, { ...GREEDY, maxTokens: 30 })) {
      if (c.choices[0].text) break;
    }
    expect((await llm.complete(golden[4].prompt, { ...GREEDY, maxTokens: 2 })).usage.completion_tokens).toBe(2);
  });

  it("chats through the GGUF chat_template, BOS once, with the OpenAI chat shape", async () => {
    const model = await llm.model();
    const messages = [
      { role: 'system', content: 'Speak as the King James Bible.' },
      { role: 'user', content: 'Who led Israel out of Egypt?' },
    ];
    const text = renderChatPrompt(model.file, model.tokenizer, messages);
    expect(text.startsWith('<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nSpeak as')).toBe(true);
    expect(text.endsWith('<|start_header_id|>assistant<|end_header_id|>\n\n')).toBe(true);
    const tokens = chatPromptTokens(model.file, model.tokenizer, messages);
    expect(tokens.filter((t) => t === 1995)).toHaveLength(1);
    expect(tokens).toContain(1999); // <|eot_id|> parsed as the control token

    const r = await llm.chat(messages, { ...GREEDY, maxTokens: 24 });
    expect(r).toMatchObject({ object: 'chat.completion', choices: [{ index: 0, message: { role: 'assistant' } }] });
    expect(['stop', 'length']).toContain(r.choices[0].finish_reason);
    expect(r.usage.prompt_tokens).toBe(tokens.length);
    expect(r.choices[0].message.content).not.toContain('<|');
  });

  it('prefers an Ollama template when given one, and streams chat deltas', async () => {
    const withOllama = new Llama({ modelPath: KJV_F32, nCtx: 256, kvF16: false, template: OLLAMA_TEMPLATE });
    try {
      const messages = [{ role: 'user', content: 'Blessed are the' }];
      const model = await withOllama.model();
      // The Go template writes no BOS; the model's add_bos puts it back, so both templates give the same tokens.
      expect(chatPromptTokens(model.file, model.tokenizer, messages, OLLAMA_TEMPLATE)).toEqual(chatPromptTokens(model.file, model.tokenizer, messages));
      const deltas = [];
      for await (const c of withOllama.chatStream(messages, { ...GREEDY, maxTokens: 10 })) deltas.push(c);
      expect(deltas[0].choices[0].delta.role).toBe('assistant');
      const content = deltas.map((d) => d.choices[0].delta.content ?? '').join('');
      expect(content).toBe((await llm.chat(messages, { ...GREEDY, maxTokens: 10 })).choices[0].message.content);
    } finally {
      await withOllama.close();
    }
  });

  it('embeds text as a unit vector', async () => {
    const v = await llm.embed('In the beginning God created the heaven and the earth.');
    expect(v).toHaveLength(256);
    expect(Math.sqrt(v.reduce((s, x) => s + x * x, 0))).toBeCloseTo(1, 5);
  });

  it('reports a bad model path on use, and refuses calls after close', async () => {
    const bad = new Llama({ modelPath: '/nonexistent/model.gguf' });
    await expect(bad.complete('x')).rejects.toThrow();
    const once = new Llama({ modelPath: KJV_F32, nCtx: 64 });
    await once.close();
    let err: unknown;
    try {
      await once.complete('x');
    } catch (e) {
      err = e;
    }
    expect(isKilnError(err, 'E_BAD_REQUEST')).toBe(true);
  });
});
