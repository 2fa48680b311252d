import { describe, expect, it } from 'vitest';
import { byteEncode } from './byte-encoding.js';
import { sampleBpeFile, type SampleBpeOptions } from './sample-vocab.js';
import { Tokenizer } from './tokenizer.js';

const make = (o: SampleBpeOptions) => Tokenizer.fromGGUF(sampleBpeFile(o));
const id = (t: Tokenizer, raw: string) => t.vocab.tokenToId.get(byteEncode(raw))!;
const plain = { addSpecial: false };

describe('byte-level BPE', () => {
  it('applies the lowest-ranked merge first', () => {
    const abFirst = make({ merges: [['a', 'b'], ['b', 'c'], ['ab', 'c']] });
    expect(abFirst.encode('abc', plain)).toEqual([id(abFirst, 'abc')]);
    const bcFirst = make({ merges: [['b', 'c'], ['a', 'b']] });
    expect(bcFirst.encode('abc', plain)).toEqual([id(bcFirst, 'a'), id(bcFirst, 'bc')]);
  });

  it('merges the leftmost pair when ranks tie', () => {
    const t = make({ merges: [['a', 'a']] });
    expect(t.encode('aaa', plain)).toEqual([id(t, 'aa'), id(t, 'a')]);
  });

  it('writes bytes in the GPT-2 alphabet: space is Ġ, and UTF-8 bytes are tokens 0–255', () => {
    const t = make({ merges: [[' ', 'a']] });
    expect(t.tokenText(id(t, ' a'))).toBe('Ġa');
    expect(t.encode('é a', plain)).toEqual([0xc3, 0xa9, id(t, ' a')]);
    expect(t.decode([0xc3, 0xa9, id(t, ' a')])).toBe('é a');
  });

  it('takes a pre-token that is a vocabulary entry whole under llama-bpe (ignore_merges), not under gpt-2', () => {
    const spec = { merges: [['x', 'y']] as Array<[string, string]>, extra: ['xyz'] };
    const llama = make({ ...spec, pre: 'llama-bpe' });
    expect(llama.encode('xyz', plain)).toEqual([id(llama, 'xyz')]);
    const gpt2 = make({ ...spec, pre: 'gpt-2' });
    expect(gpt2.encode('xyz', plain)).toEqual([id(gpt2, 'xy'), 'z'.charCodeAt(0)]);
  });

  it('never merges across pre-tokens, which the pre-tokenizer chosen by tokenizer.ggml.pre decides', () => {
    const merges: Array<[string, string]> = [['1', '2'], ['12', '3']];
    const llama = make({ merges, pre: 'llama-bpe' });
    const qwen = make({ merges, pre: 'qwen2' });
    expect(llama.encode('123', plain)).toEqual([id(llama, '123')]);
    expect(qwen.encode('123', plain)).toEqual([0x31, 0x32, 0x33]);
    // "a " is a merge, but "a" and " b" are separate pre-tokens.
    const across = make({ merges: [['a', ' ']] });
    expect(across.encode('a b', plain)).toEqual([0x61, 0x20, 0x62]);
  });

  it('adds BOS by the flags of the pre-tokenizer and the metadata', () => {
    const specials: Array<[string, 3]> = [['<|bos|>', 3]];
    expect(make({ merges: [], specials, pre: 'llama-bpe' }).encode('a')).toEqual([256, 0x61]);
    expect(make({ merges: [], specials, pre: 'gpt-2' }).encode('a')).toEqual([0x61]);
    expect(make({ merges: [], specials, pre: 'gpt-2', addBos: true }).encode('a')).toEqual([256, 0x61]);
    // Without a bos_token_id, BPE falls back to Falcon's id 11, as llama.cpp does.
    expect(make({ merges: [], pre: 'llama-bpe' }).encode('a')).toEqual([11, 0x61]);
  });

  it('gives the same tokens for a repeated word (cached) as the first time', () => {
    const t = make({ merges: [['a', 'b'], [' ', 'ab']] });
    const once = t.encode(' ab', plain);
    expect(t.encode(' ab ab ab', plain)).toEqual([...once, ...once, ...once]);
  });

  it('merges a 200,000-byte word in n log n', () => {
    const t = make({ merges: [['a', 'a'], ['aa', 'aa'], ['aaaa', 'aaaa']] });
    const t0 = performance.now();
    const ids = t.encode('a'.repeat(200_000), plain);
    expect(performance.now() - t0).toBeLessThan(5000);
    expect(ids).toEqual(Array(25_000).fill(id(t, 'aaaaaaaa')));
  });
});
