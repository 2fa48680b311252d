/**
 * SentencePiece BPE (`tokenizer.ggml.model = llama`) as llama.cpp runs it:
 * the text (spaces already written as ▁) starts as one symbol per code point,
 * and the adjacent pair whose concatenation is the highest-scoring vocabulary
 * entry merges first, leftmost on ties, until no pair forms an entry. A
 * symbol left outside the vocabulary (a rare character) is spelled with its
 * UTF-8 bytes as `<0xNN>` tokens, or the unknown token where the vocabulary
 * has no byte tokens.
 */
import { codePointBounds, mergeSymbols } from './symbol-merge.js';
import type { Vocab } from './vocab.js';

const utf8 = new TextEncoder();
const SPACE = 0x2581; // ▁
/** Entries kept before the chunk cache is cleared. */
const CACHE_LIMIT = 1 << 16;

export class SpmEncoder {
  /** Token for each byte value: `<0xNN>`, else the byte as a one-character token, else unknown, else -1. */
  private readonly byteTokens = new Int32Array(256);
  private readonly scoreOf: (l: string, r: string) => number | undefined;
  /**
   * UTF-16 units that some token joins to a following ▁ ("a▁b"). Before a ▁
   * that follows any other character no merge can cross, so the text is
   * encoded in independent chunks ("▁word,") that are cached: a long input
   * costs a map lookup per repeated word instead of one heap over all of it.
   */
  private readonly joinsSpace = new Set<number>();
  private readonly cache = new Map<string, readonly number[]>();

  constructor(private readonly vocab: Vocab) {
    for (let b = 0; b < 256; b++) {
      const hex = `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`;
      this.byteTokens[b] = vocab.tokenToId.get(hex) ?? (b < 0x80 ? vocab.tokenToId.get(String.fromCharCode(b)) : undefined)
        ?? vocab.ids.unk ?? -1;
    }
    // Higher score merges first; the queue pops the lowest priority.
    this.scoreOf = (l, r) => {
      const id = vocab.tokenToId.get(l + r);
      return id === undefined ? undefined : -vocab.scores[id];
    };
    for (const t of vocab.tokens) {
      for (let i = t.indexOf('\u2581', 1); i > 0; i = t.indexOf('\u2581', i + 1)) {
        const u = t.charCodeAt(i - 1);
        if (u !== SPACE) this.joinsSpace.add(u);
      }
    }
  }

  /** Appends the tokens of `text` (already ▁-escaped) to `out`. */
  encode(text: string, out: number[]): void {
    let start = 0;
    for (let i = 1; i < text.length; i++) {
      if (text.charCodeAt(i) !== SPACE) continue;
      const before = text.charCodeAt(i - 1);
      if (before === SPACE || this.joinsSpace.has(before)) continue;
      this.encodeChunk(text.slice(start, i), out);
      start = i;
    }
    this.encodeChunk(start === 0 ? text : text.slice(start), out);
  }

  private encodeChunk(chunk: string, out: number[]): void {
    let ids = this.cache.get(chunk);
    if (ids === undefined) {
      ids = this.encodeUncached(chunk);
      if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
      this.cache.set(chunk, ids);
    }
    for (const id of ids) out.push(id);
  }

  private encodeUncached(text: string): number[] {
    const out: number[] = [];
    const bounds = mergeSymbols(text, codePointBounds(text), this.scoreOf);
    for (let i = 1; i < bounds.length; i++) {
      const sym = text.slice(bounds[i - 1], bounds[i]);
      const id = this.vocab.tokenToId.get(sym);
      if (id !== undefined) {
        out.push(id);
        continue;
      }
      for (const b of utf8.encode(sym)) {
        const t = this.byteTokens[b];
        if (t >= 0) out.push(t);
      }
    }
    return out;
  }
}
