/**
 * WordPiece (`tokenizer.ggml.model = bert`, llama.cpp's WPM), token for token
 * with llama.cpp.
 *
 * Pre-processing (BERT's normalizer as llama.cpp does it), per code point:
 * - with strip_accents, each code point is first replaced by the first code
 *   point of its decomposition (é → e), and combining marks are dropped;
 * - white space ends a word; NUL, U+FFFD and control characters vanish;
 * - punctuation, ASCII symbols and CJK ideographs are words of their own;
 * - with lowercase, letters are lower-cased (simple mapping).
 *
 * Each word is then written with a leading '▁' (GGUF vocabularies converted
 * from Hugging Face spell word-initial pieces `▁word` and continuations
 * without `##`) and cut greedily into the longest vocabulary pieces from the
 * left. A word that cannot be cut all the way becomes the unknown token.
 */
import { KilnError } from '../../common/errors.js';
import { CharFlag, charFlags, nfdFirst, simpleLower } from './wordpiece-chars.js';

const WORD_START = '\u2581';

export interface WordPieceNormalizer {
  /** `tokenizer.ggml.normalizer.lowercase` (default true). */
  lowercase: boolean;
  /** `tokenizer.ggml.normalizer.strip_accents` (defaults to lowercase). */
  stripAccents: boolean;
}

/** CJK ideographs as BERT's tokenizer lists them (a word each). */
function isCjkIdeograph(cp: number): boolean {
  return (cp >= 0x4e00 && cp <= 0x9fff)
    || (cp >= 0x3400 && cp <= 0x4dbf)
    || (cp >= 0x20000 && cp <= 0x2a6df)
    || (cp >= 0x2a700 && cp <= 0x2b73f)
    || (cp >= 0x2b740 && cp <= 0x2b81f)
    // Hugging Face's tokenizers start this block at 0x2B920 (not 0x2B820), and llama.cpp follows.
    || (cp >= 0x2b920 && cp <= 0x2ceaf)
    || (cp >= 0xf900 && cp <= 0xfaff)
    || (cp >= 0x2f800 && cp <= 0x2fa1f);
}

/** The words of `text` after BERT's normalization (empty words never appear). */
export function splitWords(text: string, norm: WordPieceNormalizer): string[] {
  const words: string[] = [];
  let word = '';
  const finish = () => {
    if (word.length > 0) words.push(word);
    word = '';
  };
  for (const ch of text) {
    let cp = ch.codePointAt(0)!;
    if (norm.stripAccents) cp = nfdFirst(cp);
    const f = charFlags(cp);
    if (f & CharFlag.WHITESPACE) {
      finish();
      continue;
    }
    if (cp === 0 || cp === 0xfffd || f & CharFlag.CONTROL) continue;
    if (norm.stripAccents && f & CharFlag.MARK) continue;
    const s = String.fromCodePoint(norm.lowercase ? simpleLower(cp) : cp);
    // The class is that of the character before lower-casing.
    if (f & CharFlag.PUNCTUATION || (cp < 0x7f && f & CharFlag.SYMBOL) || isCjkIdeograph(cp)) {
      finish();
      words.push(s);
    } else {
      word += s;
    }
  }
  finish();
  return words;
}

export interface WordPieceVocab {
  tokens: readonly string[];
  tokenToId: ReadonlyMap<string, number>;
  unk?: number;
  normalizer: WordPieceNormalizer;
}

export class WordPieceEncoder {
  /** The longest vocabulary text in UTF-16 units: no longer piece can match. */
  private readonly maxPieceLength: number;

  constructor(private readonly vocab: WordPieceVocab) {
    let max = 0;
    for (const t of vocab.tokens) if (t.length > max) max = t.length;
    this.maxPieceLength = max;
  }

  /** Appends the ids of `text` (no special tokens) to `out`. */
  encode(text: string, out: number[]): void {
    for (const word of splitWords(text, this.vocab.normalizer)) this.encodeWord(WORD_START + word, out);
  }

  /**
   * Greedy longest match from the left. Matching on UTF-16 slices gives the
   * same pieces as llama.cpp's byte slices: every piece starts where the one
   * before ended, on a character boundary, and a longer slice there is longer
   * in bytes too.
   */
  private encodeWord(word: string, out: number[]): void {
    const { tokenToId } = this.vocab;
    const start = out.length;
    for (let i = 0; i < word.length;) {
      let matched = 0;
      for (let j = Math.min(word.length, i + this.maxPieceLength); j > i; j--) {
        const id = tokenToId.get(word.slice(i, j));
        if (id !== undefined) {
          out.push(id);
          matched = j - i;
          break;
        }
      }
      if (matched === 0) {
        out.length = start;
        break;
      }
      i += matched;
    }
    if (out.length === start) out.push(this.unknown());
  }

  private unknown(): number {
    const id = this.vocab.unk;
    if (id === undefined) throw new KilnError('E_GGUF_MALFORMED', 'a word is not in the WordPiece vocabulary and the vocabulary has no unknown token');
    return id;
  }
}
