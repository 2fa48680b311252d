import { describe, expect, it } from 'vitest';
import { sampleSpmFile } from './sample-vocab.js';
import { codePointBounds, mergeSymbols } from './symbol-merge.js';
import { Tokenizer } from './tokenizer.js';

const BYTE0 = 3; // <0x00>: after <unk>, <s>, </s>
const PIECES: Array<[string, number]> = [
  ['▁', -1], ['a', -2], ['b', -2], ['c', -2], ['ab', -3], ['bc', -1.5], ['aa', -1], ['▁a', -1], ['▁ab', -0.5],
];
const tok = Tokenizer.fromGGUF(sampleSpmFile({ pieces: PIECES, specials: [['<x>', 4], ['<ctl>', 3]] }));
const noPrefix = Tokenizer.fromGGUF(sampleSpmFile({ pieces: PIECES, addSpacePrefix: false }));
const id = (t: Tokenizer, text: string) => t.vocab.tokenToId.get(text)!;
const plain = { addSpecial: false };

describe('SentencePiece encoding', () => {
  it('merges the highest-scoring pair first', () => {
    // "bc" (-1.5) beats "ab" (-3), so "abc" is a + bc, not ab + c.
    expect(noPrefix.encode('abc', plain)).toEqual([id(noPrefix, 'a'), id(noPrefix, 'bc')]);
  });

  it('merges the leftmost pair when scores tie', () => {
    expect(noPrefix.encode('aaa', plain)).toEqual([id(noPrefix, 'aa'), id(noPrefix, 'a')]);
  });

  it('puts ▁ for spaces and a space before the text', () => {
    expect(tok.encode('ab', plain)).toEqual([id(tok, '▁ab')]);
    expect(tok.encode('ab ab', plain)).toEqual([id(tok, '▁ab'), id(tok, '▁ab')]);
    expect(noPrefix.encode('ab', plain)).toEqual([id(noPrefix, 'ab')]);
    expect(tok.encode('', plain)).toEqual([]);
  });

  it('adds BOS, not EOS, by default', () => {
    expect(tok.encode('ab')).toEqual([1, id(tok, '▁ab')]);
    expect(tok.encode('')).toEqual([1]);
  });

  it('falls back to <0xNN> byte tokens for characters outside the vocabulary', () => {
    expect(noPrefix.encode('é', plain)).toEqual([BYTE0 + 0xc3, BYTE0 + 0xa9]);
    expect(noPrefix.encode('a🦙', plain)).toEqual([id(noPrefix, 'a'), BYTE0 + 0xf0, BYTE0 + 0x9f, BYTE0 + 0xa6, BYTE0 + 0x99]);
    expect(noPrefix.decode(noPrefix.encode('a🦙é', plain))).toBe('a🦙é');
  });

  it('uses the unknown token where the vocabulary has no byte tokens', () => {
    const t = Tokenizer.fromGGUF(sampleSpmFile({ pieces: PIECES, byteTokens: false, addSpacePrefix: false }));
    expect(t.encode('aé', plain)).toEqual([id(t, 'a'), 0, 0]);
  });

  it('puts a space before text that follows a special token, as at the start', () => {
    expect(tok.encode('<x>ab', plain)).toEqual([id(tok, '<x>'), id(tok, '▁ab')]);
    expect(tok.encode('ab<ctl>ab', { addSpecial: false, parseSpecial: true })).toEqual([id(tok, '▁ab'), id(tok, '<ctl>'), id(tok, '▁ab')]);
    // Without parseSpecial the control token is text (its characters fall back to bytes).
    expect(tok.encode('<ctl>', plain)[0]).toBe(id(tok, '▁'));
  });

  it('decodes without the added prefix space', () => {
    expect(tok.decode(tok.encode('ab ab', plain))).toBe('ab ab');
    expect(tok.decode(tok.encode(' ab', plain))).toBe(' ab');
    // llama.cpp strips the prefix space from the first token only: after a
    // BOS that is kept (even if hidden) the space shows.
    expect(tok.decode(tok.encode('ab'))).toBe(' ab');
    expect(tok.decode(tok.encode('ab'), { special: true })).toBe('<s> ab');
  });

  it('encodes chunk by chunk exactly as over the whole text, even with tokens that join a following ▁', () => {
    const pieces: Array<[string, number]> = [...PIECES, ['b▁', -0.1], ['b▁a', -0.2], ['c▁▁', -0.3], ['▁▁', -1.2]];
    const t = Tokenizer.fromGGUF(sampleSpmFile({ pieces, addSpacePrefix: false }));
    const reference = (text: string): number[] => {
      const s = text.replaceAll(' ', '▁');
      const bounds = mergeSymbols(s, codePointBounds(s), (l, r) => {
        const i = t.vocab.tokenToId.get(l + r);
        return i === undefined ? undefined : -t.vocab.scores[i];
      });
      const out: number[] = [];
      for (let i = 1; i < bounds.length; i++) {
        const sym = s.slice(bounds[i - 1], bounds[i]);
        const found = t.vocab.tokenToId.get(sym);
        if (found !== undefined) out.push(found);
        else for (const b of new TextEncoder().encode(sym)) out.push(BYTE0 + b);
      }
      return out;
    };
    let seed = 7;
    const rand = (n: number) => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed % n; };
    for (let k = 0; k < 200; k++) {
      const text = Array.from({ length: 1 + rand(40) }, () => 'abc é'[rand(5)]).join('');
      expect(t.encode(text, plain), JSON.stringify(text)).toEqual(reference(text));
    }
  });

  it('stays fast on a long run without spaces', () => {
    const t0 = performance.now();
    const ids = noPrefix.encode('a'.repeat(100_000), plain);
    expect(performance.now() - t0).toBeLessThan(5000);
    expect(ids).toEqual(Array(50_000).fill(id(noPrefix, 'aa')));
  });
});
