/**
 * Cutting special tokens out of the input before the model's tokenizer sees
 * the rest. Control and unknown tokens are recognised only when the caller
 * asks (`parseSpecial`, e.g. for a rendered chat template); user-defined
 * tokens (added tokens such as GPT-NeoX's runs of spaces) always are, as in
 * Hugging Face tokenizers.
 *
 * Order matters when candidates overlap, and llama.cpp's is the reference:
 * token by token, longest text first, every occurrence of the token is cut
 * out of every remaining stretch of text. So in "<|a|b|>" with specials
 * "<|a|" and "a|b|>", the longer "a|b|>" wins even though "<|a|" starts first.
 */
import { SPECIAL_ATTRS, TokenAttr, type Vocab } from './vocab.js';

export interface SpecialToken {
  id: number;
  text: string;
  /** User-defined: recognised even without parseSpecial. */
  always: boolean;
  lstrip: boolean;
  rstrip: boolean;
}

/** A stretch of input text, or a special token's id. */
export type Fragment = string | number;

const utf8 = new TextEncoder();

/** The vocabulary's special tokens in matching order: longest (in UTF-8 bytes) first, then by id. */
export function specialTokens(v: Vocab): SpecialToken[] {
  const list: Array<SpecialToken & { bytes: number }> = [];
  for (let id = 0; id < v.attrs.length; id++) {
    const a = v.attrs[id];
    if (!(a & SPECIAL_ATTRS)) continue;
    const text = v.tokens[id];
    list.push({
      id, text, bytes: utf8.encode(text).length,
      always: !(a & (TokenAttr.CONTROL | TokenAttr.UNKNOWN)),
      lstrip: (a & TokenAttr.LSTRIP) !== 0,
      rstrip: (a & TokenAttr.RSTRIP) !== 0,
    });
  }
  list.sort((x, y) => y.bytes - x.bytes || x.id - y.id);
  return list.map(({ bytes: _bytes, ...t }) => t);
}

/** C's isspace in the C locale: the whitespace llama.cpp strips around specials. */
function isAsciiSpace(c: number): boolean {
  return c === 0x20 || (c >= 0x09 && c <= 0x0d);
}

export function partitionSpecial(text: string, specials: readonly SpecialToken[], parseSpecial: boolean): Fragment[] {
  if (text.length === 0) return [];
  let fragments: Fragment[] = [text];
  for (const s of specials) {
    if (!parseSpecial && !s.always) continue;
    // Every stretch is a substring of the input: one scan rules most tokens out.
    if (!text.includes(s.text)) continue;
    const next: Fragment[] = [];
    for (const f of fragments) {
      if (typeof f === 'number') next.push(f);
      else cutToken(f, s, next);
    }
    fragments = next;
  }
  return fragments;
}

function cutToken(stretch: string, s: SpecialToken, out: Fragment[]): void {
  let rest = stretch;
  for (;;) {
    const at = rest.indexOf(s.text);
    if (at < 0) {
      if (rest.length > 0) out.push(rest);
      return;
    }
    let leftEnd = at;
    if (s.lstrip) while (leftEnd > 0 && isAsciiSpace(rest.charCodeAt(leftEnd - 1))) leftEnd--;
    if (leftEnd > 0) out.push(rest.slice(0, leftEnd));
    out.push(s.id);
    let rightStart = at + s.text.length;
    if (s.rstrip) while (rightStart < rest.length && isAsciiSpace(rest.charCodeAt(rightStart))) rightStart++;
    rest = rest.slice(rightStart);
  }
}
