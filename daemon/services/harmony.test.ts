import { describe, expect, it } from 'vitest';
import { harmonyCallOpen, HarmonyParser, parseHeader, type HarmonyPiece } from './harmony.js';

/** The prompt's end as gpt-oss's published template leaves it. */
const PROMPT = '<|start|>user<|message|>Hi<|end|><|start|>assistant';

/** Feeds `chunks` after priming with `prompt`, merging what comes out. */
function run(chunks: string[], prompt = PROMPT, opts = {}): HarmonyPiece & { pieces: HarmonyPiece[] } {
  const p = new HarmonyParser(opts);
  p.prime(prompt);
  const pieces = [...chunks.map((c) => p.push(c)), p.finish()];
  return {
    thinking: pieces.map((x) => x.thinking).join(''),
    content: pieces.map((x) => x.content).join(''),
    toolCalls: pieces.flatMap((x) => x.toolCalls),
    pieces,
  };
}

/** Every way of cutting `text` in two, plus one piece per character. */
function cuts(text: string): string[][] {
  const out: string[][] = [[text], [...text]];
  for (let i = 1; i < text.length; i++) out.push([text.slice(0, i), text.slice(i)]);
  return out;
}

const ANSWER = '<|channel|>analysis<|message|>The user greets. Reply.<|end|><|start|>assistant<|channel|>final<|message|>Hello! How can I help?<|return|>';
const CALL = '<|channel|>analysis<|message|>Need weather.<|end|><|start|>assistant<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>{"city":"Paris"}<|call|>';

describe('harmony headers', () => {
  it('reads role, channel and recipient wherever the recipient stands', () => {
    expect(parseHeader('assistant<|channel|>final')).toEqual({ role: 'assistant', channel: 'final', recipient: '' });
    expect(parseHeader('assistant<|channel|>commentary to=functions.f <|constrain|>json')).toEqual({ role: 'assistant', channel: 'commentary', recipient: 'functions.f' });
    expect(parseHeader('assistant to=functions.f<|channel|>commentary<|constrain|>json')).toEqual({ role: 'assistant', channel: 'commentary', recipient: 'functions.f' });
    expect(parseHeader('assistant<|channel|>commentary json')).toEqual({ role: 'assistant', channel: 'commentary', recipient: '' });
  });
});

describe('HarmonyParser', () => {
  it('splits analysis into thinking and final into content, however the text is cut', () => {
    for (const chunks of cuts(ANSWER)) {
      const r = run(chunks);
      expect(r).toMatchObject({ thinking: 'The user greets. Reply.', content: 'Hello! How can I help?', toolCalls: [] });
    }
  });

  it('streams as produced: reasoning before the final channel has started', () => {
    const r = run(['<|channel|>analysis<|message|>The user', ' greets.', '<|end|><|start|>assistant<|channel|>final<|message|>Hel', 'lo']);
    expect(r.pieces.map((p) => [p.thinking, p.content])).toEqual([
      ['The user', ''],
      [' greets.', ''],
      ['', 'Hel'],
      ['', 'lo'],
      ['', ''],
    ]);
  });

  it('reads a commentary message to functions.NAME as a call with JSON arguments, however the text is cut', () => {
    for (const chunks of cuts(CALL)) {
      const r = run(chunks);
      expect(r).toMatchObject({ thinking: 'Need weather.', content: '', toolCalls: [{ function: { index: 0, name: 'get_weather', arguments: { city: 'Paris' } } }] });
    }
  });

  it('hands a call on as soon as its message ends, and numbers several', () => {
    const p = new HarmonyParser();
    p.prime(PROMPT);
    const first = p.push('<|channel|>commentary to=functions.a <|constrain|>json<|message|>{"x":1}<|call|><|start|>assistant<|channel|>commentary to=functions.b<|message|>');
    expect(first.toolCalls).toEqual([{ function: { index: 0, name: 'a', arguments: { x: 1 } } }]);
    expect(p.push('{}').toolCalls).toEqual([]);
    expect(p.finish().toolCalls).toEqual([{ function: { index: 1, name: 'b', arguments: {} } }]);
  });

  it('keeps a built-in recipient as named, and drops calls past maxCalls', () => {
    const two = '<|channel|>analysis to=browser.search<|message|>{"query":"x"}<|call|><|start|>assistant<|channel|>commentary to=functions.f<|message|>{}<|call|>';
    expect(run([two]).toolCalls.map((c) => c.function.name)).toEqual(['browser.search', 'f']);
    expect(run([two], PROMPT, { maxCalls: 1 }).toolCalls.map((c) => c.function.name)).toEqual(['browser.search']);
  });

  it('reads an unterminated call at the end of the stream (the model stopped on <|call|>)', () => {
    const r = run(['<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>{"city":', '"Oslo"}']);
    expect(r.toolCalls).toEqual([{ function: { index: 0, name: 'get_weather', arguments: { city: 'Oslo' } } }]);
  });

  it('hands on as content a call whose arguments are not a JSON object, so nothing is lost', () => {
    expect(run(['<|channel|>commentary to=functions.f<|message|>{"city": "Pa']).content).toBe('{"city": "Pa');
    expect(run(['<|channel|>commentary to=functions.f<|message|>[1]<|call|>'])).toMatchObject({ content: '[1]', toolCalls: [] });
  });

  it('keeps unterminated reasoning as thinking, and unterminated content as content', () => {
    expect(run(['<|channel|>analysis<|message|>Still thinking <|e'])).toMatchObject({ thinking: 'Still thinking <|e', content: '' });
    expect(run(['<|channel|>final<|message|>Partial <|'])).toMatchObject({ thinking: '', content: 'Partial <|' });
  });

  it('copes with junk: a message started without ending the last, a skipped <|start|>, text between messages', () => {
    const r = run(['<|channel|>analysis<|message|>A<|start|>assistant<|channel|>final<|message|>B<|end|>', 'stray', '<|channel|>analysis<|message|>C<|end|>']);
    expect(r).toMatchObject({ thinking: 'AC', content: 'Bstray' });
    // a header cut off by an end tag is dropped; what follows is still read
    expect(run(['<|channel|>ana<|end|><|start|>assistant<|channel|>final<|message|>ok'])).toMatchObject({ thinking: '', content: 'ok' });
  });

  it('a model ignoring the format: its text is content (a header that never ends and holds no tag)', () => {
    expect(run([' In the beginning', ' God created']).content).toBe(' In the beginning God created');
    const long = 'x'.repeat(300);
    const r = run([long, ' and more']);
    expect(r.content).toBe(long + ' and more');
    expect(r.pieces[0].content).toBe(long); // streamed once it cannot be a header
    // but a header cut off by the token limit is dropped
    expect(run(['<|channel|>analy']).content).toBe('');
  });

  it('starts where the prompt leaves the model: inside an opened analysis or final message', () => {
    const open = PROMPT + '<|channel|>analysis<|message|>';
    expect(run(['Reasoning here<|end|><|start|>assistant<|channel|>final<|message|>Done'], open)).toMatchObject({ thinking: 'Reasoning here', content: 'Done' });
    // a prefilled answer is continued; what the prompt wrote is not handed on again
    const prefill = PROMPT + '<|channel|>final<|message|>Soft rain';
    expect(run([' on the roof'], prefill)).toMatchObject({ thinking: '', content: ' on the roof' });
    // a prompt without harmony messages (a raw request): plain text is content
    expect(run(['plain text'], 'no tags here')).toMatchObject({ content: 'plain text' });
  });

  it('without tools offered, reads no calls: their bodies are content', () => {
    expect(run(['<|channel|>commentary to=functions.f<|message|>{"a":1}<|call|>'], PROMPT, { calls: false })).toMatchObject({ content: '{"a":1}', toolCalls: [] });
  });
});

describe('harmonyCallOpen', () => {
  it('is what takes the prompt to a new assistant header', () => {
    expect(harmonyCallOpen(PROMPT)).toBe('');
    expect(harmonyCallOpen(PROMPT + '<|channel|>analysis<|message|>')).toBe('<|end|><|start|>assistant');
    expect(harmonyCallOpen('<|start|>user<|message|>Hi<|end|>')).toBe('<|start|>assistant');
  });
});
