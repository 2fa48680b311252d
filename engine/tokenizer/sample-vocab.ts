/**
 * Small tokenizer vocabularies written as real GGUF headers, for tests here
 * and elsewhere in kiln that need a tokenizer with known, hand-checkable
 * behaviour (the kjv model and llama.cpp's fixtures cover real vocabularies).
 */
import { parseGGUF } from '../gguf/reader.js';
import { sampleBytes } from '../gguf/sample.js';
import type { GGUFFile } from '../gguf/parser.js';
import { GGUFValueType as VT, gv, type GGUFValue } from '../gguf/types.js';
import { BYTE_TO_CHAR } from './byte-encoding.js';

function fileOf(kv: Map<string, GGUFValue>): GGUFFile {
  return parseGGUF(sampleBytes({ kv, tensors: [] }));
}

export interface SampleSpmOptions {
  /** Normal pieces with their scores (▁ for space). */
  pieces: ReadonlyArray<readonly [string, number]>;
  /** Extra tokens by type: 3 control, 4 user-defined. */
  specials?: ReadonlyArray<readonly [string, 3 | 4]>;
  /** Include the 256 `<0xNN>` byte tokens (default true). */
  byteTokens?: boolean;
  addSpacePrefix?: boolean;
  name?: string;
}

/**
 * A SentencePiece vocabulary: `<unk>` 0, `<s>` 1, `</s>` 2, then the byte
 * tokens (3..258) when present, then `pieces`, then `specials`.
 */
export function sampleSpmFile(o: SampleSpmOptions): GGUFFile {
  const tokens: string[] = ['<unk>', '<s>', '</s>'];
  const scores: number[] = [0, 0, 0];
  const types: number[] = [2, 3, 3];
  if (o.byteTokens ?? true) {
    for (let b = 0; b < 256; b++) {
      tokens.push(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);
      scores.push(0);
      types.push(6);
    }
  }
  for (const [t, s] of o.pieces) { tokens.push(t); scores.push(s); types.push(1); }
  for (const [t, type] of o.specials ?? []) { tokens.push(t); scores.push(0); types.push(type); }
  const kv = new Map<string, GGUFValue>([
    ['general.architecture', gv.str('llama')],
    ['general.name', gv.str(o.name ?? 'sample-spm')],
    ['tokenizer.ggml.model', gv.str('llama')],
    ['tokenizer.ggml.tokens', gv.array(VT.STRING, tokens)],
    ['tokenizer.ggml.scores', gv.array(VT.F32, new Float32Array(scores))],
    ['tokenizer.ggml.token_type', gv.array(VT.I32, new Int32Array(types))],
  ]);
  if (o.addSpacePrefix !== undefined) kv.set('tokenizer.ggml.add_space_prefix', gv.bool(o.addSpacePrefix));
  return fileOf(kv);
}

export interface SampleBpeOptions {
  /** Merges in rank order, as raw text pairs (`['a', 'b']`); each adds its result as a token. */
  merges: ReadonlyArray<readonly [string, string]>;
  /** Extra tokens by type: 3 control, 4 user-defined. */
  specials?: ReadonlyArray<readonly [string, 3 | 4]>;
  /** Extra normal tokens (raw text) that no merge builds. */
  extra?: readonly string[];
  pre?: string;
  addBos?: boolean;
}

const alphabet = (raw: string) => Array.from(new TextEncoder().encode(raw), (b) => BYTE_TO_CHAR[b]).join('');

/**
 * A byte-level BPE vocabulary: the 256 byte tokens (id = byte value), then one
 * token per merge, then `extra`, then `specials`. BOS is the first special.
 */
export function sampleBpeFile(o: SampleBpeOptions): GGUFFile {
  const tokens = [...BYTE_TO_CHAR];
  const merges = o.merges.map(([l, r]) => `${alphabet(l)} ${alphabet(r)}`);
  for (const [l, r] of o.merges) tokens.push(alphabet(l + r));
  for (const t of o.extra ?? []) tokens.push(alphabet(t));
  const types = tokens.map(() => 1);
  const firstSpecial = tokens.length;
  for (const [t, type] of o.specials ?? []) { tokens.push(t); types.push(type); }
  const kv = new Map<string, GGUFValue>([
    ['general.architecture', gv.str('llama')],
    ['tokenizer.ggml.model', gv.str('gpt2')],
    ['tokenizer.ggml.pre', gv.str(o.pre ?? 'llama-bpe')],
    ['tokenizer.ggml.tokens', gv.array(VT.STRING, tokens)],
    ['tokenizer.ggml.token_type', gv.array(VT.I32, new Int32Array(types))],
    ['tokenizer.ggml.merges', gv.array(VT.STRING, merges)],
  ]);
  if (o.specials?.length) kv.set('tokenizer.ggml.bos_token_id', gv.u32(firstSpecial));
  if (o.addBos !== undefined) kv.set('tokenizer.ggml.add_bos_token', gv.bool(o.addBos));
  return fileOf(kv);
}

export interface SampleWordPieceOptions {
  /**
   * Pieces as a GGUF converted from Hugging Face spells them: `▁word` starts
   * a word, `ing` continues one (Hugging Face's `##ing`).
   */
  pieces: readonly string[];
  /** Write `tokenizer.ggml.bos_token_id` = [CLS] (default true; without it llama.cpp's default is id 101). */
  bos?: boolean;
  /** Write `tokenizer.ggml.eos_token_id` = [SEP] (default false, as in older BERT conversions). */
  eos?: boolean;
  addBos?: boolean;
  addEos?: boolean;
  addSep?: boolean;
  lowercase?: boolean;
  stripAccents?: boolean;
  /** `tokenizer.chat_template.rerank`. */
  rerankTemplate?: string;
}

/** The ids of sampleWordPieceFile's special tokens; its pieces follow from id 5. */
export const WORDPIECE_SPECIALS = { pad: 0, unk: 1, cls: 2, sep: 3, mask: 4 } as const;

/** A WordPiece (`bert`) vocabulary: [PAD] [UNK] [CLS] [SEP] [MASK] (control), then `pieces`. */
export function sampleWordPieceFile(o: SampleWordPieceOptions): GGUFFile {
  const tokens = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', ...o.pieces];
  const types = tokens.map((_, i) => (i < 5 ? 3 : 1));
  const s = WORDPIECE_SPECIALS;
  const kv = new Map<string, GGUFValue>([
    ['general.architecture', gv.str('bert')],
    ['tokenizer.ggml.model', gv.str('bert')],
    ['tokenizer.ggml.tokens', gv.array(VT.STRING, tokens)],
    ['tokenizer.ggml.token_type', gv.array(VT.I32, new Int32Array(types))],
    ['tokenizer.ggml.unknown_token_id', gv.u32(s.unk)],
    ['tokenizer.ggml.seperator_token_id', gv.u32(s.sep)],
    ['tokenizer.ggml.padding_token_id', gv.u32(s.pad)],
    ['tokenizer.ggml.cls_token_id', gv.u32(s.cls)],
    ['tokenizer.ggml.mask_token_id', gv.u32(s.mask)],
  ]);
  if (o.bos ?? true) kv.set('tokenizer.ggml.bos_token_id', gv.u32(s.cls));
  if (o.eos) kv.set('tokenizer.ggml.eos_token_id', gv.u32(s.sep));
  if (o.addBos !== undefined) kv.set('tokenizer.ggml.add_bos_token', gv.bool(o.addBos));
  if (o.addEos !== undefined) kv.set('tokenizer.ggml.add_eos_token', gv.bool(o.addEos));
  if (o.addSep !== undefined) kv.set('tokenizer.ggml.add_sep_token', gv.bool(o.addSep));
  if (o.lowercase !== undefined) kv.set('tokenizer.ggml.normalizer.lowercase', gv.bool(o.lowercase));
  if (o.stripAccents !== undefined) kv.set('tokenizer.ggml.normalizer.strip_accents', gv.bool(o.stripAccents));
  if (o.rerankTemplate !== undefined) kv.set('tokenizer.chat_template.rerank', gv.str(o.rerankTemplate));
  return fileOf(kv);
}
