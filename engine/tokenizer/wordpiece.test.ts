/**
 * WordPiece (`bert`) beyond llama.cpp's fixture cases (those are in
 * llama-cpp-vocab.test.ts): the Unicode facts against llama.cpp's own tables,
 * and hand-checkable cases on a small vocabulary.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { KilnError } from '../../common/errors.js';
import { llamaSource } from '../../test/helpers/llama-src.js';
import { WORDPIECE_SPECIALS as S, sampleWordPieceFile, type SampleWordPieceOptions } from './sample-vocab.js';
import { Tokenizer } from './tokenizer.js';
import { splitWords } from './wordpiece.js';
import { CharFlag, charFlags, nfdFirst, simpleLower } from './wordpiece-chars.js';

const PIECES = [
  '▁hello', '▁world', '▁,', '▁.', '▁!', '▁?', '▁\'', '▁s', '▁it', '▁$', '▁a', '▁b', '▁c', '▁cafe', '▁café', '▁Café',
  '▁中', '▁文', '▁の', '▁ab', '▁una', 'able', '▁un', '▁aaa', 'aaa', 'a', '▁x', '▁y', '▁z', '▁q', '▁d', '▁e', '▁€',
  '▁play', 'ing', '▁[', '▁]', 'ed',
];
const id = (piece: string) => {
  const i = PIECES.indexOf(piece);
  if (i < 0) throw new Error(`no piece ${piece}`);
  return 5 + i;
};
const ids = (...pieces: string[]) => pieces.map(id);
const make = (o: Partial<SampleWordPieceOptions> = {}) => Tokenizer.fromGGUF(sampleWordPieceFile({ pieces: PIECES, ...o }));
const tok = make();
const plain = (t: Tokenizer, text: string) => t.encode(text, { addSpecial: false });

describe('WordPiece character facts', () => {
  it("match llama.cpp's unicode-data.cpp for every code point", { timeout: 120_000 }, () => {
    const src = readFileSync(join(llamaSource(), 'src/unicode-data.cpp'), 'utf8');
    const table = (name: string) => {
      const at = src.indexOf(`${name} = {`);
      expect(at, name).toBeGreaterThan(0);
      const body = src.slice(at + name.length + 4, src.indexOf('\n};', at));
      return Array.from(body.matchAll(/0x([0-9A-Fa-f]+)/g), (m) => parseInt(m[1], 16));
    };
    const flagRanges = table('unicode_ranges_flags'); // start, flags; a range ends where the next starts
    const whitespace = new Set(table('unicode_set_whitespace'));
    const lowerPairs = table('unicode_map_lowercase');
    const lower = new Map<number, number>();
    for (let i = 0; i < lowerPairs.length; i += 2) lower.set(lowerPairs[i], lowerPairs[i + 1]);
    const nfdTriples = table('unicode_ranges_nfd'); // first, last, nfd
    const nfd = new Map<number, number>();
    for (let i = 0; i < nfdTriples.length; i += 3) for (let c = nfdTriples[i]; c <= nfdTriples[i + 1]; c++) nfd.set(c, nfdTriples[i + 2]);
    expect(whitespace.size).toBeGreaterThan(20);
    expect(lower.size).toBeGreaterThan(1000);
    expect(nfd.size).toBeGreaterThan(1000);

    const wrong: string[] = [];
    let r = 0;
    for (let cp = 0; cp < 0x110000; cp++) {
      while (r + 2 < flagRanges.length && flagRanges[r + 2] <= cp) r += 2;
      const f = flagRanges[r + 1];
      const want = (whitespace.has(cp) ? CharFlag.WHITESPACE : 0) | (f & 0x80 ? CharFlag.CONTROL : 0)
        | (f & 0x10 ? CharFlag.MARK : 0) | (f & 0x20 ? CharFlag.PUNCTUATION : 0) | (f & 0x40 ? CharFlag.SYMBOL : 0);
      if (charFlags(cp) !== want) wrong.push(`flags ${cp.toString(16)}: ${charFlags(cp)} != ${want}`);
      if (simpleLower(cp) !== (lower.get(cp) ?? cp)) wrong.push(`lower ${cp.toString(16)}`);
      if (nfdFirst(cp) !== (nfd.get(cp) ?? cp)) wrong.push(`nfd ${cp.toString(16)}`);
      if (wrong.length > 20) break;
    }
    expect(wrong).toEqual([]);
  });

  it('are the simple mappings, not the full ones', () => {
    expect(simpleLower(0x130)).toBe(0x69); // İ → i (toLowerCase gives i + U+0307)
    expect(simpleLower(0x3a3)).toBe(0x3c3); // Σ → σ, never the final ς
    expect(nfdFirst(0xe9)).toBe(0x65); // é → e
    expect(nfdFirst(0xac00)).toBe(0x1100); // 가 → its leading jamo only
  });
});

describe('WordPiece pre-processing', () => {
  const norm = { lowercase: true, stripAccents: true };

  it('lower-cases, strips accents (precomposed and combining) and splits on white space', () => {
    expect(splitWords('Café  NAÏVE\te\u0301\u3000x\u00a0y', norm)).toEqual(['cafe', 'naive', 'e', 'x', 'y']);
    expect(splitWords('Café e\u0301', { lowercase: false, stripAccents: false })).toEqual(['Café', 'e\u0301']);
    expect(splitWords('Café', { lowercase: true, stripAccents: false })).toEqual(['café']);
  });

  it('makes punctuation, ASCII symbols and CJK ideographs words of their own', () => {
    expect(splitWords('a,b$c€d', norm)).toEqual(['a', ',', 'b', '$', 'c€d']);
    expect(splitWords('中文ab日本語のテキスト', norm)).toEqual(['中', '文', 'ab', '日', '本', '語', 'のテキスト']);
    expect(splitWords('«x»', norm)).toEqual(['«', 'x', '»']);
  });

  it('drops NUL, U+FFFD and control and format characters', () => {
    expect(splitWords('a\u0000b\uFFFDc\u200Bd\u00ADe\u0007f', norm)).toEqual(['abcdef']);
  });
});

describe('WordPiece tokenizer', () => {
  it('spells each word with a leading ▁ and continues without one', () => {
    expect(plain(tok, 'Hello, world!')).toEqual(ids('▁hello', '▁,', '▁world', '▁!'));
    expect(plain(tok, 'playing played')).toEqual(ids('▁play', 'ing', '▁play', 'ed'));
  });

  it('strips accents unless the vocabulary says not to', () => {
    expect(plain(tok, 'CAFÉ Café cafe\u0301')).toEqual(ids('▁cafe', '▁cafe', '▁cafe'));
    expect(plain(make({ stripAccents: false }), 'CAFÉ')).toEqual(ids('▁café'));
    expect(plain(make({ lowercase: false }), 'Café')).toEqual(ids('▁Café'));
  });

  it('gives each CJK ideograph its own word, but not kana', () => {
    expect(plain(tok, '中文')).toEqual(ids('▁中', '▁文'));
    expect(plain(tok, 'の')).toEqual(ids('▁の'));
    expect(plain(tok, 'のの')).toEqual([S.unk]);
  });

  it('takes the longest piece greedily, and a word it cannot finish becomes [UNK] whole', () => {
    // ▁una leaves "ble", which is not a piece: greedy matching never tries ▁un + able.
    expect(plain(tok, 'unable')).toEqual([S.unk]);
    // The words around the unknown one keep their pieces.
    expect(plain(tok, 'hello abq world')).toEqual([id('▁hello'), S.unk, id('▁world')]);
    expect(plain(tok, 'hello ∑ world')).toEqual([id('▁hello'), S.unk, id('▁world')]);
  });

  it('cuts a word longer than the longest piece into several', () => {
    // The longest piece is 6 characters (▁hello, ▁world); 25 a's take ▁aaa, 7 × aaa, a.
    expect(plain(tok, 'a'.repeat(25))).toEqual([id('▁aaa'), ...Array(7).fill(id('aaa')), id('a')]);
  });

  it('adds [CLS] and [SEP] whatever add_bos/add_eos say, as llama.cpp does', () => {
    expect(tok.encode('hello')).toEqual([S.cls, id('▁hello'), S.sep]);
    expect(make({ addBos: false, addEos: false }).encode('hello')).toEqual([S.cls, id('▁hello'), S.sep]);
    expect(tok.encode('')).toEqual([S.cls, S.sep]);
    expect([tok.cls, tok.sep, tok.bos, tok.eos, tok.pad, tok.addBos, tok.addEos, tok.addSep])
      .toEqual([S.cls, S.sep, S.cls, undefined, S.pad, true, false, true]);
  });

  it("falls back to llama.cpp's default ids, and says so when they are outside the vocabulary", () => {
    const noBos = make({ bos: false });
    expect(noBos.bos).toBeUndefined(); // the default, 101, is past the end
    expect(plain(noBos, 'hello')).toEqual(ids('▁hello'));
    expect(() => noBos.encode('hello')).toThrow(KilnError);
  });

  it('recognises special tokens only when asked, and hides them when decoding', () => {
    expect(plain(tok, '[MASK]')).toEqual([id('▁['), S.unk, id('▁]')]); // "[", "mask", "]": mask is not a piece
    expect(tok.encode('a[MASK]b', { addSpecial: false, parseSpecial: true })).toEqual([id('▁a'), S.mask, id('▁b')]);
    expect(tok.decode([S.cls, id('▁hello'), S.mask, S.sep])).toBe(' hello');
    expect(tok.decode([S.cls, id('▁hello'), S.sep], { special: true })).toBe('[CLS] hello[SEP]');
  });

  it("decodes as llama.cpp does: ▁ → space, the leading space kept, spaces cleaned up before punctuation", () => {
    expect(tok.decode(plain(tok, "Hello, world! it ' s"))).toBe(" hello, world! it's");
    expect(tok.decode(plain(tok, 'Hello, world!'), { cleanSpaces: false })).toBe(' hello , world !');
    expect(tok.decode(plain(tok, 'playing'))).toBe(' playing');
  });
});

describe('WordPiece pairs (reranking input)', () => {
  const q = ids('▁hello');
  const d = ids('▁world');

  it("follow llama.cpp's server: [CLS] query [SEP] document with WordPiece's defaults", () => {
    expect(tok.encodePair('hello', 'world')).toEqual([S.cls, ...q, S.sep, ...d]);
  });

  it('end each text with EOS when add_eos is set, and leave out the middle SEP when add_sep is not', () => {
    const t = make({ eos: true, addEos: true, addSep: false });
    expect(t.encodePair('hello', 'world')).toEqual([S.cls, ...q, S.sep, ...d, S.sep]);
  });

  it('use SEP for a missing EOS', () => {
    const t = make({ addEos: true });
    expect(t.encodePair('hello', 'world')).toEqual([S.cls, ...q, S.sep, S.sep, ...d, S.sep]);
  });

  it("fill in the model's rerank template, special tokens recognised and none added", () => {
    const t = make({ rerankTemplate: '[CLS]{query}[SEP]{document}[SEP]' });
    expect(t.encodePair('hello', 'world')).toEqual([S.cls, ...q, S.sep, ...d, S.sep]);
    // The texts are put in as they are: no $-patterns.
    expect(t.encodePair('$&', 'x')).toEqual([S.cls, id('▁$'), S.unk, S.sep, id('▁x'), S.sep]);
  });

  it("match what llama.cpp's server source does", () => {
    const src = readFileSync(join(llamaSource(), 'tools/server/server-common.cpp'), 'utf8');
    const body = src.slice(src.indexOf('server_tokens format_prompt_rerank('));
    const fn = body.slice(0, body.indexOf('\n}\n'));
    for (const line of [
      'llama_model_chat_template(model, "rerank")',
      'string_replace_all(prompt, "{query}"   , query);',
      'string_replace_all(prompt, "{document}", doc  );',
      'tokenize_input_subprompt(vocab, mctx, prompt, false, true, init_opt)',
      'tokenize_input_subprompt(vocab, mctx, query, false, false, init_opt)',
      'eos_token = llama_vocab_sep(vocab);',
      'if (llama_vocab_get_add_bos(vocab)) {',
      'if (llama_vocab_get_add_eos(vocab)) {',
      'if (llama_vocab_get_add_sep(vocab)) {',
    ]) expect(fn).toContain(line);
    const order = ['llama_vocab_bos(vocab)', 'query_tokens);', 'push_back(eos_token)', 'llama_vocab_sep(vocab));', 'doc_tokens);', 'push_back(eos_token)'];
    let at = fn.indexOf('if (llama_vocab_get_add_bos');
    for (const step of order) {
      const next = fn.indexOf(step, at);
      expect(next, step).toBeGreaterThan(at);
      at = next;
    }
  });
});
