/**
 * kiln as a library (`import { Llama } from 'kiln'`): the Llama class for
 * completions, chat and embeddings without a daemon, and the engine parts
 * under it for programs that want them directly.
 */
export { Llama } from './llama.js';
export type {
  LlamaOptions, CompletionOptions, Completion, CompletionChunk, ChatCompletion, ChatCompletionChunk, ChatTurn, FinishReason, Usage,
} from './llama.js';
export { Model, loadModel, isEmbeddingFile, type AnyModel, type LoadOptions } from './model/model.js';
export { EmbeddingModel, type EmbeddingLoadOptions, type RankResult } from './model/embedding.js';
export { Generator, type GenerateOptions, type GenerateChunk, type GenerateStats, type Pooling } from './generate/index.js';
export { Sampler, SAMPLER_DEFAULTS, type SamplerOptions } from './sampler/index.js';
export { perplexity, klDivergence, type PerplexityResult, type KlResult } from './eval/index.js';
export { Tokenizer } from './tokenizer/index.js';
export { tokenize, detokenize, withPieces, type TokenizeOptions, type TokenWithPiece } from './tokenize.js';
export { KilnError, isKilnError, type ErrorCode } from '../common/errors.js';
