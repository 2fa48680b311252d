/**
 * The tokenizer of a GGUF model: text ↔ token ids, token for token with
 * llama.cpp for the vocabularies kiln supports (SentencePiece `llama`,
 * byte-level BPE `gpt2` with the pre-tokenizers in pre-tokenizers.ts,
 * Gemma 4's BPE, and WordPiece `bert`).
 */
import { readGGUFFileSync } from '../gguf/reader.js';
import type { GGUFFile } from '../gguf/parser.js';
import { KilnError } from '../../common/errors.js';
import { BpeEncoder } from './bpe.js';
import { PieceTable, detokenize, type DecodeOptions } from './pieces.js';
import { familyRegexes, splitText } from './pre-tokenizers.js';
import { partitionSpecial, specialTokens, type SpecialToken } from './special-tokens.js';
import { SpmEncoder } from './spm.js';
import { StreamDecoder } from './stream-decoder.js';
import { TokenAttr, loadVocab, type Vocab } from './vocab.js';
import { WordPieceEncoder } from './wordpiece.js';

export interface EncodeOptions {
  /** Add BOS/EOS where the model asks for them (`add_bos_token`/`add_eos_token`). Default true. */
  addSpecial?: boolean;
  /**
   * Recognise control tokens spelled in the text (`<|eot_id|>` → its id),
   * as for a rendered chat template. Default false: such text is tokenized
   * as ordinary characters. User-defined tokens are recognised either way.
   */
  parseSpecial?: boolean;
}

export interface PieceOptions {
  /** Show control and unknown tokens as their text (default false: empty). */
  special?: boolean;
}

const SPM_SPACE = '\u2581';
const LONE_SURROGATE = /[\uD800-\uDFFF]/gu;

/** A lone surrogate cannot be UTF-8 encoded: it becomes U+FFFD, as when the text is written out. */
function wellFormed(text: string): string {
  return text.replace(LONE_SURROGATE, '\uFFFD');
}
const utf8 = new TextDecoder('utf-8', { ignoreBOM: true });

export class Tokenizer {
  readonly vocab: Vocab;
  private readonly pieces: PieceTable;
  private readonly specials: readonly SpecialToken[];
  private readonly spm?: SpmEncoder;
  private readonly bpe?: BpeEncoder;
  private readonly wpm?: WordPieceEncoder;
  private readonly regexes: readonly RegExp[] = [];

  constructor(vocab: Vocab) {
    this.vocab = vocab;
    this.pieces = new PieceTable(vocab);
    this.specials = specialTokens(vocab);
    if (vocab.type === 'spm') {
      this.spm = new SpmEncoder(vocab);
    } else if (vocab.type === 'wpm') {
      this.wpm = new WordPieceEncoder({ tokens: vocab.tokens, tokenToId: vocab.tokenToId, unk: vocab.ids.unk, normalizer: vocab.normalizer! });
    } else {
      this.bpe = new BpeEncoder(vocab);
      this.regexes = familyRegexes(vocab.preFamily!);
    }
  }

  /** From a parsed GGUF, or a GGUF path (only its header is read). */
  static fromGGUF(file: GGUFFile | string): Tokenizer {
    return new Tokenizer(loadVocab(typeof file === 'string' ? readGGUFFileSync(file) : file));
  }

  get vocabSize(): number {
    return this.vocab.tokens.length;
  }
  get bos(): number | undefined {
    return this.vocab.ids.bos;
  }
  get eos(): number | undefined {
    return this.vocab.ids.eos;
  }
  /** End of turn: the metadata's id, else the first of `<|eot_id|>`, `<|im_end|>`, … the vocabulary has. */
  get eot(): number | undefined {
    return this.vocab.ids.eot;
  }
  get addBos(): boolean {
    return this.vocab.addBos;
  }
  get addEos(): boolean {
    return this.vocab.addEos;
  }
  /** The separator (`[SEP]`): WordPiece ends every text with it, and puts it between a pair's texts. */
  get sep(): number | undefined {
    return this.vocab.ids.sep;
  }
  /** The classification token: llama.cpp's is the BOS (`[CLS]` for WordPiece; `cls_token_id` is not read). */
  get cls(): number | undefined {
    return this.vocab.ids.bos;
  }
  get addSep(): boolean {
    return this.vocab.addSep;
  }
  /** The padding token (`[PAD]`), if the vocabulary has one. */
  get pad(): number | undefined {
    return this.vocab.ids.pad;
  }

  /** Whether generating `id` ends generation (EOS, EOT, EOM and the model's other end tokens). */
  isEog(id: number): boolean {
    return this.vocab.eog.has(id);
  }

  /** Whether `id` is a control token (hidden when decoding unless asked for). */
  isControl(id: number): boolean {
    return (this.vocab.attrs[id] & TokenAttr.CONTROL) !== 0;
  }

  /** The token's text as the vocabulary stores it (`▁Hello`, `ĠHello`, `<0x0A>`). */
  tokenText(id: number): string {
    this.pieces.get(id, true); // range check
    return this.vocab.tokens[id];
  }

  /**
   * Text → ids. With `addSpecial`, BOS/EOS as the model asks; a WordPiece
   * model always gets [CLS] first and [SEP] last, as in llama.cpp, whatever
   * its add_bos/add_eos flags say.
   */
  encode(text: string, opts: EncodeOptions = {}): number[] {
    const addSpecial = opts.addSpecial ?? true;
    const v = this.vocab;
    if (this.wpm) return this.encodeWordPiece(text, addSpecial, opts.parseSpecial ?? false);
    const out: number[] = [];
    if (addSpecial && v.addBos) out.push(this.required(v.ids.bos, 'BOS'));
    // Where a special token came last, SentencePiece puts a space before the
    // following text as it does at the very start.
    let afterSpecial = true;
    for (const f of partitionSpecial(wellFormed(text), this.specials, opts.parseSpecial ?? false)) {
      if (typeof f === 'number') {
        out.push(f);
        afterSpecial = true;
        continue;
      }
      if (this.spm) {
        const prefixed = v.addSpacePrefix && afterSpecial ? ` ${f}` : f;
        this.spm.encode(prefixed.replaceAll(' ', SPM_SPACE), out);
      } else {
        const escaped = v.escapeWhitespaces ? f.replaceAll(' ', SPM_SPACE) : f;
        for (const piece of splitText(escaped, this.regexes)) this.bpe!.encode(piece, out);
      }
      afterSpecial = false;
    }
    if (addSpecial && v.addEos) out.push(this.required(v.ids.eos, 'EOS'));
    return out;
  }

  private encodeWordPiece(text: string, addSpecial: boolean, parseSpecial: boolean): number[] {
    const out: number[] = [];
    if (addSpecial) out.push(this.required(this.vocab.ids.bos, 'BOS ([CLS])'));
    for (const f of partitionSpecial(wellFormed(text), this.specials, parseSpecial)) {
      if (typeof f === 'number') out.push(f);
      else this.wpm!.encode(f, out);
    }
    if (addSpecial) out.push(this.required(this.vocab.ids.sep, 'SEP'));
    return out;
  }

  /**
   * A (query, document) pair as llama.cpp's server writes it for reranking.
   * With a `tokenizer.chat_template.rerank` in the model, `{query}` and then
   * `{document}` are substituted into it and the result is tokenized with
   * special tokens recognised and none added. Otherwise the two texts are
   * tokenized plainly and joined as
   *   [BOS if add_bos] query [EOS if add_eos] [SEP if add_sep] document [EOS if add_eos]
   * where a missing EOS is replaced by SEP: for llama.cpp's WordPiece defaults
   * `[CLS] query [SEP] document`, for a BERT converted with add_eos set and
   * add_sep clear `[CLS] query [SEP] document [SEP]`.
   *
   * (node-llama-cpp's LlamaRankingContext writes the pair its own way: every
   * BOS/EOS/SEP id the model has, regardless of the add flags.)
   */
  encodePair(query: string, document: string): number[] {
    const v = this.vocab;
    if (v.rerankTemplate !== undefined) {
      const prompt = v.rerankTemplate.replaceAll('{query}', () => query).replaceAll('{document}', () => document);
      return this.encode(prompt, { addSpecial: false, parseSpecial: true });
    }
    const q = this.encode(query, { addSpecial: false });
    const d = this.encode(document, { addSpecial: false });
    const out: number[] = [];
    const end = () => this.required(v.ids.eos ?? v.ids.sep, 'EOS');
    if (v.addBos) out.push(this.required(v.ids.bos, 'BOS'));
    out.push(...q);
    if (v.addEos) out.push(end());
    if (v.addSep) out.push(this.required(v.ids.sep, 'SEP'));
    out.push(...d);
    if (v.addEos) out.push(end());
    return out;
  }

  decode(ids: ArrayLike<number>, opts: DecodeOptions = {}): string {
    return detokenize(this.vocab, this.pieces, ids, opts);
  }

  /** The text of one token; a piece holding part of a character shows U+FFFD (use tokenToBytes). */
  tokenToPiece(id: number, opts: PieceOptions = {}): string {
    return utf8.decode(this.pieces.get(id, opts.special ?? false));
  }

  /** The bytes of one token (a copy). */
  tokenToBytes(id: number, opts: PieceOptions = {}): Uint8Array {
    return this.pieces.get(id, opts.special ?? false).slice();
  }

  /** A decoder for streamed tokens that emits only complete UTF-8 characters. */
  createStreamDecoder(opts: PieceOptions = {}): StreamDecoder {
    return new StreamDecoder(this.pieces, opts.special ?? false);
  }

  private required(id: number | undefined, what: string): number {
    if (id === undefined) throw new KilnError('E_GGUF_MALFORMED', `the model asks for ${what} but its vocabulary has no ${what} token`);
    return id;
  }
}
