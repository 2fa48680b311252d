import { describe, expect, it } from 'vitest';
import { partitionSpecial, type SpecialToken } from './special-tokens.js';

const tok = (id: number, text: string, o: Partial<SpecialToken> = {}): SpecialToken => ({
  id, text, always: false, lstrip: false, rstrip: false, ...o,
});

describe('partitionSpecial', () => {
  const specials = [tok(1, 'a|b|>'), tok(2, '<|a|'), tok(3, '<eot>'), tok(4, '<user>', { always: true })];

  const table: Array<[string, string, boolean, Array<string | number>]> = [
    ['cuts control tokens out when parsing specials', 'x<eot>y', true, ['x', 3, 'y']],
    ['leaves control tokens as text otherwise', 'x<eot>y', false, ['x<eot>y']],
    ['always cuts user-defined tokens', 'x<user>y<eot>', false, ['x', 4, 'y<eot>']],
    ['cuts every occurrence, adjacent ones too', '<eot><eot>z<eot>', true, [3, 3, 'z', 3]],
    ['takes the longer token first even where a shorter one starts earlier', '<|a|b|>', true, ['<|', 1]],
    ['returns nothing for empty text', '', true, []],
  ];
  for (const [name, text, parse, want] of table) {
    it(name, () => expect(partitionSpecial(text, specials, parse)).toEqual(want));
  }

  it('drops ASCII whitespace after an rstrip token and before an lstrip token', () => {
    const s = [tok(1, '<r>', { rstrip: true }), tok(2, '<l>', { lstrip: true })];
    expect(partitionSpecial('a <r> \n b \t<l> c', s, true)).toEqual(['a ', 1, 'b', 2, ' c']);
    expect(partitionSpecial('<r>  ', s, true)).toEqual([1]);
    // Only ASCII whitespace (C isspace): a no-break space stays.
    expect(partitionSpecial('<r>\u00a0x', s, true)).toEqual([1, '\u00a0x']);
  });
});
