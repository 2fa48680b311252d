/** Tokenizers from GGUF metadata: SentencePiece, byte-level BPE and WordPiece, token for token with llama.cpp. */
export { Tokenizer, type EncodeOptions, type PieceOptions } from './tokenizer.js';
export type { DecodeOptions } from './pieces.js';
export type { StreamDecoder } from './stream-decoder.js';
export { loadVocab, TokenAttr, type Vocab, type SpecialIds } from './vocab.js';
export { PRE_TOKENIZERS } from './pre-tokenizers.js';
export type { WordPieceNormalizer } from './wordpiece.js';
