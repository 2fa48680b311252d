/**
 * Embedding pooling over the final normed hidden states, and the L2
 * normalization /api/embed returns. Sums run in float64: a mean over a few
 * thousand positions in float32 would lose the low bits.
 */
import type { GGUFFile } from '../gguf/reader.js';
import type { Pooling } from './types.js';

/** Accumulates rows of `width` floats for mean or last-token pooling. */
export class Pooler {
  private readonly sum: Float64Array;
  private count = 0;

  constructor(readonly mode: Pooling, readonly width: number) {
    this.sum = new Float64Array(width);
  }

  /** Adds `rows` consecutive hidden states (row-major, `width` each). */
  add(hidden: Float32Array, rows: number): void {
    const w = this.width;
    if (this.mode === 'last') {
      for (let j = 0; j < w; j++) this.sum[j] = hidden[(rows - 1) * w + j];
      this.count = 1;
      return;
    }
    for (let r = 0; r < rows; r++) for (let j = 0; j < w; j++) this.sum[j] += hidden[r * w + j];
    this.count += rows;
  }

  /** The pooled vector scaled to unit length (a zero vector stays zero). */
  result(): Float32Array {
    let norm = 0;
    for (let j = 0; j < this.width; j++) norm += this.sum[j] * this.sum[j];
    // The mean's 1/count cancels in the normalization.
    const scale = norm > 0 ? 1 / Math.sqrt(norm) : 0;
    return Float32Array.from(this.sum, (x) => x * scale);
  }
}

/**
 * The pooling a model asks for in `{arch}.pooling_type` (llama.cpp's enum:
 * 1 mean, 3 last); mean for models that say nothing, as generative models don't.
 */
export function modelPooling(file: GGUFFile, arch: string): Pooling {
  const v = file.kv.get(`${arch}.pooling_type`)?.value;
  return Number(v) === 3 ? 'last' : 'mean';
}
