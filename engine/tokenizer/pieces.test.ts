import { describe, expect, it } from 'vitest';
import { cleanUpSpaces } from './pieces.js';

const clean = (s: string) => new TextDecoder().decode(cleanUpSpaces(new TextEncoder().encode(s)));

describe('cleanUpSpaces', () => {
  const table: Array<[string, string]> = [
    ['Hello , world !', 'Hello, world!'],
    ['a . b ?', 'a. b?'],
    [' .', '.'],
    // " ' " loses both spaces, so a quoted word closes up on both sides.
    ['say \' hi \' ok', "say'hi'ok"],
    ["it 's we 're you 've I 'm", "it's we're you've I'm"],
    ["don 't I 'll you 'd", "don 't I 'll you 'd"],
    ['no change', 'no change'],
    ['', ''],
    // Only the space right before the punctuation goes.
    ['  ,', ' ,'],
  ];
  for (const [input, want] of table) {
    it(`${JSON.stringify(input)} → ${JSON.stringify(want)}`, () => expect(clean(input)).toBe(want));
  }
});
