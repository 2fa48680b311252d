/**
 * Special tokens GGUF metadata does not name: converters often leave out the
 * end-of-turn and fill-in-the-middle ids, so llama.cpp recognises them by
 * their text, marks them CONTROL, and builds the end-of-generation set from
 * a list of texts. kiln applies the same tables so that generation stops on
 * the same tokens and decoding hides the same ones.
 */
import { TokenAttr, type SpecialIds, type Vocab } from './vocab.js';

/** Texts that identify each id when the metadata has none; earlier entries win. */
const BY_TEXT: ReadonlyArray<[keyof SpecialIds, readonly string[]]> = [
  ['eot', ['<|eot_id|>', '<|im_end|>', '<|end|>', '<end_of_turn>', '<|endoftext|>', '<|end_of_text|>', '<EOT>', '_<EOT>',
    '[EOT]', '<｜end▁of▁sentence｜>', '<end_of_utterance>']],
  ['eom', ['<|eom_id|>']],
  ['fimPre', ['<|fim_prefix|>', '<fim-prefix>', '<fim_prefix>', '<｜fim▁begin｜>', '<PRE>', '▁<PRE>', '<|code_prefix|>', '<|prefix|>']],
  ['fimSuf', ['<|fim_suffix|>', '<fim-suffix>', '<fim_suffix>', '<｜fim▁hole｜>', '<SUF>', '▁<SUF>', '<|code_suffix|>', '<|suffix|>']],
  ['fimMid', ['<|fim_middle|>', '<fim-middle>', '<fim_middle>', '<｜fim▁end｜>', '<MID>', '▁<MID>', '<|code_middle|>', '<|middle|>']],
  ['fimPad', ['<|fim_pad|>', '<fim-pad>', '<fim_pad>', '<PAD>', '[PAD]']],
  ['fimRep', ['<|fim_repo|>', '<|repo_name|>', '<fim-repo>', '<REPO>', '<reponame>']],
  ['fimSep', ['<|file_sep|>']],
];

/** Texts that end generation wherever they appear in a vocabulary. */
const EOG_TEXTS: readonly string[] = [
  '<|eot_id|>', '<|im_end|>', '<|end|>', '<|return|>', '<|call|>', '<|flush|>', '<|calls|>', '<end_of_turn>',
  '<|endoftext|>', '</s>', '<|eom_id|>', '<EOT>', '_<EOT>', '[EOT]', '[EOS]', '<|end_of_text|>', '<end_of_utterance>',
  '<eos>', '<turn|>', '<|tool_response>', '<｜end▁of▁sentence｜>', '[e~[',
];

/** gpt-oss's channel markers are control tokens that must still be rendered. */
const ALWAYS_RENDERED = ['<|channel|>', '<|message|>', '<|start|>', '<|constrain|>'];

export interface ModelNames {
  /** general.name, lower-cased. */
  name: string;
  architecture: string;
}

export function detectSpecialTokens(v: Vocab, names: ModelNames): void {
  const { ids, attrs, tokenToId } = v;
  const markControl = (id: number) => { attrs[id] |= TokenAttr.CONTROL; };

  for (const [field, texts] of BY_TEXT) {
    if (ids[field] !== undefined) continue;
    for (const t of texts) {
      const id = tokenToId.get(t);
      if (id === undefined) continue;
      ids[field] = id;
      markControl(id);
      break;
    }
  }

  // Control tokens named "unused…" are placeholders.
  for (let id = 0; id < attrs.length; id++) {
    if (attrs[id] & TokenAttr.CONTROL && v.tokens[id].includes('unused')) attrs[id] |= TokenAttr.UNUSED;
  }

  const eog = new Set<number>();
  for (const id of [ids.fimPad, ids.fimRep, ids.fimSep]) if (id !== undefined) eog.add(id);
  for (const t of EOG_TEXTS) {
    const id = tokenToId.get(t);
    if (id === undefined) continue;
    eog.add(id);
    markControl(id);
  }
  for (const t of ALWAYS_RENDERED) {
    const id = tokenToId.get(t);
    if (id !== undefined) attrs[id] = TokenAttr.USER_DEFINED;
  }
  for (const id of [ids.eos, ids.eot, ids.eom]) if (id !== undefined) eog.add(id);

  // gpt-oss and Solar Open end a message with <|end|> but keep generating
  // (<|return|>/<|call|> end the turn); Gemma 4 uses </s> as ordinary text.
  const has = (t: string) => { const id = tokenToId.get(t); return id !== undefined && eog.has(id); };
  const end = tokenToId.get('<|end|>');
  const hasCall = has('<|call|>') || has('<|calls|>');
  if (end !== undefined && eog.has(end) && hasCall && (has('<|return|>') || has('<|flush|>'))) {
    eog.delete(end);
    attrs[end] = TokenAttr.USER_DEFINED;
  }
  const s = tokenToId.get('</s>');
  if (s !== undefined && eog.has(s) && has('<|tool_response>')) {
    eog.delete(s);
    attrs[s] = TokenAttr.NORMAL;
  }
  v.eog = eog;

  setStripFlags(v, names);
}

/**
 * Per-model whitespace stripping around special tokens, which GGUF does not
 * record: Phi-3's specials swallow the whitespace after them (except the
 * SentencePiece ones), and some encoders' mask token the whitespace before it.
 */
function setStripFlags(v: Vocab, { name, architecture }: ModelNames): void {
  const { attrs, tokenToId } = v;
  const set = (text: string, flag: number, on: boolean) => {
    const id = tokenToId.get(text);
    if (id !== undefined) attrs[id] = on ? attrs[id] | flag : attrs[id] & ~flag;
  };
  const any = (s: string, parts: string[]) => parts.some((p) => s.includes(p));
  if (any(v.pre, ['jina-v2-de', 'jina-v2-es', 'jina-v2-code']) || any(architecture, ['nomic-bert-moe', 'jina-bert-v3'])) {
    set('<mask>', TokenAttr.LSTRIP, true);
  } else if (any(name, ['phi-3', 'phi3'])) {
    for (let id = 0; id < attrs.length; id++) {
      if (attrs[id] & (TokenAttr.CONTROL | TokenAttr.USER_DEFINED | TokenAttr.UNKNOWN)) attrs[id] |= TokenAttr.RSTRIP;
    }
    set('</s>', TokenAttr.RSTRIP, true);
    for (const t of ['<unk>', '<s>', '<|endoftext|>']) set(t, TokenAttr.RSTRIP, false);
  } else if (any(name, ['modern-bert'])) {
    set('[MASK]', TokenAttr.LSTRIP, true);
  }
}
