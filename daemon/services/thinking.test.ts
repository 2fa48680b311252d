import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { RunnableModel } from './runnable.js';
import { planThinking, ThinkingParser, thinkingParserFor } from './thinking.js';
import { ToolCallParser } from './tool-calls.js';

const TAGS = { open: '<think>', close: '</think>' };

/** Feeds the pieces; `early` is what came out before finish(), the totals include it. */
function feed(pieces: string[], opts: { primed?: boolean } = {}) {
  const p = new ThinkingParser(TAGS);
  if (opts.primed) expect(p.push(TAGS.open)).toEqual({ thinking: '', content: '' });
  let thinking = '';
  let content = '';
  for (const x of pieces) {
    const r = p.push(x);
    thinking += r.thinking;
    content += r.content;
  }
  const early = { thinking, content };
  const end = p.finish();
  return { thinking: thinking + end.thinking, content: content + end.content, early };
}

/** Every way of cutting `text` into two pieces, and into one piece per character. */
function cuts(text: string): string[][] {
  const out: string[][] = [[text], [...text]];
  for (let i = 1; i < text.length; i++) out.push([text.slice(0, i), text.slice(i)]);
  return out;
}

describe('thinking parser', () => {
  it.each([
    ['<think>Let me see.</think>The answer.', 'Let me see.', 'The answer.'],
    // white space before the opening tag, after it and after the closing tag is dropped
    ['\n  <think>\n\nLet me see.\n</think>\n\nThe answer.', 'Let me see.\n', 'The answer.'],
    // an answer that does not open with the tag is all content, white space and all
    ['  Plain answer <think>x</think>', '', '  Plain answer <think>x</think>'],
    ['<think></think>Answer', '', 'Answer'],
    ['<think>\n\n</think>\n\nAnswer', '', 'Answer'],
    // a stray closing-tag start inside the reasoning is reasoning
    ['<think>a </thin b < c</think>d', 'a </thin b < c', 'd'],
  ])('splits %j wherever the stream is cut', (text, thinking, content) => {
    for (const pieces of cuts(text)) {
      const r = feed(pieces);
      expect({ thinking: r.thinking, content: r.content }, JSON.stringify(pieces)).toEqual({ thinking, content });
    }
  });

  it('streams reasoning as it comes, holding back only what could be the closing tag', () => {
    const p = new ThinkingParser(TAGS);
    expect(p.push('<thi')).toEqual({ thinking: '', content: '' });
    expect(p.push('nk>Step one')).toEqual({ thinking: 'Step one', content: '' });
    expect(p.push(', two</')).toEqual({ thinking: ', two', content: '' });
    expect(p.push('thinx')).toEqual({ thinking: '</thinx', content: '' });
    expect(p.push('</think>')).toEqual({ thinking: '', content: '' });
    expect(p.push(' \n')).toEqual({ thinking: '', content: '' });
    expect(p.push('Done')).toEqual({ thinking: '', content: 'Done' });
    expect(p.push(' here')).toEqual({ thinking: '', content: ' here' });
    expect(p.finish()).toEqual({ thinking: '', content: '' });
  });

  it('a prompt that ends inside <think> makes everything reasoning until </think>', () => {
    for (const pieces of cuts('\nIn the beginning</think>\n\nAmen')) {
      const r = feed(pieces, { primed: true });
      expect({ thinking: r.thinking, content: r.content }, JSON.stringify(pieces)).toEqual({ thinking: 'In the beginning', content: 'Amen' });
    }
  });

  it('unterminated reasoning is all reasoning, including a held partial closing tag', () => {
    const r = feed(['<think>God created', ' the heaven</th'], {});
    expect(r.early).toEqual({ thinking: 'God created the heaven', content: '' });
    expect(r).toMatchObject({ thinking: 'God created the heaven</th', content: '' });
    expect(feed(['In the beginning'], { primed: true })).toMatchObject({ thinking: 'In the beginning', content: '' });
    for (const pieces of cuts('<think> a b c <')) expect(feed(pieces)).toMatchObject({ thinking: 'a b c <', content: '' });
  });

  it('a stream that ends while it could still be the opening tag gives that text back as content', () => {
    expect(feed(['<th'])).toMatchObject({ thinking: '', content: '<th' });
    expect(feed(['  \n'])).toMatchObject({ thinking: '', content: '' });
  });

  it('other tags work the same (as inferred from a template)', () => {
    const p = new ThinkingParser({ open: '[THINK]', close: '[/THINK]' });
    const a = p.push('[THINK]hm[/TH');
    const b = p.push('INK]ok');
    expect([a, b]).toEqual([
      { thinking: 'hm', content: '' },
      { thinking: '', content: 'ok' },
    ]);
  });

  it('reasoning comes first, then its content goes through the tool-call parser', () => {
    const thinking = new ThinkingParser(TAGS);
    const tools = new ToolCallParser([{ type: 'function', function: { name: 'get_weather' } }]);
    let reasoning = '';
    let content = '';
    const calls = [];
    const text = '<think>I should call the tool {"name": "no"}</think>\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>';
    for (const piece of text.match(/.{1,5}/gs)!) {
      const t = thinking.push(piece);
      reasoning += t.thinking;
      const r = tools.push(t.content);
      content += r.content;
      calls.push(...r.toolCalls);
    }
    const t = thinking.finish();
    reasoning += t.thinking;
    const r1 = tools.push(t.content);
    const r2 = tools.finish();
    calls.push(...r1.toolCalls, ...r2.toolCalls);
    content += r1.content + r2.content;
    expect(reasoning).toBe('I should call the tool {"name": "no"}');
    expect(content).toBe('');
    expect(calls).toEqual([{ function: { index: 0, name: 'get_weather', arguments: { city: 'Paris' } } }]);
  });
});

describe('resolving think against the model', () => {
  const published = (n: string) => readFileSync(new URL(`../../engine/template/fixtures/${n}.gotmpl`, import.meta.url), 'utf8');
  const model = (template?: string) => ({ name: 'm:latest', layers: { template, license: [], parameters: {}, messages: [] }, facts: {} }) as unknown as RunnableModel;
  const r1 = model(published('deepseek-r1'));
  const plain = model(published('qwen2.5'));

  it('a thinking model thinks unless told not to, and splits its answer on the inferred tags', () => {
    expect(planThinking(r1, 'r1', undefined)).toEqual({ think: true, tags: TAGS });
    expect(planThinking(r1, 'r1', 'low')).toEqual({ think: 'low', tags: TAGS });
    expect(planThinking(r1, 'r1', false)).toEqual({ think: false, tags: undefined });
  });

  it('asking a model without thinking tags to think is a 400 naming the model as asked', () => {
    for (const think of [true, 'high'] as const) {
      expect(() => planThinking(plain, 'qwen2.5:0.5b', think)).toThrow(expect.objectContaining({ code: 'E_BAD_REQUEST', message: '"qwen2.5:0.5b" does not support thinking' }));
    }
    expect(() => planThinking(model(), 'kjv', true)).toThrow(/"kjv" does not support thinking/);
    expect(planThinking(plain, 'q', false)).toEqual({ think: false, tags: undefined });
    expect(planThinking(plain, 'q', undefined)).toEqual({ think: undefined, tags: undefined });
  });

  it('starts inside the reasoning when the prompt already ends with the opening tag', () => {
    const plan = { think: true, tags: TAGS };
    expect(thinkingParserFor(plan, '<｜Assistant｜><think>\n')!.push('Hmm</think>Yes')).toEqual({ thinking: 'Hmm', content: 'Yes' });
    expect(thinkingParserFor(plan, '<｜Assistant｜>')!.push('Hmm</think>Yes')).toEqual({ thinking: '', content: 'Hmm</think>Yes' });
    expect(thinkingParserFor({ think: false, tags: undefined }, '<think>')).toBeUndefined();
    // a format constrains the answer from its first token: that is the answer, not reasoning
    expect(thinkingParserFor(plan, '<｜Assistant｜><think>\n', true)!.push('{"a": 1}')).toEqual({ thinking: '', content: '{"a": 1}' });
  });
});
