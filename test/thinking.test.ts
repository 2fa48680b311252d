/**
 * Thinking models end to end: the real daemon, the bundled kjv model dressed
 * in Ollama's published qwen3 / deepseek-r1 templates, and the official
 * `ollama` and `openai` clients. kjv never writes `</think>`, so the tests
 * lean on what it does do: with a prompt that ends inside `<think>`, all it
 * writes is reasoning; rendered with think=false, the prompt is exactly the
 * template's no-think form (checked against a raw request of that text).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Ollama, type ChatResponse, type GenerateResponse } from 'ollama';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanup, kiln, KILN, ROOT, startDaemon, type RunningDaemon } from './helpers/daemon.js';

const published = (name: string) => readFileSync(join(ROOT, 'engine', 'template', 'fixtures', `${name}.gotmpl`), 'utf8');
const R1 = published('deepseek-r1');
const QWEN3 = published('qwen3');
/** deepseek-r1's template with the prompt left open inside `<think>` when thinking (as DeepSeek's own chat template does). */
const R1_OPEN = R1.replace('{{- if and $.IsThinkSet (not $.Think) -}}', '{{- if $.Think }}<think>\n{{ else if $.IsThinkSet -}}');

const OPTIONS = { temperature: 0, num_predict: 8 };
const QUESTION = 'In the beginning';

let d: RunningDaemon;
let ollama: Ollama;
let openai: OpenAI;

beforeAll(async () => {
  d = await startDaemon();
  ollama = new Ollama({ host: d.url });
  openai = new OpenAI({ baseURL: `${d.url}/v1`, apiKey: 'kiln', maxRetries: 0 });
  expect(R1_OPEN).not.toBe(R1);
  await ollama.create({ model: 'r1', from: 'kjv', template: R1 });
  await ollama.create({ model: 'r1-open', from: 'kjv', template: R1_OPEN });
  await ollama.create({ model: 'qwen3-kjv', from: 'kjv', template: QWEN3 });
  await ollama.create({ model: 'r1-short', from: 'kjv', template: R1_OPEN, parameters: OPTIONS });
});

// A tmux server of our own for the interactive chat, so nothing of anyone else's is touched.
const TMUX = ['-L', `kiln-think-${process.pid}`];
let tmuxSocket: string | undefined;
const tmux = (...args: string[]) => execFileSync('tmux', [...TMUX, ...args], { encoding: 'utf8' });

afterAll(async () => {
  if (tmuxSocket) {
    try {
      tmux('kill-server');
    } catch {
      /* already gone */
    }
    rmSync(tmuxSocket, { force: true });
  }
  await d?.stop();
  if (d) cleanup(d.home);
});

/** What the model writes after `prompt`, unparsed: a raw request with thinking off. */
async function rawText(model: string, prompt: string): Promise<string> {
  const r = await ollama.generate({ model, prompt, raw: true, think: false, options: OPTIONS });
  expect(r.thinking).toBeUndefined();
  return r.response;
}

describe('thinking through the ollama client', () => {
  it('lists "thinking" among the capabilities of models whose template has thinking tags', async () => {
    expect((await ollama.show({ model: 'r1' })).capabilities).toEqual(['completion', 'thinking']);
    expect((await ollama.show({ model: 'qwen3-kjv' })).capabilities).toEqual(['completion', 'tools', 'thinking']);
    expect((await ollama.show({ model: 'kjv' })).capabilities).not.toContain('thinking');
  });

  it('streams everything the model writes after an opened <think> as message.thinking, content empty', async () => {
    const prompt = `<｜User｜>${QUESTION}<｜Assistant｜><think>\n`;
    const expected = (await rawText('r1-open', prompt)).trimStart();
    expect(expected.length).toBeGreaterThan(0);

    const parts: ChatResponse[] = [];
    for await (const p of await ollama.chat({ model: 'r1-open', messages: [{ role: 'user', content: QUESTION }], think: true, stream: true, options: OPTIONS })) parts.push(p);
    const pieces = parts.filter((p) => !p.done);
    expect(pieces.length).toBeGreaterThan(1); // streamed as produced, not at the end
    for (const p of pieces) expect(p.message.content).toBe('');
    expect(pieces.map((p) => p.message.thinking ?? '').join('')).toBe(expected);
    expect(parts.at(-1)).toMatchObject({ done: true, done_reason: 'length' });

    // not streamed: the same, merged; and an absent think means true for a thinking model, as in Ollama
    const whole = await ollama.chat({ model: 'r1-open', messages: [{ role: 'user', content: QUESTION }], options: OPTIONS });
    expect(whole.message).toMatchObject({ role: 'assistant', content: '', thinking: expected });
  });

  it('does the same on /api/generate, in the thinking field', async () => {
    const expected = (await rawText('r1-open', `<｜User｜>${QUESTION}<｜Assistant｜><think>\n`)).trimStart();
    const parts: GenerateResponse[] = [];
    for await (const p of await ollama.generate({ model: 'r1-open', prompt: QUESTION, think: 'high', stream: true, options: OPTIONS })) parts.push(p);
    expect(parts.filter((p) => !p.done).every((p) => p.response === '' && p.thinking)).toBe(true);
    expect(parts.map((p) => p.thinking ?? '').join('')).toBe(expected);
    const whole = await ollama.generate({ model: 'r1-open', prompt: QUESTION, think: true, options: OPTIONS });
    expect(whole).toMatchObject({ response: '', thinking: expected, done: true });
  });

  it('think=false renders the template without thinking and splits nothing off', async () => {
    // deepseek-r1: an empty think block after the assistant marker
    const r1Expected = await rawText('r1', `<｜User｜>${QUESTION}<｜Assistant｜><think>\n\n</think>\n\n`);
    const chat = await ollama.chat({ model: 'r1-open', messages: [{ role: 'user', content: QUESTION }], think: false, options: OPTIONS });
    expect(chat.message.thinking).toBeUndefined();
    expect(chat.message.content).toBe(r1Expected);
    // qwen3: its /no_think marker on the last user turn, and the empty think block
    const qwenExpected = await rawText('qwen3-kjv', `<|im_start|>user\n${QUESTION} /no_think<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n`);
    const gen = await ollama.generate({ model: 'qwen3-kjv', prompt: QUESTION, think: false, options: OPTIONS });
    expect(gen.thinking).toBeUndefined();
    expect(gen.response).toBe(qwenExpected);
    // and with thinking on, qwen3's /think marker; kjv does not open <think>, so it is all content
    const thinkExpected = await rawText('qwen3-kjv', `<|im_start|>user\n${QUESTION} /think<|im_end|>\n<|im_start|>assistant\n`);
    const on = await ollama.generate({ model: 'qwen3-kjv', prompt: QUESTION, think: true, options: OPTIONS });
    expect(on).toMatchObject({ response: thinkExpected });
    expect(on.thinking).toBeUndefined();
  });

  it('with a format, what the model writes is the formatted answer, even after a prompt that opened <think>', async () => {
    const r = await ollama.chat({ model: 'r1-open', messages: [{ role: 'user', content: QUESTION }], format: 'json', options: { ...OPTIONS, num_predict: 12 } });
    expect(r.message.thinking).toBeUndefined();
    expect(r.message.content.startsWith('{')).toBe(true);
  });

  it('refuses think on a model without thinking tags, naming the model as Ollama does', async () => {
    await expect(ollama.chat({ model: 'kjv', messages: [{ role: 'user', content: 'x' }], think: true })).rejects.toMatchObject({ status_code: 400, error: '"kjv" does not support thinking' });
    await expect(ollama.generate({ model: 'kjv', prompt: 'x', think: 'low' })).rejects.toMatchObject({ status_code: 400, error: '"kjv" does not support thinking' });
    // false is fine, and so is leaving it out
    expect((await ollama.generate({ model: 'kjv', prompt: 'x', think: false, options: { num_predict: 2 } })).done).toBe(true);
    const bad = await fetch(`${d.url}/api/chat`, { method: 'POST', body: JSON.stringify({ model: 'r1', messages: [], think: 'max' }) });
    expect(bad.status).toBe(400);
    expect((await bad.json()).error).toContain('invalid think value: "max"');
  });
});

describe('thinking through the openai client', () => {
  type WithReasoning = { reasoning?: string };

  it('answers the reasoning in message.reasoning and delta.reasoning, as Ollama’s OpenAI layer does', async () => {
    const expected = (await rawText('r1-open', `<｜User｜>${QUESTION}<｜Assistant｜><think>\n`)).trimStart();
    const r = await openai.chat.completions.create({ model: 'r1-open', messages: [{ role: 'user', content: QUESTION }], max_tokens: 8, temperature: 0, reasoning_effort: 'low' });
    expect(r.choices[0].message.content).toBe('');
    expect((r.choices[0].message as WithReasoning).reasoning).toBe(expected);

    let reasoning = '';
    let content = '';
    for await (const c of await openai.chat.completions.create({ model: 'r1-open', messages: [{ role: 'user', content: QUESTION }], max_tokens: 8, temperature: 0, stream: true })) {
      reasoning += (c.choices[0]?.delta as WithReasoning | undefined)?.reasoning ?? '';
      content += c.choices[0]?.delta.content ?? '';
    }
    expect(reasoning).toBe(expected);
    expect(content).toBe('');
  });

  it('reasoning_effort "none" turns thinking off; a model without thinking refuses a level', async () => {
    const off = await openai.chat.completions.create({ model: 'r1-open', messages: [{ role: 'user', content: QUESTION }], max_tokens: 8, temperature: 0, reasoning_effort: 'none' });
    expect((off.choices[0].message as WithReasoning).reasoning).toBeUndefined();
    expect(off.choices[0].message.content!.length).toBeGreaterThan(0);
    await expect(openai.chat.completions.create({ model: 'kjv', messages: [{ role: 'user', content: 'x' }], reasoning_effort: 'high' })).rejects.toMatchObject({
      status: 400,
      message: expect.stringContaining('"kjv" does not support thinking'),
    });
  });
});

describe('kiln run with a thinking model', () => {
  const DIMMED = /\x1b\[2m([^\x1b]*)\x1b\[22m/g;
  // the prompt comes on stdin (a prompt argument would be joined after the piped input)
  const cli = (args: string[], env: NodeJS.ProcessEnv = {}) => kiln(['run', 'r1-short', ...args], { ...d.env, NO_COLOR: '', FORCE_COLOR: '1', ...env }, { input: QUESTION });

  it('shows the reasoning dimmed between "Thinking..." and "...done thinking."', async () => {
    const expected = (await rawText('r1-open', `<｜User｜>${QUESTION}<｜Assistant｜><think>\n`)).trimStart();
    const r = await cli(['--think']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.replace(DIMMED, '$1')).toBe(`Thinking...\n${expected}\n...done thinking.\n\n\n`);
    expect(r.stdout.replace(DIMMED, '')).toBe('\n'); // all of it dimmed
    // not on a terminal and no FORCE_COLOR (or NO_COLOR): the same text, plain
    const plain = await cli(['--think=low'], { FORCE_COLOR: undefined, NO_COLOR: '1' });
    expect(plain.stdout).toBe(`Thinking...\n${expected}\n...done thinking.\n\n\n`);
  });

  it('--hidethinking shows none of it; --think=false asks for no thinking; a bad level is refused', async () => {
    expect((await cli(['--hidethinking'])).stdout).toBe('\n');
    const content = await rawText('r1', `<｜User｜>${QUESTION}<｜Assistant｜><think>\n\n</think>\n\n`);
    expect((await cli(['--think=false'])).stdout).toBe(`${content}\n`);
    const bad = await cli(['--think=loud']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('invalid value for --think: "loud" (must be true, false, high, medium, or low)');
    const kjv = await kiln(['run', 'kjv', '--think', 'x'], d.env);
    expect(kjv.code).toBe(1);
    expect(kjv.stderr).toContain('"kjv" does not support thinking');
  });
});

describe('kiln run, interactive, with a thinking model', () => {
  it('/set nothink and /set think switch thinking; the reasoning shows dimmed in the chat', async () => {
    const env = Object.entries({ KILN_HOME: d.home, KILN_HOST: d.env.KILN_HOST! }).map(([k, v]) => `${k}=${v}`);
    // CI is unset for the chat: Ink draws nothing live when it sees CI=true.
    tmux('start-server', ';', 'set-option', '-g', 'remain-on-exit', 'on', ';', 'new-session', '-d', '-s', 'think', '-x', '100', '-y', '30', 'env', '-u', 'CI', ...env, process.execPath, KILN, 'run', 'r1-short');
    tmuxSocket = tmux('display-message', '-p', '#{socket_path}').trim();
    const screen = (escapes = false) => tmux('capture-pane', '-p', ...(escapes ? ['-e'] : []), '-t', 'think');
    const waitScreen = async (re: RegExp, ms = 30_000): Promise<string> => {
      const end = Date.now() + ms;
      for (;;) {
        const s = screen();
        if (re.test(s)) return s;
        if (Date.now() > end) throw new Error(`screen never matched ${re}:\n${s}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    await waitScreen(/>>> .*Send a message/, 45_000);
    tmux('send-keys', '-t', 'think', '/set nothink', 'Enter');
    await waitScreen(/Set 'nothink' mode\./);
    tmux('send-keys', '-t', 'think', QUESTION, 'Enter');
    let s = await waitScreen(/>>> In the beginning\n(.+\n)+\n?>>> /);
    expect(s).not.toContain('Thinking...');
    const plainAnswer = s.split('>>> In the beginning\n')[1].split('\n')[0];
    expect(plainAnswer.length).toBeGreaterThan(3);
    tmux('send-keys', '-t', 'think', '/clear', 'Enter', '/set think high', 'Enter');
    await waitScreen(/Set 'think' mode to 'high'\./);
    tmux('send-keys', '-t', 'think', QUESTION, 'Enter');
    s = await waitScreen(/Thinking\.\.\.\n[\s\S]*\.\.\.done thinking\.\n[\s\S]*>>> .*Send a message/);
    const expected = (await rawText('r1-open', `<｜User｜>${QUESTION}<｜Assistant｜><think>\n`)).trimStart();
    expect(s).toContain(`Thinking...\n${expected}\n...done thinking.`);
    // dimmed: the terminal turns on SGR 2 (tmux writes it as 0;2) before "Thinking..." and changes nothing until after "...done thinking."
    const colored = screen(true);
    expect(colored).toMatch(/\x1b\[(?:0;)?2m(?:\x1b\[\d+m)*Thinking\.\.\.\n[^\x1b]*\.\.\.done thinking\.\n/);
    // and the answer given with nothink is not dimmed
    const before = colored.slice(0, colored.indexOf(plainAnswer));
    expect(before).not.toMatch(/\x1b\[(?:0;)?2m(?:\x1b\[\d+m)*$/);
    tmux('send-keys', '-t', 'think', 'C-d');
  });
});
