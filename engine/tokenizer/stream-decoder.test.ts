import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { KJV_F32 } from '../../test/helpers/fixtures.js';
import { sampleSpmFile } from './sample-vocab.js';
import { completeLength } from './stream-decoder.js';
import { Tokenizer } from './tokenizer.js';

const kjv = Tokenizer.fromGGUF(KJV_F32);
const spm = Tokenizer.fromGGUF(sampleSpmFile({ pieces: [['▁', -1], ['a', -2]], addSpacePrefix: false }));
const BYTE0 = 3;

/** Pushes each token and returns what each push emitted, then the flush. */
function stream(t: Tokenizer, ids: number[]): string[] {
  const d = t.createStreamDecoder();
  return [...ids.map((id) => d.push(id)), d.flush()];
}

describe('StreamDecoder', () => {
  it('holds a CJK character split over byte-level BPE tokens until its last byte', () => {
    const ids = kjv.encode('日本', { addSpecial: false });
    expect(ids).toEqual([230, 151, 165, 230, 156, 172]);
    expect(stream(kjv, ids)).toEqual(['', '', '日', '', '', '本', '']);
  });

  it('holds an emoji spelled as four <0xNN> byte-fallback tokens', () => {
    const ids = spm.encode('a🦙a', { addSpecial: false });
    expect(ids).toEqual([spm.vocab.tokenToId.get('a'), BYTE0 + 0xf0, BYTE0 + 0x9f, BYTE0 + 0xa6, BYTE0 + 0x99, spm.vocab.tokenToId.get('a')]);
    const d = spm.createStreamDecoder();
    const out = ids.map((id) => { const s = d.push(id); return [s, d.pending]; });
    expect(out).toEqual([['a', 0], ['', 1], ['', 2], ['', 3], ['🦙', 0], ['a', 0]]);
  });

  it('emits U+FFFD once a held sequence cannot complete, and on flush', () => {
    // A 3-byte lead then an ASCII token: the lead can never complete.
    expect(stream(spm, [BYTE0 + 0xe6, spm.vocab.tokenToId.get('a')!])).toEqual(['', '\uFFFDa', '']);
    expect(stream(spm, [BYTE0 + 0xf0, BYTE0 + 0x9f])).toEqual(['', '', '\uFFFD']);
    // A stray continuation byte is invalid at once.
    expect(stream(spm, [BYTE0 + 0x80])).toEqual(['\uFFFD', '']);
  });

  it('hides control tokens unless asked', () => {
    const ids = kjv.encode('Hi<|eot_id|>', { parseSpecial: true });
    expect(stream(kjv, ids).join('')).toBe('Hi');
    const d = kjv.createStreamDecoder({ special: true });
    expect(ids.map((id) => d.push(id)).join('')).toBe('<|begin_of_text|>Hi<|eot_id|>');
  });

  it('streams exactly the text of the tokens, each chunk whole characters', () => {
    fc.assert(fc.property(fc.string({ unit: 'grapheme', maxLength: 40 }), (text) => {
      const chunks = stream(kjv, kjv.encode(text, { addSpecial: false }));
      expect(chunks.join('')).toBe(text);
      // a chunk shows U+FFFD only where the text itself has one (never a split character)
      for (const c of chunks) if (c.includes('\uFFFD')) expect(text.includes('\uFFFD')).toBe(true);
    }), { numRuns: 300 });
  });
});

describe('completeLength', () => {
  const table: Array<[number[], number]> = [
    [[], 0], [[0x61], 1], [[0xe6], 0], [[0xe6, 0x97], 0], [[0xe6, 0x97, 0xa5], 3],
    [[0x61, 0xf0, 0x9f, 0xa6], 1], [[0xf0, 0x9f, 0xa6, 0x99], 4], [[0x80], 1], [[0xff], 1], [[0xc3], 0],
  ];
  for (const [bytes, n] of table) it(`${bytes.map((b) => b.toString(16)).join(' ') || 'empty'} → ${n}`, () => {
    expect(completeLength(Uint8Array.from(bytes))).toBe(n);
  });
});
