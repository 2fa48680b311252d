import { describe, expect, it } from 'vitest';
import type { ChatRequest, ChatResponse, CreateRequest } from '../../daemon/api/types.js';
import { ChatSession, formatStats, goDuration, parseParamValue, type Segment, type SessionBackend } from './session.js';

function fake(reply = 'Verily.') {
  const calls: { chat: ChatRequest[]; create: CreateRequest[]; load: string[] } = { chat: [], create: [], load: [] };
  const backend: SessionBackend = {
    async *chat(req, signal) {
      calls.chat.push(req);
      for (const w of reply.split(/(?<= )/)) {
        if (signal.aborted) throw new Error('aborted');
        yield { model: req.model!, created_at: '', message: { role: 'assistant', content: w }, done: false };
        await new Promise((r) => setTimeout(r, 1));
      }
      yield { model: req.model!, created_at: '', message: { role: 'assistant', content: '' }, done: true, done_reason: 'stop', eval_count: 3, eval_duration: 1.5e9 };
    },
    show: async (model, part) => `${part} of ${model}`,
    load: async (m) => {
      calls.load.push(m);
    },
    create: async (req) => {
      calls.create.push(req);
    },
  };
  return { backend, calls };
}

async function drain(g: AsyncGenerator<Segment, ChatResponse | undefined>): Promise<{ text: string; final?: ChatResponse; segments: Segment[] }> {
  let text = '';
  const segments: Segment[] = [];
  for (;;) {
    const r = await g.next();
    if (r.done) return { text, final: r.value, segments };
    text += r.value.text;
    segments.push(r.value);
  }
}

/** A backend whose answer is reasoning pieces, then content pieces. */
function thinker(thinking: string[], content: string[]) {
  const requests: ChatRequest[] = [];
  const backend: SessionBackend = {
    async *chat(req) {
      requests.push(req);
      for (const t of thinking) yield { model: 'r1', created_at: '', message: { role: 'assistant', content: '', thinking: t }, done: false };
      for (const c of content) yield { model: 'r1', created_at: '', message: { role: 'assistant', content: c }, done: false };
      yield { model: 'r1', created_at: '', message: { role: 'assistant', content: '' }, done: true, done_reason: 'stop' };
    },
    show: async () => '',
    load: async () => {},
    create: async () => {},
  };
  return { backend, requests };
}

describe('thinking in the chat', () => {
  it('shows reasoning dimmed between "Thinking..." and "...done thinking.", then the content, and keeps both', async () => {
    const { backend, requests } = thinker(['Let me', ' see.'], ['Amen', '.']);
    const s = new ChatSession(backend, 'r1');
    const { segments } = await drain(s.answer('Hi', new AbortController().signal));
    expect(segments).toEqual([
      { text: 'Thinking...\n', dim: true },
      { text: 'Let me', dim: true },
      { text: ' see.', dim: true },
      { text: '\n...done thinking.\n\n', dim: true },
      { text: 'Amen', dim: false },
      { text: '.', dim: false },
    ]);
    expect(requests[0].think).toBeUndefined(); // unset: the daemon decides (a thinking model thinks)
    expect(s.messages.at(-1)).toEqual({ role: 'assistant', content: 'Amen.', thinking: 'Let me see.' });
  });

  it('closes the frame at the end of an answer that was all reasoning; --hidethinking shows none of it', async () => {
    expect((await drain(new ChatSession(thinker(['Hmm\n'], []).backend, 'r1').answer('Hi', new AbortController().signal))).text).toBe('Thinking...\nHmm\n...done thinking.\n\n');
    const hidden = new ChatSession(thinker(['Hmm'], ['Yes']).backend, 'r1', { hideThinking: true });
    expect((await drain(hidden.answer('Hi', new AbortController().signal))).segments).toEqual([{ text: 'Yes', dim: false }]);
    expect(hidden.messages.at(-1)).toEqual({ role: 'assistant', content: 'Yes', thinking: 'Hmm' });
  });

  it('/set think, /set think LEVEL and /set nothink set what the requests send', async () => {
    const { backend, requests } = thinker([], ['ok']);
    const s = new ChatSession(backend, 'r1', { think: 'low' });
    const ask = () => drain(s.answer('x', new AbortController().signal));
    await ask();
    expect((await s.command('/set nothink')).output).toBe("Set 'nothink' mode.");
    await ask();
    expect((await s.command('/set think')).output).toBe("Set 'think' mode.");
    await ask();
    expect((await s.command('/set think high')).output).toBe("Set 'think' mode to 'high'.");
    await ask();
    expect((await s.command('/set think loud')).output).toMatch(/Invalid think level 'loud'/);
    expect(requests.map((r) => r.think)).toEqual(['low', false, true, 'high']);
    expect((await s.command('/set')).output).toContain('/set nothink');
  });
});

describe('chat session', () => {
  it('keeps the conversation and sends it with the session system message and options', async () => {
    const { backend, calls } = fake('And it was so.');
    const s = new ChatSession(backend, 'kjv');
    await s.command('/set system "Thou art a scribe."');
    expect((await s.command('/set parameter temperature 0.2')).output).toBe("Set parameter 'temperature' to '0.2'");
    await s.command('/set parameter stop <|eot_id|> "END"');
    const { text, final } = await drain(s.answer('Hi', new AbortController().signal));
    expect(text).toBe('And it was so.');
    expect(final?.done_reason).toBe('stop');
    await drain(s.answer('More', new AbortController().signal));
    expect(calls.chat[1].messages).toEqual([
      { role: 'system', content: 'Thou art a scribe.' },
      { role: 'user', content: 'Hi' },
      { role: 'assistant', content: 'And it was so.' },
      { role: 'user', content: 'More' },
    ]);
    expect(calls.chat[1].options).toEqual({ temperature: 0.2, stop: ['<|eot_id|>', 'END'] });
  });

  it('drops a stopped answer and its question', async () => {
    const { backend } = fake('one two three four');
    const s = new ChatSession(backend, 'kjv');
    const ac = new AbortController();
    const g = s.answer('Hi', ac.signal);
    expect((await g.next()).value).toEqual({ text: 'one ', dim: false });
    ac.abort();
    expect((await drain(g)).final).toBeUndefined();
    expect(s.messages).toEqual([]);
  });

  it('clears, loads, saves, shows and exits', async () => {
    const { backend, calls } = fake();
    const s = new ChatSession(backend, 'kjv');
    await drain(s.answer('Hi', new AbortController().signal));
    expect((await s.command('/save mine')).output).toBe("Created new model 'mine'");
    expect(calls.create[0]).toMatchObject({ model: 'mine', from: 'kjv', messages: [{ role: 'user', content: 'Hi' }, { role: 'assistant', content: 'Verily.' }] });
    expect((await s.command('/clear')).output).toBe('Cleared session context');
    expect(s.messages).toEqual([]);
    expect((await s.command('/show template')).output).toBe('template of kjv');
    expect((await s.command('/load other')).output).toBe("Loading model 'other'");
    expect(s.model).toBe('other');
    expect((await s.command('/show info')).output).toBe('info of other');
    expect((await s.command('/?')).output).toMatch(/\/set\s+Set session variables/);
    expect((await s.command('/? shortcuts')).output).toMatch(/Ctrl \+ d/);
    expect((await s.command('/nope')).output).toMatch(/Unknown command '\/nope'/);
    expect((await s.command('/bye')).exit).toBe(true);
  });

  it('switches verbose and JSON mode', async () => {
    const { backend, calls } = fake();
    const s = new ChatSession(backend, 'kjv');
    await s.command('/set verbose');
    expect(s.verbose).toBe(true);
    await s.command('/set format json');
    await drain(s.answer('Hi', new AbortController().signal));
    expect(calls.chat[0].format).toBe('json');
    await s.command('/set noformat');
    await s.command('/set quiet');
    expect(s.verbose).toBe(false);
    expect(s.format).toBeUndefined();
  });
});

describe('formatting', () => {
  it('reads parameter values as numbers, booleans or text', () => {
    expect(parseParamValue('42')).toBe(42);
    expect(parseParamValue('0.5')).toBe(0.5);
    expect(parseParamValue('-1')).toBe(-1);
    expect(parseParamValue('true')).toBe(true);
    expect(parseParamValue('json')).toBe('json');
  });

  it('prints durations as Go does', () => {
    expect(goDuration(812)).toBe('812ns');
    expect(goDuration(812_000)).toBe('812µs');
    expect(goDuration(61_235_000)).toBe('61.235ms');
    expect(goDuration(1_500_000_000)).toBe('1.5s');
    expect(goDuration(123_500_000_000)).toBe('2m3.5s');
  });

  it('prints the verbose stats with rates', () => {
    const out = formatStats({ model: 'm', created_at: '', message: { role: 'assistant', content: '' }, done: true, eval_count: 3, eval_duration: 1.5e9, prompt_eval_count: 10, prompt_eval_duration: 5e6 });
    expect(out).toContain('eval rate:            2.00 tokens/s');
    expect(out).toContain('prompt eval rate:     2000.00 tokens/s');
    expect(out).toContain('eval count:           3 token(s)');
  });
});

describe('/show parameters', () => {
  it("shows the model's parameters with the session's /set parameter values merged in", async () => {
    const { backend } = fake();
    const modelParams = ['num_ctx                        256', 'stop                           "<|eot_id|>"', 'stop                           "<|end|>"', 'temperature                    0.8'].join('\n');
    backend.show = async (_m, part) => (part === 'parameters' ? modelParams : '');
    const s = new ChatSession(backend, 'kjv');
    expect((await s.command('/show parameters')).output).toBe(modelParams);
    await s.command('/set parameter temperature 0.2');
    await s.command('/set parameter num_predict 12');
    await s.command('/set parameter stop END');
    expect((await s.command('/show parameters')).output).toBe(
      ['num_ctx                        256', 'stop                           "END"', 'temperature                    0.2', 'num_predict                    12'].join('\n'),
    );
  });

  it('shows the session values when the model sets none', async () => {
    const { backend } = fake();
    backend.show = async () => '';
    const s = new ChatSession(backend, 'kjv');
    expect((await s.command('/show parameters')).output).toBe('No parameters were specified for this model.');
    await s.command('/set parameter seed 42');
    expect((await s.command('/show parameters')).output).toBe(`${'seed'.padEnd(30)} 42`);
  });
});
