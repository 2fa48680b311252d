/**
 * Incremental detokenization for streamed generation: each token's bytes go
 * in, and only complete UTF-8 characters come out, so a character split
 * across tokens (byte-fallback `<0xF0><0x9F><0xA6><0x99>`, or a byte-level
 * BPE token ending mid-character) is held back until its last byte arrives
 * instead of reaching the client as U+FFFD. Bytes that cannot be part of a
 * valid character become U+FFFD as soon as that is certain.
 *
 * Pieces are concatenated as they are (no prefix-space stripping or space
 * clean-up): the text of a continuation is the text of its tokens.
 */
import type { PieceTable } from './pieces.js';

const utf8 = new TextDecoder('utf-8', { ignoreBOM: true });

export class StreamDecoder {
  /** The start of a character whose remaining bytes have not arrived (at most 3 bytes). */
  private held: Uint8Array = new Uint8Array(0);

  constructor(private readonly pieces: PieceTable, private readonly special: boolean) {}

  /** Adds one token; returns the text it completes (possibly ''). */
  push(id: number): string {
    const piece = this.pieces.get(id, this.special);
    let bytes = piece;
    if (this.held.length > 0) {
      bytes = new Uint8Array(this.held.length + piece.length);
      bytes.set(this.held);
      bytes.set(piece, this.held.length);
    }
    const cut = completeLength(bytes);
    this.held = bytes.slice(cut);
    return cut === 0 ? '' : utf8.decode(bytes.subarray(0, cut));
  }

  /** Bytes held back waiting for the rest of a character. */
  get pending(): number {
    return this.held.length;
  }

  /** Ends the stream: a held incomplete character comes out as U+FFFD. */
  flush(): string {
    const rest = this.held;
    this.held = new Uint8Array(0);
    return rest.length === 0 ? '' : utf8.decode(rest);
  }
}

/**
 * Length of the prefix of `b` that ends on a character boundary: everything
 * except a trailing lead byte (0xC2–0xF4) still missing continuation bytes.
 */
export function completeLength(b: Uint8Array): number {
  const n = b.length;
  // A UTF-8 character is at most 4 bytes: look back at most 3 for its lead.
  for (let i = n - 1; i >= 0 && i >= n - 3; i--) {
    const x = b[i];
    if ((x & 0xc0) === 0x80) continue; // continuation byte
    const len = x >= 0xc2 && x <= 0xdf ? 2 : x >= 0xe0 && x <= 0xef ? 3 : x >= 0xf0 && x <= 0xf4 ? 4 : 1;
    return n - i < len ? i : n;
  }
  return n;
}
