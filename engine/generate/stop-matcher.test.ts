import { describe, expect, it } from 'vitest';
import { StopMatcher } from './stop-matcher.js';

/** Feeds the pieces; returns what was emitted and whether it stopped. */
function run(stops: string[], pieces: string[]): { out: string; stopped: boolean } {
  const m = new StopMatcher(stops);
  let out = '';
  for (const p of pieces) {
    const r = m.push(p);
    out += r.text;
    if (r.stopped) return { out, stopped: true };
  }
  return { out: out + m.flush(), stopped: false };
}

describe('StopMatcher', () => {
  it.each([
    // stops, pieces, emitted, stopped
    [['</s>'], ['Hello', ' world', '</s>', 'more'], 'Hello world', true],
    [['</s>'], ['Hello <', '/', 's', '> more'], 'Hello ', true],
    [['\n\n'], ['one\n', '\ntwo'], 'one', true],
    [['END'], ['the E', 'N', 'D'], 'the ', true],
    [['END'], ['the E', 'N', 'd'], 'the ENd', false],
    [['END'], ['EN', 'EN', 'END'], 'ENEN', true],
    [['ab', 'b'], ['xab'], 'x', true], // the earliest match wins
    [['bc', 'abcd'], ['ab', 'cd'], '', true], // held 'ab' turns out to start the earlier one
    [[''], ['text'], 'text', false], // empty stop strings are ignored
    [['User:'], ['Use', 'r', ' said'], 'User said', false],
    [['🦙'], ['a', '🦙', 'b'], 'a', true],
  ] as [string[], string[], string, boolean][])('%j over %j emits %j (stopped: %s)', (stops, pieces, out, stopped) => {
    expect(run(stops, pieces)).toEqual({ out, stopped });
  });

  it('says which stop string it found: the earliest', () => {
    expect(new StopMatcher(['ab', 'b']).push('xab')).toEqual({ text: 'x', stopped: true, stop: 'ab' });
    const m = new StopMatcher(['bc', 'abcd']);
    m.push('ab');
    expect(m.push('cd')).toEqual({ text: '', stopped: true, stop: 'abcd' });
  });

  it('holds back only what could still become a stop string', () => {
    const m = new StopMatcher(['<|end|>']);
    expect(m.push('Hello <|')).toEqual({ text: 'Hello ', stopped: false });
    expect(m.push('x')).toEqual({ text: '<|x', stopped: false });
    expect(m.push('<|en')).toEqual({ text: '', stopped: false });
    expect(m.flush()).toBe('<|en');
  });
});
