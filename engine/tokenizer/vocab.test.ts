import { describe, expect, it } from 'vitest';
import { parseGGUF } from '../gguf/reader.js';
import { sampleBytes } from '../gguf/sample.js';
import { GGUFValueType as VT, gv, type GGUFValue } from '../gguf/types.js';
import { sampleBpeFile, sampleSpmFile } from './sample-vocab.js';
import { Tokenizer } from './tokenizer.js';
import { TokenAttr, loadVocab } from './vocab.js';

const file = (kv: Array<[string, GGUFValue]>) => parseGGUF(sampleBytes({ kv: new Map(kv), tensors: [] }));
const tokens = gv.array(VT.STRING, ['a', 'b']);

describe('loadVocab', () => {
  it('applies llama.cpp defaults to a SentencePiece vocabulary', () => {
    const v = loadVocab(sampleSpmFile({ pieces: [['▁', -1]] }));
    expect(v).toMatchObject({ type: 'spm', pre: 'default', addBos: true, addEos: false, addSpacePrefix: true });
    expect(v.ids).toMatchObject({ bos: 1, eos: 2, unk: 0 });
    expect([...v.eog]).toEqual([2]);
    expect(loadVocab(sampleSpmFile({ pieces: [], addSpacePrefix: false })).addSpacePrefix).toBe(false);
  });

  it('reads a missing pre-tokenizer as default, and a missing token_type as all normal', () => {
    const v = loadVocab(file([
      ['tokenizer.ggml.model', gv.str('gpt2')], ['tokenizer.ggml.tokens', tokens],
      ['tokenizer.ggml.merges', gv.array(VT.STRING, ['a b'])],
    ]));
    expect(v.pre).toBe('default');
    expect([...v.attrs]).toEqual([TokenAttr.NORMAL, TokenAttr.NORMAL]);
    expect(v.addBos).toBe(false);
  });

  it('marks a control-looking token CONTROL and end-of-generation even when typed normal', () => {
    const v = loadVocab(sampleBpeFile({ merges: [], extra: ['<|im_end|>'], specials: [['<|bos|>', 3]] }));
    const imEnd = v.tokenToId.get('<|im_end|>')!;
    expect(v.attrs[imEnd] & TokenAttr.CONTROL).toBeTruthy();
    expect(v.eog.has(imEnd)).toBe(true);
    expect(v.ids.eot).toBe(imEnd);
  });

  it('marks the specials of a Phi-3 model to drop the whitespace after them', () => {
    const v = loadVocab(sampleSpmFile({ pieces: [['▁', -1]], specials: [['<|user|>', 4], ['<|end|>', 3]], name: 'Phi3' }));
    const user = v.tokenToId.get('<|user|>')!;
    expect(v.attrs[user] & TokenAttr.RSTRIP).toBeTruthy();
    expect(v.attrs[1] & TokenAttr.RSTRIP).toBe(0); // <s>
    expect(v.attrs[2] & TokenAttr.RSTRIP).toBeTruthy(); // </s>
    const t = Tokenizer.fromGGUF(sampleSpmFile({ pieces: [['▁', -1], ['▁a', -1]], specials: [['<|user|>', 4]], name: 'Phi3' }));
    const id = (text: string) => t.vocab.tokenToId.get(text);
    // The newline and space after <|user|> go; the text after it gets SentencePiece's prefix space.
    expect(t.encode('<|user|>\n a', { addSpecial: false })).toEqual([id('<|user|>'), id('▁a')]);
  });

  const bad: Array<[string, Array<[string, GGUFValue]>, string]> = [
    ['a Unigram tokenizer', [['tokenizer.ggml.model', gv.str('t5')], ['tokenizer.ggml.tokens', tokens]], 'E_GGUF_UNSUPPORTED'],
    ['an unknown pre-tokenizer', [['tokenizer.ggml.model', gv.str('gpt2')], ['tokenizer.ggml.pre', gv.str('nope')],
      ['tokenizer.ggml.tokens', tokens], ['tokenizer.ggml.merges', gv.array(VT.STRING, [])]], 'E_GGUF_UNSUPPORTED'],
    ['no tokenizer', [['general.architecture', gv.str('llama')]], 'E_GGUF_MALFORMED'],
    ['no tokens', [['tokenizer.ggml.model', gv.str('llama')]], 'E_GGUF_MALFORMED'],
    ['BPE without merges', [['tokenizer.ggml.model', gv.str('gpt2')], ['tokenizer.ggml.tokens', tokens]], 'E_GGUF_MALFORMED'],
    ['tokens that are not strings', [['tokenizer.ggml.model', gv.str('llama')], ['tokenizer.ggml.tokens', gv.array(VT.I32, new Int32Array(2))]], 'E_GGUF_MALFORMED'],
    ['too few scores', [['tokenizer.ggml.model', gv.str('llama')], ['tokenizer.ggml.tokens', tokens],
      ['tokenizer.ggml.scores', gv.array(VT.F32, new Float32Array(1))]], 'E_GGUF_MALFORMED'],
  ];
  for (const [what, kv, code] of bad) {
    it(`rejects ${what} with ${code}`, () => {
      expect(() => loadVocab(file(kv))).toThrow(expect.objectContaining({ code }));
    });
  }
});

describe('Tokenizer', () => {
  it('refuses to add a BOS the vocabulary lacks', () => {
    const t = Tokenizer.fromGGUF(file([
      ['tokenizer.ggml.model', gv.str('gpt2')], ['tokenizer.ggml.pre', gv.str('llama-bpe')],
      ['tokenizer.ggml.tokens', tokens], ['tokenizer.ggml.merges', gv.array(VT.STRING, [])],
    ]));
    expect(t.bos).toBeUndefined();
    expect(t.encode('a', { addSpecial: false })).toEqual([0]);
    expect(() => t.encode('a')).toThrow(expect.objectContaining({ code: 'E_GGUF_MALFORMED' }));
  });

  it('rejects token ids outside the vocabulary', () => {
    const t = Tokenizer.fromGGUF(sampleSpmFile({ pieces: [] }));
    for (const id of [-1, t.vocabSize, 1.5, NaN]) {
      expect(() => t.decode([id])).toThrow(expect.objectContaining({ code: 'E_BAD_REQUEST' }));
      expect(() => t.tokenToPiece(id)).toThrow(expect.objectContaining({ code: 'E_BAD_REQUEST' }));
    }
  });
});
