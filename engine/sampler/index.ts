/** Token sampling: the llama.cpp-ordered chain under Ollama's option names. */
export { Sampler, argmax, type SamplerHooks } from './sampler.js';
export { SAMPLER_DEFAULTS, resolveSamplerOptions, type SamplerOptions, type ResolvedSamplerOptions } from './options.js';
export { Prng } from './prng.js';
export { Candidates } from './candidates.js';
