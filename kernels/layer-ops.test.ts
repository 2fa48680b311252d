import { describe, expect, it } from 'vitest';

import { supportedVariants } from './cpu.js';
import { gaussian, nmse } from './harness.js';
import { attention, attentionBatch, rmsnorm, siluMul, type KvCache } from './layer-ops.js';
import { quantize } from './quants.js';

/**
 * Variants differ from the reference by summation order, FMA, and (attention,
 * SiLU) an exp within ~2 ulp of expf. Worst normalized squared errors
 * measured on these inputs: attention 3.0e-13, SiLU*up 1.6e-18, RMSNorm 0
 * (its double sum rounds to the same float); the bounds leave ~30x.
 */
const ATTN_NMSE = 1e-11;
const ELEMENTWISE_NMSE = 1e-16;

function cache(positions: number, stride: number, f16: boolean, seed: number): KvCache {
  const kf = gaussian(positions * stride, seed);
  const vf = gaussian(positions * stride, seed + 1);
  const bytes = (x: Float32Array) => (f16 ? quantize('F16', x, positions, stride) : new Uint8Array(x.buffer));
  return { k: bytes(kf), v: bytes(vf), stride, f16 };
}

describe('attention over the KV cache', () => {
  for (const f16 of [true, false]) {
    for (const [headDim, stride] of [[32, 128], [128, 256], [40, 40], [36, 72]]) {
      it(`every variant matches the reference: ${f16 ? 'f16' : 'f32'} cache, head_dim ${headDim}, row stride ${stride}`, () => {
        const kv = cache(300, stride, f16, 61);
        for (const nKv of [1, 7, 300]) {
          for (const sharp of [1, 30]) { // sharp: a peaked softmax
            const q = gaussian(headDim, 62 + nKv).map((x) => x * sharp);
            const want = attention(q, kv, nKv, headDim, 1 / Math.sqrt(headDim), 'scalar');
            for (const v of supportedVariants()) {
              const got = attention(q, kv, nKv, headDim, 1 / Math.sqrt(headDim), v);
              expect(nmse(want, got), `${v} nKv ${nKv} sharp ${sharp}`).toBeLessThanOrEqual(ATTN_NMSE);
            }
          }
        }
      });
    }
  }

  for (const f16 of [true, false]) {
    for (const [headDim, stride] of [[32, 128], [128, 256], [36, 72]]) {
      it(`batched queries (a GQA group over prompt tokens) match per-query reference attention: ${f16 ? 'f16' : 'f32'}, head_dim ${headDim}`, () => {
        const kv = cache(90, stride, f16, 65);
        for (const nq of [1, 5, 16, 19]) { // query groups of 8 and ragged ends
          // causal lengths as a prompt block gives them: two heads per token, one more position per token
          const nKv = Int32Array.from({ length: nq }, (_, j) => 70 + (j >> 1));
          const q = gaussian(nq * headDim, 66 + nq, 3);
          for (const v of supportedVariants()) {
            const got = attentionBatch(q, nKv, kv, headDim, 1 / Math.sqrt(headDim), v);
            for (let j = 0; j < nq; j++) {
              const want = attention(q.subarray(j * headDim, (j + 1) * headDim), kv, nKv[j], headDim, 1 / Math.sqrt(headDim), 'scalar');
              expect(nmse(want, got.subarray(j * headDim, (j + 1) * headDim)), `${v} nq ${nq} query ${j}`).toBeLessThanOrEqual(ATTN_NMSE);
            }
          }
        }
      });
    }
  }

  // llama.cpp's flash attention numerics (binary16 q and value sums): the forward pass's path below 64 queries
  it('binary16-accumulating attention: every variant within one binary16 rounding of the reference, bit for bit where no SIMD block fits', () => {
    for (const [headDim, stride] of [[24, 48], [32, 64], [128, 256], [40, 40]]) {
      const kv = { ...cache(200, stride, true, 71), acc16: true };
      for (const nKv of [1, 2, 9, 200]) {
        for (const sharp of [1, 30]) {
          const q = gaussian(headDim, 72 + nKv).map((x) => x * sharp);
          const want = attention(q, kv, nKv, headDim, 1 / Math.sqrt(headDim), 'scalar');
          const plain = attention(q, { ...kv, acc16: false }, nKv, headDim, 1 / Math.sqrt(headDim), 'scalar');
          // binary16 has an 11-bit significand: the sums differ from f32 ones by ~2^-11 relative per step at most
          expect(nmse(plain, want), `acc16 vs f32 sums, head_dim ${headDim} nKv ${nKv}`).toBeLessThanOrEqual(1e-5);
          for (const v of supportedVariants()) {
            const got = attention(q, kv, nKv, headDim, 1 / Math.sqrt(headDim), v);
            // ggml sums dot products shorter than its SIMD block (32 for AVX2, 64 for AVX-512) in double, as the reference does
            if (headDim < 32) expect(Array.from(got), `${v} head_dim ${headDim} nKv ${nKv}`).toEqual(Array.from(want));
            else expect(nmse(want, got), `${v} head_dim ${headDim} nKv ${nKv} sharp ${sharp}`).toBeLessThanOrEqual(1e-6);
          }
        }
      }
    }
  });

  it('binary16-accumulating attention over one position returns the value row (already binary16) exactly', () => {
    const kv = { ...cache(1, 32, true, 73), acc16: true };
    const want = attention(gaussian(32, 74), { ...kv, acc16: false }, 1, 32, 0.2, 'scalar');
    for (const v of supportedVariants()) expect(Array.from(attention(gaussian(32, 74), kv, 1, 32, 0.2, v)), v).toEqual(Array.from(want));
  });

  // gemma2 / gemma3: soft-capped scores, llama.cpp's unfused attention, sliding windows in batches
  it('soft-capped scores: every variant matches the reference in every cache mode, and the cap changes the result', () => {
    for (const [headDim, stride] of [[32, 64], [48, 96], [40, 40]]) {
      for (const mode of [{ f16: false }, { f16: true }, { f16: true, acc16: true }, { f16: true, unfused: true }]) {
        const kv = { ...cache(120, stride, mode.f16, 81), ...mode };
        for (const nKv of [1, 9, 120]) {
          const q = gaussian(headDim, 82 + nKv).map((x) => x * 8); // scores of several units: a cap of 2 bites
          const want = attention(q, kv, nKv, headDim, 1 / Math.sqrt(headDim), 'scalar', 2);
          if (nKv > 1) expect(nmse(want, attention(q, kv, nKv, headDim, 1 / Math.sqrt(headDim), 'scalar')), 'cap has no effect').toBeGreaterThan(1e-4);
          for (const v of supportedVariants()) {
            const got = attention(q, kv, nKv, headDim, 1 / Math.sqrt(headDim), v, 2);
            expect(nmse(want, got), `${v} ${JSON.stringify(mode)} head_dim ${headDim} nKv ${nKv}`).toBeLessThanOrEqual(mode.acc16 ? 1e-6 : ATTN_NMSE);
          }
        }
      }
    }
  });

  it('unfused attention (gemma2 under llama.cpp): every variant gives the reference’s bits; the weights are rounded to binary16', () => {
    for (const [headDim, stride] of [[32, 64], [48, 48], [128, 256]]) {
      const kv = { ...cache(150, stride, true, 91), unfused: true };
      for (const nKv of [1, 2, 37, 150]) {
        const q = gaussian(headDim, 92 + nKv);
        const want = attention(q, kv, nKv, headDim, 1 / Math.sqrt(headDim), 'scalar');
        const plain = attention(q, { ...kv, unfused: false }, nKv, headDim, 1 / Math.sqrt(headDim), 'scalar');
        if (nKv > 1) expect(nmse(plain, want), `rounded weights, nKv ${nKv}`).toBeGreaterThan(0);
        expect(nmse(plain, want), `close to f32 sums, nKv ${nKv}`).toBeLessThanOrEqual(1e-6);
        for (const v of supportedVariants()) {
          expect(Array.from(attention(q, kv, nKv, headDim, 1 / Math.sqrt(headDim), v)), `${v} head_dim ${headDim} nKv ${nKv}`).toEqual(Array.from(want));
        }
      }
    }
  });

  for (const f16 of [true, false]) {
    it(`batched queries with sliding windows (kv0) and a soft-cap match per-query reference attention over each window: ${f16 ? 'f16' : 'f32'}`, () => {
      const headDim = 32, stride = 64;
      const kv = cache(90, stride, f16, 95);
      const elem = f16 ? 2 : 4;
      for (const nq of [1, 6, 19]) {
        const nKv = Int32Array.from({ length: nq }, (_, j) => 60 + j);
        const kv0 = Int32Array.from({ length: nq }, (_, j) => 52 + j); // a window of 8
        const q = gaussian(nq * headDim, 96 + nq, 3);
        for (const v of supportedVariants()) {
          const got = attentionBatch(q, nKv, kv, headDim, 1 / Math.sqrt(headDim), v, { softcap: 1.5, kv0 });
          for (let j = 0; j < nq; j++) {
            const off = kv0[j] * stride * elem;
            const win = { ...kv, k: kv.k.subarray(off), v: kv.v.subarray(off) };
            const want = attention(q.subarray(j * headDim, (j + 1) * headDim), win, nKv[j] - kv0[j], headDim, 1 / Math.sqrt(headDim), 'scalar', 1.5);
            expect(nmse(want, got.subarray(j * headDim, (j + 1) * headDim)), `${v} nq ${nq} query ${j}`).toBeLessThanOrEqual(ATTN_NMSE);
          }
        }
      }
    });
  }

  it('one position returns its value row exactly (softmax weight 1)', () => {
    const kv = cache(1, 32, false, 63);
    for (const v of supportedVariants()) {
      const out = attention(gaussian(32, 64), kv, 1, 32, 0.2, v);
      expect(Array.from(out), v).toEqual(Array.from(new Float32Array(kv.v.buffer, 0, 32)));
    }
  });
});

describe('elementwise ops', () => {
  it('silu(gate) * up: every variant matches the reference, ragged ends and extreme gates included', () => {
    const g = gaussian(1003, 71, 4);
    g.set([0, -0, 100, -100, 88.5, -88.5, 1e-30, -1e-30], 0);
    const u = gaussian(1003, 72);
    const want = siluMul(g, u, 'scalar');
    for (const v of supportedVariants()) {
      const got = siluMul(g, u, v);
      expect(nmse(want, got), v).toBeLessThanOrEqual(ELEMENTWISE_NMSE);
      expect(got.every(Number.isFinite), v).toBe(true);
    }
  });

  // ggml's rms_norm rounds each square to float and sums those in double; summing the exact
  // squares moves the scale by an ulp in about 1 row of 100 at qwen3's 80-wide heads, enough to
  // flip a binary16 rounding of k in the cache and part from llama.cpp (issue 12)
  it('RMSNorm rounds as llama.cpp: float squares summed in double, bit for bit on 80-wide rows', () => {
    const f = Math.fround;
    const eps = f(1e-6);
    const model = (x: Float32Array, w: Float32Array, exactSquares: boolean) => {
      let sum = 0;
      for (const v of x) sum += exactSquares ? v * v : f(v * v);
      const scale = f(1 / f(Math.sqrt(f(f(sum / x.length) + eps))));
      return x.map((v, i) => f(f(v * scale) * w[i]));
    };
    const n = 80, rows = 400;
    let parted = 0;
    for (let r = 0; r < rows; r++) {
      const x = gaussian(n, 1000 + r, 2);
      const w = gaussian(n, 5000 + r);
      const want = model(x, w, false);
      if (model(x, w, true).some((v, i) => v !== want[i])) parted++;
      for (const v of supportedVariants()) expect(Array.from(rmsnorm(x, w, eps, v)), `${v} row ${r}`).toEqual(Array.from(want));
    }
    // the rows tell the two roundings apart, so the check above can fail
    expect(parted).toBeGreaterThan(0);
  });

  it('RMSNorm: every variant matches the reference', () => {
    for (const n of [13, 4096]) {
      const x = gaussian(n, 73, 3);
      const w = gaussian(n, 74);
      const want = rmsnorm(x, w, 1e-5, 'scalar');
      for (const v of supportedVariants()) expect(nmse(want, rmsnorm(x, w, 1e-5, v)), `${v} n ${n}`).toBeLessThanOrEqual(ELEMENTWISE_NMSE);
    }
  });
});
