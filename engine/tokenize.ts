/**
 * Tokenize and detokenize as llama-server's /tokenize and /detokenize answer
 * them; shared by the daemon (POST /api/tokenize, /api/detokenize) and the
 * library (Llama.tokenize / detokenize).
 */
import { KilnError } from '../common/errors.js';
import type { Tokenizer } from './tokenizer/index.js';

export interface TokenizeOptions {
  /** Add BOS/EOS where the model asks for them (default false, as llama-server). */
  addSpecial?: boolean;
  /** Recognise control tokens written in the text (default true, as llama-server). */
  parseSpecial?: boolean;
}

/** A token with its text: a string when its bytes are valid UTF-8 on their own, else the bytes. */
export interface TokenWithPiece {
  id: number;
  piece: string | number[];
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const utf8 = new TextDecoder('utf-8', { ignoreBOM: true });

export function tokenize(tok: Tokenizer, text: string, opts: TokenizeOptions = {}): number[] {
  return tok.encode(text, { addSpecial: opts.addSpecial ?? false, parseSpecial: opts.parseSpecial ?? true });
}

/** Each token's piece (control tokens as their text). */
export function withPieces(tok: Tokenizer, ids: readonly number[]): TokenWithPiece[] {
  return ids.map((id) => {
    const bytes = tok.tokenToBytes(id, { special: true });
    try {
      return { id, piece: strictUtf8.decode(bytes) };
    } catch {
      return { id, piece: [...bytes] };
    }
  });
}

/** Every id must name a token of this vocabulary. */
export function checkIds(tok: Tokenizer, ids: readonly number[]): void {
  const n = tok.vocabSize;
  ids.forEach((id, i) => {
    if (!Number.isInteger(id) || id < 0 || id >= n) throw new KilnError('E_BAD_REQUEST', `tokens[${i}]: ${id} is not a token id of this model (0 to ${n - 1})`, { param: `tokens[${i}]` });
  });
}

/** The text of a token sequence: its pieces (control tokens as their text) joined, as llama-server's /detokenize. */
export function detokenize(tok: Tokenizer, ids: readonly number[]): string {
  checkIds(tok, ids);
  const parts = ids.map((id) => tok.tokenToBytes(id, { special: true }));
  return utf8.decode(Buffer.concat(parts));
}
