/**
 * The vocabulary of a GGUF model as the tokenizers use it: token texts,
 * scores and attributes, BPE merges, the special token ids and the flags that
 * llama.cpp derives per tokenizer type (its defaults are the reference kiln
 * matches, so where GGUF leaves something out we fall back the same way).
 */
import { KilnError } from '../../common/errors.js';
import type { GGUFFile } from '../gguf/parser.js';
import { GGUFValueType as VT } from '../gguf/types.js';
import { preTokenizerSpec, type PreTokenizerFamily } from './pre-tokenizers.js';
import { detectSpecialTokens } from './special-ids.js';
import type { WordPieceNormalizer } from './wordpiece.js';

/**
 * Token attributes as bit flags. GGUF stores one `token_type` per token
 * (1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte); the
 * loader maps it to one flag and later adds others (a control-looking text
 * gains CONTROL, some models' specials strip neighbouring whitespace).
 */
export const TokenAttr = {
  UNDEFINED: 0,
  UNKNOWN: 1 << 0,
  UNUSED: 1 << 1,
  NORMAL: 1 << 2,
  CONTROL: 1 << 3,
  USER_DEFINED: 1 << 4,
  BYTE: 1 << 5,
  /** Whitespace before this special token in the input is dropped. */
  LSTRIP: 1 << 7,
  /** Whitespace after this special token in the input is dropped. */
  RSTRIP: 1 << 8,
} as const;

const TYPE_TO_ATTR: Record<number, number> = {
  1: TokenAttr.NORMAL, 2: TokenAttr.UNKNOWN, 3: TokenAttr.CONTROL,
  4: TokenAttr.USER_DEFINED, 5: TokenAttr.UNUSED, 6: TokenAttr.BYTE,
};

/** Attributes whose tokens the input may spell out (see special-tokens.ts). */
export const SPECIAL_ATTRS = TokenAttr.CONTROL | TokenAttr.USER_DEFINED | TokenAttr.UNKNOWN;

export interface SpecialIds {
  bos?: number;
  eos?: number;
  eot?: number;
  eom?: number;
  unk?: number;
  sep?: number;
  pad?: number;
  mask?: number;
  fimPre?: number;
  fimSuf?: number;
  fimMid?: number;
  fimPad?: number;
  fimRep?: number;
  fimSep?: number;
}

export interface Vocab {
  /**
   * `spm`: SentencePiece (`tokenizer.ggml.model = llama`); `bpe`: byte-level
   * or SentencePiece-style BPE; `wpm`: WordPiece (`bert`).
   */
  type: 'spm' | 'bpe' | 'wpm';
  /** `tokenizer.ggml.model` as stored. */
  model: string;
  /** `tokenizer.ggml.pre` as resolved ("default" when absent); "gemma4" for the gemma4 model. */
  pre: string;
  /** BPE only: the regex family that pre-tokenizes. */
  preFamily?: PreTokenizerFamily;
  /** BPE only: pieces are written in the GPT-2 byte alphabet before merging. */
  byteEncode: boolean;
  tokens: readonly string[];
  scores: Float32Array;
  attrs: Uint16Array;
  /** Text → id; a text listed twice maps to its last id, as in llama.cpp. */
  tokenToId: ReadonlyMap<string, number>;
  merges: readonly string[];
  ids: SpecialIds;
  /** Tokens that end generation. */
  eog: ReadonlySet<number>;
  addBos: boolean;
  addEos: boolean;
  /** A separator goes between the two texts of a pair (`add_sep_token`; WordPiece's default). */
  addSep: boolean;
  /** WordPiece only: BERT's normalizer settings. */
  normalizer?: WordPieceNormalizer;
  /** `tokenizer.chat_template.rerank`: how a (query, document) pair is written, if the model says. */
  rerankTemplate?: string;
  /** SentencePiece: a space is put before text at the start and after each special token. */
  addSpacePrefix: boolean;
  /** Spaces are written as U+2581 (▁) before merging, and back when detokenizing. */
  escapeWhitespaces: boolean;
  ignoreMerges: boolean;
  cleanSpaces: boolean;
}

function kv(file: GGUFFile, key: string) {
  return file.kv.get(key);
}

function kvBool(file: GGUFFile, key: string): boolean | undefined {
  const v = kv(file, key);
  return v?.type === VT.BOOL ? v.value : undefined;
}

function kvStr(file: GGUFFile, key: string): string | undefined {
  const v = kv(file, key);
  return v?.type === VT.STRING ? v.value : undefined;
}

function kvUint(file: GGUFFile, key: string): number | undefined {
  const v = kv(file, key);
  if (!v || v.type === VT.ARRAY || v.type === VT.STRING || v.type === VT.BOOL) return undefined;
  const n = Number(v.value);
  return Number.isInteger(n) && n >= 0 ? n : undefined;
}

function arrayOf(file: GGUFFile, key: string, want: 'string' | 'number'): ArrayLike<unknown> | undefined {
  const v = kv(file, key);
  if (!v) return undefined;
  const ok = v.type === VT.ARRAY && (want === 'string'
    ? v.itemType === VT.STRING
    : v.itemType !== VT.STRING && v.itemType !== VT.BOOL && v.itemType !== VT.U64 && v.itemType !== VT.I64);
  if (!ok) throw new KilnError('E_GGUF_MALFORMED', `${key} is not an array of ${want}s`);
  return v.value as ArrayLike<unknown>;
}

/** Reads the tokenizer of a GGUF file. Throws E_GGUF_UNSUPPORTED for tokenizer types kiln lacks. */
export function loadVocab(file: GGUFFile): Vocab {
  const model = kvStr(file, 'tokenizer.ggml.model');
  if (model === undefined) throw new KilnError('E_GGUF_MALFORMED', 'GGUF has no tokenizer (tokenizer.ggml.model)');

  const tokens = arrayOf(file, 'tokenizer.ggml.tokens', 'string') as string[] | undefined;
  if (!tokens || tokens.length === 0) throw new KilnError('E_GGUF_MALFORMED', 'GGUF has no tokenizer.ggml.tokens');
  const n = tokens.length;
  const texts = tokens.map((t, i) => (t === '' ? `[EMPTY_${i}]` : t));

  const rawScores = arrayOf(file, 'tokenizer.ggml.scores', 'number') as ArrayLike<number> | undefined;
  const rawTypes = arrayOf(file, 'tokenizer.ggml.token_type', 'number') as ArrayLike<number> | undefined;
  if (rawScores && rawScores.length < n) throw new KilnError('E_GGUF_MALFORMED', `tokenizer.ggml.scores has ${rawScores.length} entries for ${n} tokens`);
  if (rawTypes && rawTypes.length < n) throw new KilnError('E_GGUF_MALFORMED', `tokenizer.ggml.token_type has ${rawTypes.length} entries for ${n} tokens`);
  const scores = new Float32Array(n);
  const attrs = new Uint16Array(n);
  const tokenToId = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    tokenToId.set(texts[i], i);
    if (rawScores) scores[i] = rawScores[i];
    attrs[i] = rawTypes ? TYPE_TO_ATTR[rawTypes[i]] ?? TokenAttr.UNDEFINED : TokenAttr.NORMAL;
  }

  const ids: SpecialIds = {};
  const base = { model, tokens: texts, scores, attrs, tokenToId, ids };
  let v: Vocab;
  if (model === 'llama') {
    ids.bos = 1; ids.eos = 2; ids.unk = 0;
    v = { ...base, type: 'spm', pre: kvStr(file, 'tokenizer.ggml.pre') ?? 'default', byteEncode: false, merges: [],
      eog: new Set(), addBos: true, addEos: false, addSep: false, addSpacePrefix: true, escapeWhitespaces: true, ignoreMerges: false, cleanSpaces: false };
  } else if (model === 'gpt2' || model === 'gemma4') {
    const merges = arrayOf(file, 'tokenizer.ggml.merges', 'string') as string[] | undefined;
    if (!merges) throw new KilnError('E_GGUF_MALFORMED', 'BPE tokenizer without tokenizer.ggml.merges');
    const common = { ...base, type: 'bpe' as const, merges, eog: new Set<number>(), addEos: false, addSep: false, addSpacePrefix: false };
    if (model === 'gemma4') {
      // SentencePiece-style BPE on raw UTF-8: ▁ for spaces, <0xNN> byte tokens, BOS always.
      v = { ...common, pre: 'gemma4', preFamily: 'lines', byteEncode: false, addBos: true, escapeWhitespaces: true, ignoreMerges: false, cleanSpaces: true };
    } else {
      // BPE's defaults are Falcon's: BOS = EOS = 11.
      ids.bos = 11; ids.eos = 11;
      const pre = kvStr(file, 'tokenizer.ggml.pre') ?? 'default';
      const s = preTokenizerSpec(pre);
      v = { ...common, pre, preFamily: s.family, byteEncode: true, addBos: s.addBos ?? false, escapeWhitespaces: false,
        ignoreMerges: s.ignoreMerges, cleanSpaces: s.cleanSpaces };
    }
  } else if (model === 'bert') {
    // llama.cpp's WordPiece defaults: BOS is [CLS], [SEP] separates and ends,
    // no EOS; decoding keeps the leading space and cleans up spaces.
    ids.bos = 101; ids.unk = 100; ids.sep = 102; ids.pad = 0; ids.mask = 103;
    v = { ...base, type: 'wpm', pre: kvStr(file, 'tokenizer.ggml.pre') ?? 'default', byteEncode: false, merges: [],
      eog: new Set(), addBos: true, addEos: false, addSep: true, addSpacePrefix: false, escapeWhitespaces: true,
      ignoreMerges: false, cleanSpaces: true };
  } else {
    throw new KilnError('E_GGUF_UNSUPPORTED', `unsupported tokenizer model '${model}' (kiln reads 'llama', 'gpt2', 'gemma4' and 'bert')`);
  }
  v.addSpacePrefix = kvBool(file, 'tokenizer.ggml.add_space_prefix') ?? v.addSpacePrefix;

  for (const key of Object.keys(ids) as Array<keyof SpecialIds>) {
    if (ids[key]! >= n) ids[key] = undefined;
  }
  const ID_KEYS: Array<[keyof SpecialIds, string]> = [
    ['bos', 'bos_token_id'], ['eos', 'eos_token_id'], ['eot', 'eot_token_id'], ['eom', 'eom_token_id'],
    ['unk', 'unknown_token_id'], ['sep', 'seperator_token_id'], ['pad', 'padding_token_id'], ['mask', 'mask_token_id'],
    ['fimPre', 'fim_pre_token_id'], ['fimSuf', 'fim_suf_token_id'], ['fimMid', 'fim_mid_token_id'],
    ['fimPad', 'fim_pad_token_id'], ['fimRep', 'fim_rep_token_id'], ['fimSep', 'fim_sep_token_id'],
    // Older names of the FIM ids.
    ['fimPre', 'prefix_token_id'], ['fimSuf', 'suffix_token_id'], ['fimMid', 'middle_token_id'],
  ];
  for (const [field, key] of ID_KEYS) {
    const id = kvUint(file, `tokenizer.ggml.${key}`);
    if (id !== undefined && id < n) ids[field] = id;
  }
  v.addBos = kvBool(file, 'tokenizer.ggml.add_bos_token') ?? v.addBos;
  v.addEos = kvBool(file, 'tokenizer.ggml.add_eos_token') ?? v.addEos;
  v.addSep = kvBool(file, 'tokenizer.ggml.add_sep_token') ?? v.addSep;
  if (v.type === 'wpm') {
    const lowercase = kvBool(file, 'tokenizer.ggml.normalizer.lowercase') ?? true;
    v.normalizer = { lowercase, stripAccents: kvBool(file, 'tokenizer.ggml.normalizer.strip_accents') ?? lowercase };
  }
  v.rerankTemplate = kvStr(file, 'tokenizer.chat_template.rerank');
  if (v.pre === 'gemma4') v.addBos = true;

  detectSpecialTokens(v, {
    name: (kvStr(file, 'general.name') ?? '').toLowerCase(),
    architecture: kvStr(file, 'general.architecture') ?? '',
  });
  return v;
}
