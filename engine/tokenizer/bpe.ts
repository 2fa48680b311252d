/**
 * BPE over pre-tokens. A byte-level vocabulary (GPT-2 style) first writes
 * each pre-token's UTF-8 bytes in the byte alphabet, one character per byte;
 * a SentencePiece-style one (Gemma 4) merges raw code points and falls back
 * to `<0xNN>` byte tokens. Merges apply lowest rank first, leftmost first on
 * ties.
 *
 * Results are cached per pre-token: natural text repeats its words, so most
 * pre-tokens of a long input cost one map lookup.
 */
import { byteEncode } from './byte-encoding.js';
import { codePointBounds, mergeSymbols, unitBounds } from './symbol-merge.js';
import type { Vocab } from './vocab.js';

/** Entries kept before the cache is cleared (bounds memory on endless unique input). */
const CACHE_LIMIT = 1 << 16;

export class BpeEncoder {
  /**
   * Merge rank by "left right". Byte-alphabet tokens never contain a space,
   * so the space of the merge line separates the pair unambiguously; a
   * duplicate line keeps its first (lowest) rank.
   */
  private readonly ranks = new Map<string, number>();
  private readonly cache = new Map<string, readonly number[]>();
  private readonly rankOf = (l: string, r: string) => this.ranks.get(`${l} ${r}`);

  constructor(private readonly vocab: Vocab) {
    vocab.merges.forEach((line, i) => {
      if (!this.ranks.has(line)) this.ranks.set(line, i);
    });
  }

  /** Appends the tokens of one pre-token to `out`. */
  encode(piece: string, out: number[]): void {
    let ids = this.cache.get(piece);
    if (ids === undefined) {
      ids = this.encodeUncached(piece);
      if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
      this.cache.set(piece, ids);
    }
    for (const id of ids) out.push(id);
  }

  private encodeUncached(piece: string): number[] {
    const v = this.vocab;
    const word = v.byteEncode ? byteEncode(piece) : piece;
    const whole = v.tokenToId.get(word);
    if (whole !== undefined && (v.ignoreMerges || (v.pre === 'gemma4' && /^\n+$/.test(word)))) {
      // ignore_merges: a pre-token that is itself a vocabulary entry is that
      // token, even where the merges would build it differently. Gemma 4 does
      // the same for runs of newlines, which its merges never join.
      return [whole];
    }
    const bounds = mergeSymbols(word, v.byteEncode ? unitBounds(word.length) : codePointBounds(word), this.rankOf);
    const ids: number[] = [];
    for (let i = 1; i < bounds.length; i++) {
      const sym = word.slice(bounds[i - 1], bounds[i]);
      const id = v.tokenToId.get(sym);
      if (id !== undefined) ids.push(id);
      else this.byteFallback(sym, ids);
    }
    return ids;
  }

  /**
   * A merged symbol missing from the vocabulary (a merge list that builds a
   * string the token list lacks) is spelled byte by byte. As in llama.cpp,
   * a byte-alphabet symbol is looked up one UTF-8 byte at a time, which only
   * finds its ASCII characters; bytes with no token are dropped.
   */
  private byteFallback(sym: string, ids: number[]): void {
    const v = this.vocab;
    if (v.byteEncode) {
      for (let i = 0; i < sym.length; i++) {
        const c = sym.charCodeAt(i);
        const id = c < 0x80 ? v.tokenToId.get(sym[i]) : undefined;
        if (id !== undefined) ids.push(id);
      }
      return;
    }
    for (const b of new TextEncoder().encode(sym)) {
      const id = v.tokenToId.get(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);
      if (id !== undefined) ids.push(id);
    }
  }
}
