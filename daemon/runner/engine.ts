/**
 * What the runner needs from the engine's generation loop (engine/generate,
 * written beside this work): the contract as agreed, and the one place that
 * constructs a Generator. Until engine/generate lands in the tree, a small
 * interim loop (interim-generator.ts) stands in so the serving path can be
 * exercised end to end; it is removed when the real one is here.
 */
import type { Model } from '../../engine/model/model.js';

export interface GenerateOptions {
  temperature?: number;
  top_k?: number;
  top_p?: number;
  min_p?: number;
  typical_p?: number;
  repeat_penalty?: number;
  repeat_last_n?: number;
  presence_penalty?: number;
  frequency_penalty?: number;
  seed?: number;
  num_predict?: number;
  stop?: string[];
  num_ctx?: number;
  signal?: AbortSignal;
  mask?: (logits: Float32Array) => void;
}

export interface GenerateChunk {
  text: string;
  tokens: number[];
}

export interface GenerateStats {
  doneReason: 'stop' | 'length' | 'cancel';
  promptEvalCount: number;
  promptEvalDurationNs: number;
  evalCount: number;
  evalDurationNs: number;
  context: number[];
}

export interface GeneratorLike {
  generate(prompt: number[], opts: GenerateOptions): AsyncGenerator<GenerateChunk, GenerateStats>;
  embed(tokens: number[], pooling?: 'mean' | 'last'): Float32Array;
}

// A variable, so the build does not fail while engine/generate is absent.
const ENGINE_GENERATE = '../../engine/generate/index.js';

export async function createGenerator(model: Model): Promise<GeneratorLike> {
  try {
    const mod = (await import(ENGINE_GENERATE)) as { Generator: new (m: Model) => GeneratorLike };
    return new mod.Generator(model);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ERR_MODULE_NOT_FOUND') throw e;
    const { InterimGenerator } = await import('./interim-generator.js');
    return new InterimGenerator(model);
  }
}
