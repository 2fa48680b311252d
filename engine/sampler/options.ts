/**
 * Sampling options under Ollama's names, with Ollama's defaults. The serving
 * layer passes a request's `options` through as they are; the library API
 * maps its camelCase names onto these.
 */
export interface SamplerOptions {
  /** Softmax temperature; 0 (or less) means greedy: the most likely token. */
  temperature?: number;
  /** Keep the k most likely tokens; 0 or less keeps all. */
  top_k?: number;
  /** Nucleus: the smallest set of most likely tokens whose probabilities sum to at least p; 1 disables. */
  top_p?: number;
  /** Drop tokens less likely than min_p × the most likely one's probability; 0 disables. */
  min_p?: number;
  /** Locally typical sampling (Meister et al. 2022) with mass p; 1 disables. */
  typical_p?: number;
  /** Divide positive logits (multiply negative ones) of recent tokens by this; 1 disables. */
  repeat_penalty?: number;
  /** How many recent tokens the penalties look at; 0 disables, -1 means the whole context. */
  repeat_last_n?: number;
  /** Subtracted once from the logit of every token seen in the window. */
  presence_penalty?: number;
  /** Subtracted from a token's logit once per occurrence in the window. */
  frequency_penalty?: number;
  /** PRNG seed; -1 (or absent) draws one at random. Same seed, same prompt, same options: same output. */
  seed?: number;
}

export type ResolvedSamplerOptions = Required<SamplerOptions>;

export const SAMPLER_DEFAULTS: Readonly<ResolvedSamplerOptions> = Object.freeze({
  temperature: 0.8,
  top_k: 40,
  top_p: 0.9,
  min_p: 0,
  typical_p: 1,
  repeat_penalty: 1.1,
  repeat_last_n: 64,
  presence_penalty: 0,
  frequency_penalty: 0,
  seed: -1,
});

/** The options with defaults filled in; undefined and null (as JSON clients send) mean "default". */
export function resolveSamplerOptions(opts: SamplerOptions = {}): ResolvedSamplerOptions {
  const out = { ...SAMPLER_DEFAULTS };
  for (const k of Object.keys(SAMPLER_DEFAULTS) as (keyof SamplerOptions)[]) {
    const v = opts[k];
    if (v !== undefined && v !== null) out[k] = Number(v);
  }
  return out;
}
