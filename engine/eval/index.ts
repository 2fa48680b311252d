/** Quality measures: perplexity over a text, and KL divergence between two models. */
export { perplexity, type PerplexityOptions, type PerplexityResult } from './perplexity.js';
export { klDivergence, type KlOptions, type KlResult } from './kl.js';
