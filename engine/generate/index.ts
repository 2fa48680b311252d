/** Text generation and embeddings over a loaded model. */
export { defaultNumKeep, Generator, PROMPT_BATCH } from './generator.js';
export { StopMatcher } from './stop-matcher.js';
export type { GenerateChunk, GenerateOptions, GenerateStats, Pooling } from './types.js';
export type { TokenLogprob } from './logprobs.js';
