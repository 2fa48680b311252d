/**
 * The kjv model's tokenizer (byte-level BPE, llama-bpe pre-tokenizer) against
 * the tokens llama.cpp recorded in models/kjv/golden.json.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { readGGUFFileSync } from '../gguf/reader.js';
import { Tokenizer } from './index.js';

import { KJV_DIR } from '../../test/helpers/fixtures.js';

const KJV = KJV_DIR.replace(/\/$/, '');

interface Golden {
  settings: { bos_token_id: number; eos_token_id: number };
  tokenize_checks: Array<{ text: string; tokens: number[]; tokens_special: number[] }>;
  prompts: Array<{ prompt: string; prompt_tokens: number[]; generated_tokens: number[]; generated_text: string; generated_pieces: string[] }>;
}
const golden = JSON.parse(readFileSync(`${KJV}/golden.json`, 'utf8')) as Golden;
const tok = Tokenizer.fromGGUF(`${KJV}/kjv-f32.gguf`);

describe('kjv tokenizer', () => {
  it('has the special tokens llama.cpp reports', () => {
    expect(tok.vocabSize).toBe(2000);
    expect(tok.bos).toBe(golden.settings.bos_token_id);
    expect(tok.eos).toBe(golden.settings.eos_token_id);
    expect(tok.eot).toBe(1999); // <|eot_id|>, found by its text
    expect(tok.addBos).toBe(true);
    expect(tok.addEos).toBe(false);
    expect([1996, 1999].map((id) => tok.isEog(id))).toEqual([true, true]);
    expect([1995, 1997, 1998, 258].map((id) => tok.isEog(id))).toEqual([false, false, false, false]);
  });

  it('loads the same from the F16 file, by path or parsed header', () => {
    const f16 = Tokenizer.fromGGUF(readGGUFFileSync(`${KJV}/kjv-f16.gguf`));
    expect(f16.encode(golden.prompts[7].prompt)).toEqual(golden.prompts[7].prompt_tokens);
  });

  for (const c of golden.tokenize_checks) {
    it(`tokenizes ${JSON.stringify(c.text).slice(0, 50)} like llama.cpp, special text plain or parsed`, () => {
      expect(tok.encode(c.text, { addSpecial: false })).toEqual(c.tokens);
      expect(tok.encode(c.text, { addSpecial: false, parseSpecial: true })).toEqual(c.tokens_special);
      expect(tok.decode(c.tokens)).toBe(c.text);
      expect(tok.decode(c.tokens_special, { special: true })).toBe(c.text);
    });
  }

  it('tokenizes every golden prompt as BOS + tokens, and decodes the continuations', () => {
    for (const p of golden.prompts) {
      expect(tok.encode(p.prompt)).toEqual(p.prompt_tokens);
      expect(tok.decode(p.prompt_tokens)).toBe(p.prompt);
      expect(tok.decode(p.prompt_tokens, { special: true })).toBe(`<|begin_of_text|>${p.prompt}`);
      expect(tok.decode(p.generated_tokens)).toBe(p.generated_text);
      expect(p.generated_tokens.map((id) => tok.tokenToPiece(id, { special: true }))).toEqual(p.generated_pieces);
    }
  });

  it('hides control tokens unless asked, and drops BOS/EOS with removeSpecial', () => {
    const ids = tok.encode('<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>', { parseSpecial: true });
    expect(ids.slice(0, 2)).toEqual([1995, 1997]);
    expect(tok.decode(ids)).toBe('user\n\nHi');
    expect(tok.decode([1995, ...tok.encode('Hi', { addSpecial: false })], { special: true, removeSpecial: true })).toBe('Hi');
    expect(tok.tokenToPiece(1999)).toBe('');
    expect(tok.tokenToPiece(1999, { special: true })).toBe('<|eot_id|>');
    expect(tok.tokenText(32)).toBe('Ġ');
  });
});
