/**
 * A random-weight gpt-oss against llama.cpp (its openai-moe graph): 4 layers
 * of 8 query heads over 2 KV heads of 64 on a 320-wide model (q is 512 wide,
 * wider than the model, as in the real one), q/k/v/o biases, per-head
 * attention sinks, a sliding window of 8 on the even layers (the prompts are
 * 24 tokens), NEOX RoPE with YaRN (factor 32 over an original context of
 * 4096, base 150000), and 8 experts of 256 of which each token uses 2, chosen
 * by a biased router with softmax over the chosen two, each expert with its
 * biases and the clamped SwiGLU.
 */
import { gptOssSpec } from '../bench/arch-specs.js';
import { archOracle } from './helpers/arch-oracle.js';

archOracle(
  'gpt-oss',
  (nVocab) =>
    gptOssSpec({ nEmbd: 320, nHead: 8, nHeadKv: 2, headDim: 64, nFf: 256, nFfExp: 256, nExpert: 8, nExpertUsed: 2, nLayer: 4 }, nVocab, {
      window: 8,
      yarnFactor: 32,
      yarnOrigCtx: 4096,
      seed: 1,
    }),
  { types: ['f32', 'f16', 'q8_0'], probabilities: { types: ['q8_0'], tol: 1e-4 } },
);
