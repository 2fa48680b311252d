import { describe, expect, it } from 'vitest';
import { PRE_TOKENIZERS, familyRegexes, preTokenizerSpec, splitText, type PreTokenizerFamily } from './pre-tokenizers.js';

const split = (family: PreTokenizerFamily, text: string) => splitText(text, familyRegexes(family));

describe('splitText', () => {
  const table: Array<[PreTokenizerFamily, string, string[]]> = [
    ['llama3', 'Hello world', ['Hello', ' world']],
    ['llama3', '  multiple   spaces', [' ', ' multiple', '  ', ' spaces']],
    ['llama3', '12345', ['123', '45']],
    ['llama3', "don't I'LL", ['don', "'t", ' I', "'LL"]],
    ['llama3', 'a\n\n\tb', ['a', '\n\n', '\tb']],
    ['llama3', 'x?!\n\ny', ['x', '?!\n\n', 'y']],
    ['qwen2', '12345', ['1', '2', '3', '4', '5']],
    ['gpt2', 'Hello  world', ['Hello', ' ', ' world']],
    // GPT-2's pattern leaves a tab before a letter unmatched; the gap is a piece of its own.
    ['gpt2', 'a\tb', ['a', '\t', 'b']],
    ['starcoder', 'abc123', ['abc', '1', '2', '3']],
    // Regexes apply in turn: punctuation runs, GPT-2's pattern, digit runs, then groups of three digits.
    ['default', 'a,b 1234', ['a', ',', 'b', ' ', '123', '4']],
    ['falcon', 'x`y 12345', ['x', '`', 'y', ' ', '123', '45']],
    ['deepseek-coder', 'ab12\ncd', ['ab', '1', '2', '\n', 'cd']],
    ['qwen35', 'e\u0301t\u00e9', ['e\u0301t\u00e9']],
    ['qwen2', 'e\u0301t\u00e9', ['e', '\u0301t\u00e9']],
    ['lines', 'a b\n\nc', ['a b', '\n\n', 'c']],
  ];
  for (const [family, text, pieces] of table) {
    it(`${family}: ${JSON.stringify(text)} → ${JSON.stringify(pieces)}`, () => {
      expect(split(family, text)).toEqual(pieces);
    });
  }

  it('treats non-ASCII whitespace as llama.cpp does: never as a literal in a range', () => {
    // U+3000 lies inside DeepSeek's U+0800–U+4E00 range, but llama.cpp's
    // engines see it as whitespace, so it does not join the ideographs.
    expect(split('deepseek-llm', '中\u3000文')).toEqual(['中', '\u3000', '文']);
    expect(split('llama3', 'a\u00a0b')).toEqual(['a', '\u00a0b']);
  });

  it('gives nothing for empty text and keeps every character otherwise', () => {
    expect(split('llama3', '')).toEqual([]);
    const text = 'Mixed 123 text, with\ttabs\r\n and 😀 emoji — and ½ numbers';
    for (const family of ['default', 'gpt2', 'llama3', 'qwen2', 'qwen35', 'starcoder', 'falcon', 'deepseek-llm', 'deepseek-coder', 'lines'] as const) {
      expect(split(family, text).join(''), family).toBe(text);
    }
  });
});

describe('preTokenizerSpec', () => {
  it('knows llama-bpe, qwen2 and default, with their flags', () => {
    expect(preTokenizerSpec('llama-bpe')).toMatchObject({ family: 'llama3', ignoreMerges: true, addBos: true, cleanSpaces: true });
    expect(preTokenizerSpec('qwen2')).toMatchObject({ family: 'qwen2', ignoreMerges: false, cleanSpaces: false });
    expect(preTokenizerSpec('default')).toMatchObject({ family: 'default', ignoreMerges: false });
    expect(PRE_TOKENIZERS.size).toBeGreaterThan(30);
  });

  it('rejects a name it does not know', () => {
    expect(() => preTokenizerSpec('tekken')).toThrow(expect.objectContaining({ code: 'E_GGUF_UNSUPPORTED' }));
  });
});
