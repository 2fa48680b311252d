/**
 * Pre-tokenizers for byte-level BPE, chosen by `tokenizer.ggml.pre`: each is a
 * list of regexes that cut the text into pieces before merges run, and a few
 * flags llama.cpp ties to the same name.
 *
 * Splitting follows llama.cpp's semantics, which is what the vocab fixtures
 * were recorded with: the regexes apply one after another, each to every
 * piece the previous one left, and both the matches and the gaps between them
 * become pieces ("isolated" splitting). Lookaheads and `$` see the end of the
 * piece as the end of the input.
 *
 * Whitespace: llama.cpp's regex engines see every non-ASCII whitespace
 * character (its set: U+0085, U+00A0, U+1680, U+2000–U+200A, U+2028, U+2029,
 * U+202F, U+205F, U+3000) as a vertical tab, and `\s` as ASCII whitespace. We
 * match on a copy of the text with those characters replaced by `\v` (same
 * UTF-16 length, so offsets carry over) and cut the pieces from the original.
 * That also keeps U+FEFF, which JS counts as `\s`, out of `\s`, and stops a
 * literal range such as U+0800–U+4E00 from matching an ideographic space.
 */
import { KilnError } from '../../common/errors.js';

/** `\s` after the whitespace mapping above. */
const WS = String.raw`\t-\r `;
const S = `[${WS}]`;
const NOT_S = `[^${WS}]`;

/** English contractions, case-insensitive (the `(?i:'s|'t|…)` of the published patterns). */
const CONTRACTIONS = String.raw`(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])`;

/** GPT-2's pattern; many later vocabularies reuse it. */
const GPT2 = String.raw`'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^${WS}\p{L}\p{N}]+|${S}+(?!${NOT_S})`;

/** Llama 3's pattern: digits in runs of at most three, newlines kept with the whitespace before them. */
const LLAMA3 = String.raw`${CONTRACTIONS}|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^${WS}\p{L}\p{N}]+[\r\n]*|${S}*[\r\n]+|${S}+(?!${NOT_S})|${S}+`;

/** Qwen2: Llama 3's pattern with single digits. */
const QWEN2 = String.raw`${CONTRACTIONS}|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^${WS}\p{L}\p{N}]+[\r\n]*|${S}*[\r\n]+|${S}+(?!${NOT_S})|${S}+`;

/** Qwen3.5: Qwen2's pattern with combining marks (\p{M}) kept inside words. */
const QWEN35 = String.raw`${CONTRACTIONS}|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^${WS}\p{L}\p{M}\p{N}]+[\r\n]*|${S}*[\r\n]+|${S}+(?!${NOT_S})|${S}+`;

/**
 * o200k (GPT-4o, gpt-oss, Llama 4): words split at case changes, a run of upper-case letters then
 * lower-case ones, contractions kept on the word, digits in runs of at most three, and `/` kept
 * with the newlines after punctuation. "Upper" is any letter but a-z and "lower" any letter but
 * A-Z (so other scripts' letters are both), the lookahead form llama.cpp runs in place of the
 * published \p{Lu}/\p{Ll} classes.
 */
const UPPERISH = String.raw`(?:(?=\p{L})[^a-z])`;
const LOWERISH = String.raw`(?:(?=\p{L})[^A-Z])`;
const GPT4O = [
  String.raw`[^\r\n\p{L}\p{N}]?${UPPERISH}*${LOWERISH}+${CONTRACTIONS}?`,
  String.raw`[^\r\n\p{L}\p{N}]?${UPPERISH}+${LOWERISH}*${CONTRACTIONS}?`,
  String.raw`\p{N}{1,3}`,
  String.raw` ?[^${WS}\p{L}\p{N}]+[\r\n/]*`,
  String.raw`${S}*[\r\n]+`,
  String.raw`${S}+(?!${NOT_S})`,
  String.raw`${S}+`,
].join('|');

/** ASCII and common CJK punctuation runs, split out first by the older BPE pre-tokenizers. */
const PUNCT_RUNS = String.raw`[\p{P}$+<=>^~|]+`;
/** Falcon's variant also takes the backtick. */
const PUNCT_RUNS_FALCON = String.raw`[\p{P}$+<=>^~|\x60]+`;

/**
 * The letter class of DeepSeek LLM's published pre-tokenizer: cased letters as
 * that tokenizer lists them (not quite Unicode's \p{LC}: Armenian lower case,
 * Georgian Mkhedruli and others are left out), written as code point ranges.
 */
const DEEPSEEK_LETTERS = [
  'A-Za-z', '\\u{B5}', '\\u{C0}-\\u{D6}', '\\u{D8}-\\u{F6}', '\\u{F8}-\\u{1BA}', '\\u{1BC}-\\u{1BF}',
  '\\u{1C4}-\\u{293}', '\\u{295}-\\u{2AF}', '\\u{370}-\\u{373}', '\\u{376}\\u{377}', '\\u{37B}-\\u{37D}',
  '\\u{37F}', '\\u{386}', '\\u{388}-\\u{38A}', '\\u{38C}', '\\u{38E}-\\u{3A1}', '\\u{3A3}-\\u{3F5}',
  '\\u{3F7}-\\u{481}', '\\u{48A}-\\u{52F}', '\\u{531}-\\u{556}', '\\u{10A0}-\\u{10C5}', '\\u{13A0}-\\u{13F5}',
  '\\u{13F8}-\\u{13FD}', '\\u{1C90}-\\u{1CBA}', '\\u{1CBD}-\\u{1CBF}', '\\u{1D00}-\\u{1D2B}',
  '\\u{1D6B}-\\u{1D77}', '\\u{1D79}-\\u{1D9A}', '\\u{1E00}-\\u{1F15}', '\\u{1F18}-\\u{1F1D}',
  '\\u{1F20}-\\u{1F45}', '\\u{1F48}-\\u{1F4D}', '\\u{1F50}-\\u{1F57}', '\\u{1F59}', '\\u{1F5B}', '\\u{1F5D}',
  '\\u{1F5F}-\\u{1F7D}', '\\u{1F80}-\\u{1FB4}', '\\u{1FB6}-\\u{1FBC}', '\\u{1FBE}', '\\u{1FC2}-\\u{1FC4}',
  '\\u{1FC6}-\\u{1FCC}', '\\u{1FD0}-\\u{1FD3}', '\\u{1FD6}-\\u{1FDB}', '\\u{1FE0}-\\u{1FEC}',
  '\\u{1FF2}-\\u{1FF4}', '\\u{1FF6}-\\u{1FFC}', '\\u{2102}', '\\u{2107}', '\\u{210A}-\\u{2113}', '\\u{2115}',
  '\\u{2119}-\\u{211D}', '\\u{2124}', '\\u{2126}', '\\u{2128}', '\\u{212A}-\\u{212D}', '\\u{212F}-\\u{2134}',
  '\\u{2139}', '\\u{213C}-\\u{213F}', '\\u{2145}-\\u{2149}', '\\u{214E}', '\\u{2183}\\u{2184}',
  '\\u{2C00}-\\u{2C7B}', '\\u{2C7E}-\\u{2CE4}', '\\u{2CEB}-\\u{2CEE}', '\\u{2CF2}\\u{2CF3}',
  '\\u{A640}-\\u{A66D}', '\\u{A680}-\\u{A69B}', '\\u{A722}-\\u{A76F}', '\\u{A771}-\\u{A787}',
  '\\u{A78B}-\\u{A78E}', '\\u{AB70}-\\u{ABBF}', '\\u{FB00}-\\u{FB06}', '\\u{FB13}-\\u{FB17}',
  '\\u{FF21}-\\u{FF3A}', '\\u{FF41}-\\u{FF5A}', '\\u{10400}-\\u{1044F}', '\\u{104B0}-\\u{104D3}',
  '\\u{104D8}-\\u{104FB}', '\\u{10C80}-\\u{10CB2}', '\\u{10CC0}-\\u{10CF2}', '\\u{118A0}-\\u{118DF}',
  '\\u{1E900}-\\u{1E943}',
].join('');

/** CJK ideographs, everything from U+0800 to them, and Hangul: DeepSeek keeps runs of these whole. */
const DEEPSEEK_CJK = String.raw`[\u{4E00}-\u{9FA5}\u{800}-\u{4E00}\u{AC00}-\u{D7FF}]+`;

/** Regex lists by family. */
const FAMILIES = {
  default: [PUNCT_RUNS, GPT2, String.raw`\p{N}+`, '[0-9][0-9][0-9]'],
  gpt2: [GPT2],
  llama3: [LLAMA3],
  qwen2: [QWEN2],
  qwen35: [QWEN35],
  gpt4o: [GPT4O],
  starcoder: [String.raw`\p{N}`, GPT2],
  falcon: [PUNCT_RUNS_FALCON, GPT2, '[0-9][0-9][0-9]'],
  'deepseek-llm': [
    String.raw`[\r\n]`,
    `${S}?[${DEEPSEEK_LETTERS}]+`,
    String.raw`${S}?[!-/:-~\u{FF01}-\u{FF0F}\u{FF1A}-\u{FF5E}\u{2018}-\u{201F}\u{3000}-\u{3002}]+`,
    `${S}+$`,
    DEEPSEEK_CJK,
    String.raw`\p{N}+`,
  ],
  'deepseek-coder': [String.raw`[\r\n]`, String.raw`${S}?\p{L}+`, String.raw`${S}?\p{P}+`, DEEPSEEK_CJK, String.raw`\p{N}`],
  // SentencePiece-style BPE (Gemma 4): merges run over whole lines of raw UTF-8.
  lines: [String.raw`[^\n]+|[\n]+`],
} satisfies Record<string, string[]>;

export type PreTokenizerFamily = keyof typeof FAMILIES;

export interface PreTokenizerSpec {
  family: PreTokenizerFamily;
  /** A piece that is a whole vocabulary entry becomes that token without merging (HF's ignore_merges). */
  ignoreMerges: boolean;
  /** Detokenizing removes the space before `?!.,` and some contractions (HF's clean_up_tokenization_spaces). */
  cleanSpaces: boolean;
  /** Overrides the BPE default of not adding BOS (still overridden by `tokenizer.ggml.add_bos_token`). */
  addBos?: boolean;
}

const spec = (family: PreTokenizerFamily, flags: Partial<Omit<PreTokenizerSpec, 'family'>> = {}): PreTokenizerSpec => ({
  family, ignoreMerges: false, cleanSpaces: true, ...flags,
});

/**
 * `tokenizer.ggml.pre` values kiln accepts. Only names whose regexes and flags
 * are the same as a family verified against llama.cpp's vocab fixtures are
 * listed; an unknown name is an error rather than a silent guess.
 */
export const PRE_TOKENIZERS: ReadonlyMap<string, PreTokenizerSpec> = new Map([
  ['default', spec('default')],
  ...['llama3', 'llama-v3', 'llama-bpe', 'falcon3', 'falcon-h1', 'pixtral', 'midm-2.0', 'lfm2']
    .map((n) => [n, spec('llama3', { ignoreMerges: true, addBos: true })] as const),
  ['dbrx', spec('llama3')],
  ['smaug-bpe', spec('llama3')],
  ['deepseek-llm', spec('deepseek-llm', { cleanSpaces: false })],
  ['deepseek-coder', spec('deepseek-coder', { cleanSpaces: false })],
  ['falcon', spec('falcon')],
  // "gpt2" is not a name llama.cpp writes or reads; accepted as the obvious spelling of "gpt-2".
  ...['gpt-2', 'gpt2', 'phi-2', 'mpt', 'olmo', 'jais', 'jina-es', 'jina-de', 'jina-v2-es', 'jina-v2-de', 'gigachat',
    'a.x-4.0', 'mellum', 'modern-bert', 'exaone4'].map((n) => [n, spec('gpt2')] as const),
  ['trillion', spec('gpt2', { cleanSpaces: false })],
  ['granite-docling', spec('gpt2', { cleanSpaces: false })],
  ...['starcoder', 'refact', 'codeshell', 'exaone', 'minerva-7b', 'mellum2'].map((n) => [n, spec('starcoder')] as const),
  ['command-r', spec('starcoder', { cleanSpaces: false })],
  ['smollm', spec('starcoder', { cleanSpaces: false })],
  ...['qwen2', 'deepseek-r1-qwen', 'kormo', 'f2llmv2', 'hunyuan', 'solar-open']
    .map((n) => [n, spec('qwen2', { cleanSpaces: false })] as const),
  ['stablelm2', spec('qwen2')],
  ['megrez', spec('qwen2')],
  ['qwen35', spec('qwen35', { cleanSpaces: false })],
  ...['gpt-4o', 'llama4', 'kanana2', 'talkie'].map((n) => [n, spec('gpt4o', { cleanSpaces: false })] as const),
]);

export function preTokenizerSpec(name: string): PreTokenizerSpec {
  const s = PRE_TOKENIZERS.get(name);
  if (!s) throw new KilnError('E_GGUF_UNSUPPORTED', `unsupported pre-tokenizer '${name}' (tokenizer.ggml.pre)`);
  return s;
}

const compiled = new Map<PreTokenizerFamily, readonly RegExp[]>();

export function familyRegexes(family: PreTokenizerFamily): readonly RegExp[] {
  let r = compiled.get(family);
  if (!r) {
    r = FAMILIES[family].map((src) => new RegExp(src, 'gu'));
    compiled.set(family, r);
  }
  return r;
}

const NON_ASCII_WS = /[\x85\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]/g;

/** Cuts `text` into pre-tokens with the regex list, as described at the top of this file. */
export function splitText(text: string, regexes: readonly RegExp[]): string[] {
  if (text.length === 0) return [];
  const subject = text.replace(NON_ASCII_WS, '\v');
  // Piece i spans [ends[i-1] (or 0), ends[i]).
  let ends = [subject.length];
  for (const re of regexes) {
    const next: number[] = [];
    let start = 0;
    for (const end of ends) {
      const piece = start === 0 && end === subject.length ? subject : subject.slice(start, end);
      re.lastIndex = 0;
      let last = 0;
      for (let m = re.exec(piece); m !== null; m = re.exec(piece)) {
        const len = m[0].length;
        if (len === 0) {
          re.lastIndex++;
          continue;
        }
        if (m.index > last) next.push(start + m.index);
        last = m.index + len;
        next.push(start + last);
      }
      if (last < piece.length) next.push(end);
      start = end;
    }
    ends = next;
  }
  const pieces = new Array<string>(ends.length);
  let start = 0;
  for (let i = 0; i < ends.length; i++) {
    pieces[i] = text.slice(start, ends[i]);
    start = ends[i];
  }
  return pieces;
}
