/**
 * GPT-2's byte-to-unicode alphabet, used by byte-level BPE vocabularies
 * (`tokenizer.ggml.model = gpt2`): each of the 256 byte values is written as
 * one printable character so that token and merge strings never hold raw
 * control bytes or spaces. Bytes that are already printable Latin-1
 * (0x21–0x7E, 0xA1–0xAC, 0xAE–0xFF) stand for themselves; the other 68
 * (controls, space, 0x7F–0xA0, soft hyphen) take U+0100, U+0101, … in byte
 * order, so space is `Ġ` (U+0120) and newline `Ċ` (U+010A).
 */

/** Character standing for each byte. */
export const BYTE_TO_CHAR: readonly string[] = (() => {
  const table: string[] = new Array(256);
  let extra = 0x100;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || b >= 0xae;
    table[b] = String.fromCharCode(printable ? b : extra++);
  }
  return table;
})();

/** Byte for each character code of the alphabet; -1 for characters outside it. */
const CHAR_TO_BYTE: Int16Array = (() => {
  const table = new Int16Array(0x100 + 68).fill(-1);
  BYTE_TO_CHAR.forEach((ch, b) => { table[ch.charCodeAt(0)] = b; });
  return table;
})();

/** The byte a character of the alphabet stands for, or -1. */
export function charToByte(code: number): number {
  return code < CHAR_TO_BYTE.length ? CHAR_TO_BYTE[code] : -1;
}

/** The UTF-8 bytes of `text` written in the byte alphabet (one character per byte). */
export function byteEncode(text: string): string {
  let out = '';
  for (let i = 0; i < text.length; i++) {
    let cp = text.charCodeAt(i);
    if (cp < 0x80) {
      out += BYTE_TO_CHAR[cp];
      continue;
    }
    if (cp >= 0xd800 && cp <= 0xdbff && i + 1 < text.length) {
      const lo = text.charCodeAt(i + 1);
      if (lo >= 0xdc00 && lo <= 0xdfff) {
        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
        i++;
      }
    }
    // A lone surrogate becomes U+FFFD, as TextEncoder would write it.
    if (cp >= 0xd800 && cp <= 0xdfff) cp = 0xfffd;
    if (cp < 0x800) {
      out += BYTE_TO_CHAR[0xc0 | (cp >> 6)] + BYTE_TO_CHAR[0x80 | (cp & 0x3f)];
    } else if (cp < 0x10000) {
      out += BYTE_TO_CHAR[0xe0 | (cp >> 12)] + BYTE_TO_CHAR[0x80 | ((cp >> 6) & 0x3f)] + BYTE_TO_CHAR[0x80 | (cp & 0x3f)];
    } else {
      out += BYTE_TO_CHAR[0xf0 | (cp >> 18)] + BYTE_TO_CHAR[0x80 | ((cp >> 12) & 0x3f)]
        + BYTE_TO_CHAR[0x80 | ((cp >> 6) & 0x3f)] + BYTE_TO_CHAR[0x80 | (cp & 0x3f)];
    }
  }
  return out;
}

const utf8 = new TextEncoder();

/**
 * The bytes a byte-level token's text stands for. A character outside the
 * alphabet cannot come from a well-formed vocabulary; like llama.cpp it is
 * kept visible as `[UNK_BYTE_0x<its utf-8 hex><token text>]` rather than dropped.
 */
export function byteDecode(tokenText: string): Uint8Array {
  const out = new Uint8Array(tokenText.length);
  let n = 0;
  for (let i = 0; i < tokenText.length; i++) {
    const b = charToByte(tokenText.charCodeAt(i));
    if (b >= 0) {
      out[n++] = b;
      continue;
    }
    return slowByteDecode(tokenText);
  }
  return out;
}

function slowByteDecode(tokenText: string): Uint8Array {
  const parts: number[] = [];
  for (const ch of tokenText) {
    const b = ch.length === 1 ? charToByte(ch.charCodeAt(0)) : -1;
    if (b >= 0) {
      parts.push(b);
      continue;
    }
    const hex = Array.from(utf8.encode(ch), (x) => x.toString(16).padStart(2, '0')).join('');
    parts.push(...utf8.encode(`[UNK_BYTE_0x${hex}${tokenText}]`));
  }
  return Uint8Array.from(parts);
}
