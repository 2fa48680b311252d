/**
 * What each token stands for as bytes, and detokenization. A piece is bytes,
 * not a string: a byte token (`<0xE2>`, or a byte-level BPE token covering
 * part of a character) holds an incomplete UTF-8 sequence that only the
 * following tokens complete.
 *
 * All pieces live in one buffer with an offset table, so a 256k vocabulary
 * costs its bytes plus 4 bytes per token rather than an object per token.
 */
import { KilnError } from '../../common/errors.js';
import { byteDecode, charToByte } from './byte-encoding.js';
import { TokenAttr, type Vocab } from './vocab.js';

const utf8 = new TextEncoder();
const HIDDEN_UNLESS_SPECIAL = TokenAttr.UNKNOWN | TokenAttr.CONTROL;
const SPACE = 0x20;

export class PieceTable {
  private readonly bytes: Uint8Array;
  private readonly offsets: Uint32Array;

  constructor(private readonly vocab: Vocab) {
    const n = vocab.tokens.length;
    const w = new PieceWriter(vocab.tokens.reduce((sum, t) => sum + t.length, 0) + 16);
    this.offsets = new Uint32Array(n + 1);
    for (let id = 0; id < n; id++) {
      this.offsets[id] = w.length;
      writePiece(vocab, id, w);
    }
    this.offsets[n] = w.length;
    this.bytes = w.done();
  }

  /**
   * The bytes of token `id` (a view: do not modify). Control and unknown
   * tokens are empty unless `special`; user-defined tokens always show.
   */
  get(id: number, special: boolean): Uint8Array {
    if (!Number.isInteger(id) || id < 0 || id >= this.offsets.length - 1) {
      throw new KilnError('E_BAD_REQUEST', `token id ${id} is outside the vocabulary (0..${this.offsets.length - 2})`);
    }
    if (!special && this.vocab.attrs[id] & HIDDEN_UNLESS_SPECIAL) return this.bytes.subarray(0, 0);
    return this.bytes.subarray(this.offsets[id], this.offsets[id + 1]);
  }
}

/** An append-only byte buffer that doubles as needed. */
class PieceWriter {
  private buf: Uint8Array;
  length = 0;

  constructor(capacity: number) {
    this.buf = new Uint8Array(capacity);
  }

  private reserve(extra: number): void {
    if (this.length + extra <= this.buf.length) return;
    const grown = new Uint8Array(Math.max(this.buf.length * 2, this.length + extra));
    grown.set(this.buf.subarray(0, this.length));
    this.buf = grown;
  }

  byte(b: number): void {
    this.reserve(1);
    this.buf[this.length++] = b;
  }

  bytes(b: Uint8Array): void {
    this.reserve(b.length);
    this.buf.set(b, this.length);
    this.length += b.length;
  }

  /** UTF-8 of `text`; ASCII is copied directly, the rest goes through TextEncoder. */
  text(text: string): void {
    this.reserve(text.length);
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c >= 0x80) {
        this.bytes(utf8.encode(text.slice(i)));
        return;
      }
      this.buf[this.length++] = c;
    }
  }

  done(): Uint8Array {
    return this.buf.subarray(0, this.length);
  }
}

/** Writes the piece of a token with special tokens shown (the form the table stores). */
function writePiece(v: Vocab, id: number, w: PieceWriter): void {
  const attr = v.attrs[id];
  const text = v.tokens[id];
  if (attr & (HIDDEN_UNLESS_SPECIAL | TokenAttr.USER_DEFINED)) {
    w.text(text);
  } else if (attr & TokenAttr.NORMAL) {
    if (v.type === 'spm' || v.escapeWhitespaces) w.text(text.replaceAll('\u2581', ' '));
    else if (!byteDecodeInto(text, w)) w.bytes(byteDecode(text));
  } else if (attr & TokenAttr.BYTE) {
    // `<0xNN>`: the two hex digits after "<0x".
    const b = parseInt(text.slice(3, 5), 16);
    if (!Number.isNaN(b)) w.byte(b);
  }
  // Unused and undefined tokens render as nothing.
}

/** The common case of byteDecode without an intermediate array; false if a character is outside the alphabet. */
function byteDecodeInto(text: string, w: PieceWriter): boolean {
  for (let i = 0; i < text.length; i++) if (charToByte(text.charCodeAt(i)) < 0) return false;
  for (let i = 0; i < text.length; i++) w.byte(charToByte(text.charCodeAt(i)));
  return true;
}

export interface DecodeOptions {
  /** Show control and unknown tokens as their text (default false: they decode to nothing). */
  special?: boolean;
  /** Drop a leading BOS and a trailing EOS when the model adds them itself (default false). */
  removeSpecial?: boolean;
  /**
   * Remove the space before `?!.,` and before some contractions, as the
   * model's tokenizer config asks (`clean_up_tokenization_spaces`); defaults
   * to the model's setting. Off gives the exact concatenation of the pieces.
   */
  cleanSpaces?: boolean;
}

const utf8Decoder = new TextDecoder('utf-8', { ignoreBOM: true });

/**
 * Token ids → text. Matches llama.cpp's detokenizer: a SentencePiece model's
 * added prefix space is taken off the first token (unless a removed BOS came
 * first), then the optional clean-up passes run on the bytes. Invalid UTF-8
 * (a sequence cut short) becomes U+FFFD.
 */
export function detokenize(v: Vocab, pieces: PieceTable, ids: ArrayLike<number>, opts: DecodeOptions = {}): string {
  const special = opts.special ?? false;
  let first = 0;
  let last = ids.length;
  let stripSpace = v.addSpacePrefix;
  if (opts.removeSpecial && v.addBos && last > 0 && ids[0] === v.ids.bos) {
    first = 1;
    stripSpace = false;
  }
  if (opts.removeSpecial && v.addEos && last > first && ids[last - 1] === v.ids.eos) last--;

  let size = 0;
  for (let i = first; i < last; i++) size += pieces.get(ids[i], special).length;
  let out: Uint8Array = new Uint8Array(size);
  let n = 0;
  for (let i = first; i < last; i++) {
    let p = pieces.get(ids[i], special);
    if (stripSpace && p.length > 0 && p[0] === SPACE) p = p.subarray(1);
    stripSpace = false;
    out.set(p, n);
    n += p.length;
  }
  out = out.subarray(0, n);
  if (opts.cleanSpaces ?? v.cleanSpaces) out = cleanUpSpaces(out);
  return utf8Decoder.decode(out);
}

const Q = 0x27; // '

/**
 * Hugging Face's clean_up_tokenization_spaces as llama.cpp applies it, in
 * three passes over the bytes (the first byte is always kept):
 * 1. drop a space right before `?`, `!`, `.` or `,`;
 * 2. drop the spaces around a lone apostrophe (" ' " → "'");
 * 3. drop the space before the contractions 's, 'm, 're and 've
 *    (not before 't, 'd or 'll).
 * Works in place on `b` and returns the shortened view.
 */
export function cleanUpSpaces(b: Uint8Array): Uint8Array {
  let n = b.length;
  if (n === 0) return b;

  let w = 1;
  for (let r = 1; r < n; r++) {
    const x = b[r];
    if (b[r - 1] === SPACE && (x === 0x3f || x === 0x21 || x === 0x2e || x === 0x2c)) w--;
    b[w++] = x;
  }
  n = w;

  w = 1;
  for (let r = 1; r < n; r++) {
    const x = b[r];
    if (x === Q && r + 1 < n && b[r - 1] === SPACE && b[r + 1] === SPACE) {
      w--;
      // The space after is skipped; it is zeroed so that a later check of
      // "previous byte" in this pass does not see it as a space.
      b[++r] = 0;
    }
    b[w++] = x;
  }
  n = w;

  w = 1;
  for (let r = 1; r < n; r++) {
    const x = b[r];
    if (b[r - 1] === SPACE && x === Q && r + 1 < n) {
      const x1 = b[r + 1];
      if (x1 === 0x73 || x1 === 0x6d) {
        w--; // 's 'm
      } else if (x1 !== 0x74 && x1 !== 0x64 && r + 2 < n) {
        const x2 = b[r + 2];
        if ((x1 === 0x72 || x1 === 0x76) && x2 === 0x65) w--; // 're 've
      }
    }
    b[w++] = x;
  }
  return b.subarray(0, w);
}
