import { readFileSync } from 'node:fs';

import { describe, expect, it } from 'vitest';

import { isKilnError } from '../common/errors.js';
import { setThreads, supportedVariants, threads } from './cpu.js';
import { DOT_REL_TOL, gaussian, nmse, NMSE_THRESHOLD, VARIANT_REL_TOL } from './harness.js';
import { native } from './native.js';
import {
  dequantize,
  GGML_TYPE,
  matmul,
  matvec,
  quantize,
  quantizeActivations,
  rowSize,
  typeInfo,
  vecDot,
  type QuantType,
} from './quants.js';

// The types kiln quantizes; the read-only ones (IQ, TQ, MXFP4) are covered by iq.test.ts.
const ALL_TYPES = (Object.keys(GGML_TYPE) as QuantType[]).filter((t) => typeInfo(t).hasQuantize);
const DOT_TYPES = ALL_TYPES.filter((t) => typeInfo(t).hasVecDot);

/** Columns for a type: two super-blocks' worth, so block boundaries are crossed. */
const colsFor = (t: QuantType): number => Math.max(512, typeInfo(t).blockSize * 2);

function roundTrip(t: QuantType, x: Float32Array, nrows: number, ncols: number): Float32Array {
  return dequantize(t, quantize(t, x, nrows, ncols), nrows * ncols);
}

function expectKilnError(fn: () => unknown, pattern: RegExp): void {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(isKilnError(err, 'E_NATIVE'), String(err)).toBe(true);
  expect((err as Error).message).toMatch(pattern);
}

/** float64 dot of the dequantized operands: what vec_dot must equal. */
function expectedDot(t: QuantType, row: Uint8Array, act: Float32Array): { dot: number; scale: number } {
  const n = act.length;
  const w = dequantize(t, row, n);
  const vdt = typeInfo(t).vecDotType;
  // the activations as matvec quantizes them (quantize() is the weight quantizer, which searches its scale)
  // (an F16 matrix takes them rounded to binary16, as llama.cpp converts them)
  const a =
    t === 'F16'
      ? dequantize('F16', quantize('F16', act, 1, n), n)
      : vdt === 'F32'
        ? act
        : dequantize(vdt, quantizeActivations(vdt, act, n, 'scalar'), n);
  let dot = 0;
  let scale = 0;
  for (let i = 0; i < n; i++) {
    dot += w[i] * a[i];
    scale += Math.abs(w[i] * a[i]);
  }
  if (vdt === 'Q8_1') {
    // the offset formats' min term: m times the activations' binary16 sum s (llama.cpp's Q8_1),
    // in place of m times the sum of the dequantized activations
    const f16 = (b: Uint8Array, o: number): number => dequantize('F16', b.subarray(o, o + 2), 1)[0]!;
    const y = quantizeActivations('Q8_1', act, n, 'scalar');
    const bx = rowSize(t, 32);
    for (let b = 0; b < n / 32; b++) {
      let sa = 0;
      for (let i = 32 * b; i < 32 * b + 32; i++) sa += a[i]!;
      const m = f16(row, b * bx + 2);
      dot += m * (f16(y, b * 36 + 2) - sa);
    }
  }
  return { dot, scale };
}

describe('round trip quantize -> dequantize', () => {
  for (const t of ALL_TYPES) {
    it(`${t}: error on Gaussian data stays under ${NMSE_THRESHOLD[t]!.toExponential(2)} (several seeds, odd row counts)`, () => {
      const ncols = colsFor(t);
      let worst = 0;
      for (const [seed, nrows] of [
        [1, 7],
        [2, 13],
        [3, 33],
      ]) {
        const x = gaussian(nrows * ncols, seed, 0.02);
        const e = nmse(x, roundTrip(t, x, nrows, ncols));
        worst = Math.max(worst, e);
      }
      expect(worst).toBeLessThanOrEqual(NMSE_THRESHOLD[t]!);
    });
  }

  it('is deterministic: the same input gives the same bytes', () => {
    const x = gaussian(4096, 9);
    for (const t of ALL_TYPES) {
      const a = quantize(t, x, 4, 1024);
      const b = quantize(t, x, 4, 1024);
      expect(Buffer.from(a).equals(Buffer.from(b)), t).toBe(true);
    }
  });

  it('maps all-zero rows to exact zeros', () => {
    for (const t of ALL_TYPES) {
      const y = roundTrip(t, new Float32Array(512), 2, 256);
      expect(y.every((v) => v === 0), t).toBe(true);
    }
  });

  it('keeps its relative error for large magnitudes (1e4 scale) and saturates beyond binary16 scales', () => {
    for (const t of ALL_TYPES) {
      const x = gaussian(1024, 4, 1e4);
      expect(nmse(x, roundTrip(t, x, 4, 256)), t).toBeLessThanOrEqual(NMSE_THRESHOLD[t]!);
      // 1e30 needs a scale past binary16: quantized types clamp the scale, so
      // the result is finite (F16 itself overflows to inf, as the format must).
      const huge = gaussian(256, 5, 1e30);
      const y = roundTrip(t, huge, 1, 256);
      if (t === 'F16') expect(y.some((v) => !Number.isFinite(v))).toBe(true);
      else expect(y.every(Number.isFinite), t).toBe(true);
    }
  });

  it('handles subnormal inputs without producing anything worse than zero', () => {
    for (const t of ALL_TYPES) {
      const x = gaussian(256, 6, 1e-39);
      const y = roundTrip(t, x, 1, 256);
      expect(y.every(Number.isFinite), t).toBe(true);
      expect(nmse(x, y), t).toBeLessThanOrEqual(1);
    }
  });

  it('does not crash on infinities or NaN and leaves other blocks intact', () => {
    for (const t of ALL_TYPES) {
      const x = gaussian(512, 7);
      x[3] = Infinity;
      x[5] = -Infinity;
      x[7] = NaN;
      const y = roundTrip(t, x, 1, 512);
      // the second half shares no block with the bad values: it comes out as if quantized alone
      const alone = roundTrip(t, x.slice(256), 1, 256);
      expect(Array.from(y.subarray(256)), t).toEqual(Array.from(alone));
    }
  });
});

describe('bit layouts match llama.cpp', () => {
  // ggml-golden.json: rows quantized and dequantized by llama.cpp's own
  // libggml-base.so (kernels/tools/ggml-oracle.cpp --golden).
  const golden = JSON.parse(readFileSync(new URL('./testdata/ggml-golden.json', import.meta.url), 'utf8')) as {
    n: number;
    types: Record<string, { bytes: string; f32: string }>;
  };
  for (const [name, g] of Object.entries(golden.types)) {
    it(`${name}: dequantizes llama.cpp's bytes to llama.cpp's floats, bit for bit`, () => {
      const bytes = new Uint8Array(Buffer.from(g.bytes, 'base64'));
      const want = new Uint32Array(new Uint8Array(Buffer.from(g.f32, 'base64')).buffer);
      const got = new Uint32Array(dequantize(name as QuantType, bytes, golden.n).buffer);
      expect(Array.from(got)).toEqual(Array.from(want));
    });
  }

  const f16 = { '0.25': 0x3400, '0.5': 0x3800, '1': 0x3c00 } as const;

  it('Q8_0: f16 d, then 32 int8 codes', () => {
    const block = new Uint8Array(34);
    new DataView(block.buffer).setUint16(0, f16['0.5'], true);
    for (let i = 0; i < 32; i++) block[2 + i] = (i * 8 - 128) & 0xff;
    const y = dequantize('Q8_0', block, 32);
    expect(y[0]).toBe(-64);
    expect(y[16]).toBe(0);
    expect(y[31]).toBe(60);
    expect(Array.from(y)).toEqual(Array.from({ length: 32 }, (_, i) => 4 * i - 64));
    // integer activations with amax 127 quantize exactly (d = 1), so the dot is exact
    const act = new Float32Array(32).map((_, i) => (i === 0 ? 127 : i === 1 ? -127 : ((i * 37) % 200) - 100));
    const want = y.reduce((s, w, i) => s + w * act[i], 0);
    for (const v of supportedVariants()) expect(vecDot('Q8_0', block, act, 32, v)).toBe(want);
  });

  // Q4_K: f16 d, f16 dmin, 12 bytes of 6-bit scales/mins, 128 bytes of nibbles.
  const q4kScales = [1, 2, 3, 63, 17, 33, 48, 5];
  const q4kMins = [0, 1, 62, 3, 20, 40, 7, 63];
  const q4kCode = (e: number): number => (e * 5 + 3) % 16;
  function q4kBlock(): Uint8Array {
    const b = new Uint8Array(144);
    const dv = new DataView(b.buffer);
    dv.setUint16(0, f16['1'], true);
    dv.setUint16(2, f16['0.5'], true);
    // packed by hand from the format description: sc[0..3] / mn[0..3] in the
    // low 6 bits of bytes 0..3 / 4..7; sc[4..7], mn[4..7] split into low
    // nibbles (bytes 8..11) and top 2 bits (bits 6-7 of bytes 0..3 / 4..7)
    b.set([65, 130, 195, 63, 64, 129, 62, 195, 65, 129, 112, 245], 4);
    for (let c = 0; c < 4; c++) {
      for (let l = 0; l < 32; l++) b[16 + 32 * c + l] = q4kCode(64 * c + l) | (q4kCode(64 * c + 32 + l) << 4);
    }
    return b;
  }

  it('Q4_K: value = d * sc * q - dmin * mn with 6-bit packed scales', () => {
    const y = dequantize('Q4_K', q4kBlock(), 256);
    expect(y[0]).toBe(3); // sc 1, q 3, mn 0
    expect(y[100]).toBe(439.5); // sub-block 3: 63 * 7 - 0.5 * 3
    expect(y[130]).toBe(211); // sub-block 4: 17 * 13 - 0.5 * 20
    expect(y[255]).toBe(38.5); // sub-block 7: 5 * 14 - 0.5 * 63
    const want = Array.from({ length: 256 }, (_, e) => q4kScales[e >> 5] * q4kCode(e) - 0.5 * q4kMins[e >> 5]);
    expect(Array.from(y)).toEqual(want);
  });

  it('Q4_K: dot with Q8_K activations is exact for exactly representable activations', () => {
    const block = q4kBlock();
    const w = dequantize('Q4_K', block, 256);
    const act = new Float32Array(256).map((_, i) => (i === 9 ? -127 : ((i * 53) % 255) - 127));
    const want = w.reduce((s, x, i) => s + x * act[i], 0);
    for (const v of supportedVariants()) expect(vecDot('Q4_K', block, act, 256, v), v).toBe(want);
  });

  // Q6_K: 128 bytes low nibbles, 64 bytes high bit pairs, 16 int8 scales, f16 d.
  const q6kScales = [-128, 127, -1, 5, 0, 64, -64, 1, 2, 3, -3, 100, -100, 7, -7, 33];
  const q6kCode = (e: number): number => (e * 7 + 1) % 64; // stored, value is code - 32
  function q6kBlock(): Uint8Array {
    const b = new Uint8Array(210);
    for (let e = 0; e < 256; e++) {
      const h = e >> 7;
      const r = e & 127;
      b[64 * h + (r & 63)] |= (q6kCode(e) & 15) << (4 * (r >> 6));
      b[128 + 32 * h + (r & 31)] |= (q6kCode(e) >> 4) << (2 * (r >> 5));
    }
    q6kScales.forEach((s, j) => (b[192 + j] = s & 0xff));
    new DataView(b.buffer).setUint16(208, f16['0.25'], true);
    return b;
  }

  it('Q6_K: value = d * sc * (q - 32), low nibbles and high bit pairs split per half', () => {
    const y = dequantize('Q6_K', q6kBlock(), 256);
    expect(y[0]).toBe(992); // 0.25 * -128 * (1 - 32)
    expect(y[200]).toBe(-625); // 0.25 * -100 * (57 - 32)
    const want = Array.from({ length: 256 }, (_, e) => 0.25 * q6kScales[e >> 4] * (q6kCode(e) - 32));
    expect(Array.from(y)).toEqual(want);
    const act = new Float32Array(256).map((_, i) => (i === 0 ? 127 : ((i * 29) % 255) - 127));
    const dot = Array.from(y).reduce((s, x, i) => s + x * act[i], 0);
    for (const v of supportedVariants()) expect(vecDot('Q6_K', q6kBlock(), act, 256, v), v).toBe(dot);
  });
});

describe('dot products', () => {
  for (const t of DOT_TYPES) {
    it(`${t}: vecDot equals the float64 dot of the dequantized operands, for every variant`, () => {
      const n = colsFor(t) * 2;
      for (const seed of [11, 12, 13]) {
        const row = quantize(t, gaussian(n, seed, 0.02), 1, n);
        const act = gaussian(n, seed + 100);
        const { dot, scale } = expectedDot(t, row, act);
        for (const v of supportedVariants()) {
          expect(Math.abs(vecDot(t, row, act, n, v) - dot), `${v} seed ${seed}`).toBeLessThanOrEqual(DOT_REL_TOL * scale);
        }
      }
    });
  }

  for (const t of DOT_TYPES) {
    it(`${t}: matvec gives each row's vecDot, and every variant agrees with the reference`, () => {
      const cols = colsFor(t);
      const rows = 9;
      const w = quantize(t, gaussian(rows * cols, 21, 0.02), rows, cols);
      const x = gaussian(cols, 22);
      const rowBytes = rowSize(t, cols);
      const ref = matvec(t, w, rows, cols, x, new Float32Array(rows), 'scalar');
      for (let r = 0; r < rows; r++) {
        expect(ref[r]).toBe(vecDot(t, w.subarray(r * rowBytes, (r + 1) * rowBytes), x, cols, 'scalar'));
      }
      for (const v of supportedVariants()) {
        const out = matvec(t, w, rows, cols, x, new Float32Array(rows), v);
        for (let r = 0; r < rows; r++) {
          const { scale } = expectedDot(t, w.subarray(r * rowBytes, (r + 1) * rowBytes), x);
          expect(Math.abs(out[r] - ref[r]), `${v} row ${r}`).toBeLessThanOrEqual(VARIANT_REL_TOL * scale);
        }
      }
    });
  }

  for (const t of DOT_TYPES) {
    it(`${t}: matmul over a small batch (dot tiles) equals each pair's vecDot bit for bit, whatever the tile shape`, () => {
      const cols = colsFor(t);
      const rows = 11; // row tiles of 4 (or 2) and a ragged end
      const w = quantize(t, gaussian(rows * cols, 51, 0.02), rows, cols);
      const rowBytes = rowSize(t, cols);
      // (F16 batches of 2 or more go to the float gemm, as llama.cpp's do: see the batch test below)
      for (const n of t === 'F16' ? [1] : [1, 3, 6]) { // token tiles of 4 and ragged ends
        const x = gaussian(n * cols, 52 + n);
        for (const v of supportedVariants()) {
          const out = matmul(t, w, rows, cols, x, n, new Float32Array(n * rows), v);
          for (let tok = 0; tok < n; tok++) {
            const act = x.subarray(tok * cols, (tok + 1) * cols);
            for (let r = 0; r < rows; r++) {
              const want = vecDot(t, w.subarray(r * rowBytes, (r + 1) * rowBytes), act, cols, v);
              expect(out[tok * rows + r], `${v} n=${n} token ${tok} row ${r}`).toBe(want);
            }
          }
        }
      }
    });
  }

  for (const t of DOT_TYPES) {
    it(`${t}: matmul of prompt-sized batches (the gemm kernels where a variant has them) stays within float rounding of the reference, on any thread count`, () => {
      const cols = colsFor(t);
      const rows = 11;
      const w = quantize(t, gaussian(rows * cols, 55, 0.02), rows, cols);
      const rowBytes = rowSize(t, cols);
      const before = threads();
      try {
        for (const n of [8, 17, 40]) { // whole and ragged 16-token blocks
          const x = gaussian(n * cols, 56 + n);
          for (const v of supportedVariants()) {
            const outs = [1, 2, 3].map((th) => {
              setThreads(th);
              return matmul(t, w, rows, cols, x, n, new Float32Array(n * rows), v);
            });
            for (const o of outs.slice(1)) expect(Array.from(o), `${v} n=${n} thread count`).toEqual(Array.from(outs[0]));
            for (let tok = 0; tok < n; tok++) {
              const act = x.subarray(tok * cols, (tok + 1) * cols);
              for (let r = 0; r < rows; r++) {
                const row = w.subarray(r * rowBytes, (r + 1) * rowBytes);
                const { scale } = expectedDot(t, row, act);
                const want = vecDot(t, row, act, cols, 'scalar');
                expect(Math.abs(outs[0][tok * rows + r] - want), `${v} n=${n} token ${tok} row ${r}`).toBeLessThanOrEqual(VARIANT_REL_TOL * scale);
              }
            }
          }
        }
      } finally {
        setThreads(before);
      }
    });
  }

  it('Q4_K: small batches (the 4 x 4 lane gemm, up to 8 tokens a block) give the 16-lane gemm\'s bits for whole groups of 4 tokens and vecDot\'s for the rest', () => {
    const cols = 1024;
    const x = gaussian(16 * cols, 91);
    for (const rows of [16, 11]) { // rows in 8s (llama.cpp's repacked gemm: groups of 4 tokens) and ragged (gemm from 8 tokens)
      const w = quantize('Q4_K', gaussian(rows * cols, 90 + rows, 0.02), rows, cols);
      const rowBytes = rowSize('Q4_K', cols);
      for (const v of supportedVariants()) {
        const full = matmul('Q4_K', w, rows, cols, x, 16, new Float32Array(16 * rows), v); // one full block: the 16-lane kernel
        for (const n of rows % 8 === 0 ? [4, 5, 7, 8, 11, 12] : [8]) {
          const out = matmul('Q4_K', w, rows, cols, x.subarray(0, n * cols), n, new Float32Array(n * rows), v);
          const gemmTokens = rows % 8 === 0 ? n - (n % 4) : n;
          for (let tok = 0; tok < n; tok++) {
            for (let r = 0; r < rows; r++) {
              const want = tok < gemmTokens ? full[tok * rows + r] : vecDot('Q4_K', w.subarray(r * rowBytes, (r + 1) * rowBytes), x.subarray(tok * cols, (tok + 1) * cols), cols, v);
              expect(out[tok * rows + r], `${v} rows=${rows} n=${n} token ${tok} row ${r}`).toBe(want);
            }
          }
        }
      }
    }
  });

  for (const t of ['F16', 'F32'] as const) {
    const rule =
      "the float gemm from 2 tokens where rows come in 16-value steps and the row count in 4s (llama.cpp's llamafile gemm), vecDot's bits otherwise";
    it(`${t}: batches over rows of any length take ${rule}`, () => {
      const before = threads();
      try {
        // 512: whole vector steps; 523 and 37: ragged ends for 8- and 16-lane kernels; 11 rows: not in 4s
        for (const [cols, rows] of [[512, 12], [512, 11], [523, 12], [37, 12]]) {
          const w = quantize(t, gaussian(rows * cols, 61 + cols, 0.02), rows, cols);
          const rowBytes = rowSize(t, cols);
          const rowOf = (r: number): Uint8Array => w.subarray(r * rowBytes, (r + 1) * rowBytes);
          for (const n of [2, 5, 8, 17, 40]) {
            const gemm = cols % 16 === 0 && rows % 4 === 0;
            const x = gaussian(n * cols, 62 + n);
            for (const v of supportedVariants()) {
              const outs = [1, 2].map((th) => {
                setThreads(th);
                return matmul(t, w, rows, cols, x, n, new Float32Array(n * rows), v);
              });
              expect(Array.from(outs[1]), `${v} cols=${cols} n=${n} thread count`).toEqual(Array.from(outs[0]));
              let differ = 0;
              for (let tok = 0; tok < n; tok++) {
                const act = x.subarray(tok * cols, (tok + 1) * cols);
                for (let r = 0; r < rows; r++) {
                  const got = outs[0][tok * rows + r];
                  const own = vecDot(t, rowOf(r), act, cols, v);
                  if (!gemm) expect(got, `${v} cols=${cols} n=${n} token ${tok} row ${r}`).toBe(own);
                  if (got !== own) differ++;
                  const { scale } = expectedDot(t, rowOf(r), act);
                  const want = vecDot(t, rowOf(r), act, cols, 'scalar');
                  expect(Math.abs(got - want), `${v} cols=${cols} n=${n} token ${tok} row ${r}`).toBeLessThanOrEqual(VARIANT_REL_TOL * scale);
                }
              }
              // the gemm's 16 lanes against vec_dot's four accumulators of 16: some results differ in
              // their last bits
              if (gemm && v !== 'scalar')
                expect(differ, `${v} n=${n}: the gemm kernel was not used`).toBeGreaterThan(0);
            }
          }
        }
      } finally {
        setThreads(before);
      }
    });
  }

  it('every variant quantizes activations (and converts the f16 KV cache) to the reference bytes, including edge values', () => {
    const x = gaussian(4096, 31);
    // a block of zeros, a block with inf/NaN, a block of huge values, subnormals
    x.fill(0, 256, 512);
    x[600] = Infinity;
    x[601] = NaN;
    x[602] = -Infinity;
    for (let i = 1024; i < 1280; i++) x[i] *= 1e30;
    for (let i = 1280; i < 1536; i++) x[i] *= 1e-40;
    x[603] = 70000; // past binary16's range: inf
    x[604] = 65520; // rounds up to inf
    x[605] = 2 ** -25; // ties to even: zero
    for (const t of ['Q8_0', 'Q8_K', 'F16'] as const) {
      const ref = quantizeActivations(t, x, x.length, 'scalar');
      for (const v of supportedVariants()) {
        expect(Buffer.from(quantizeActivations(t, x, x.length, v)).equals(Buffer.from(ref)), `${t} ${v}`).toBe(true);
      }
    }
  });
});

describe('Q8_K activations as llama.cpp computes them', () => {
  it('scale from the first signed value of largest magnitude: d = 1 / (-127 / max), codes iscale * x to nearest even', () => {
    const top = 127 / 64; // exact, and so is iscale = -64 / sign
    for (const sign of [1, -1]) {
      const x = gaussian(256, 91).map((v) => v * 0.5);
      x[5] = top * sign; // the first of two equal magnitudes decides the sign
      x[9] = -top * sign;
      x[18] = (2.5 / 64) * sign; // iscale * x = -2.5: to even, -2
      x[19] = (3.5 / 64) * sign; // -3.5: to even, -4
      const iscale = -64 * sign;
      for (const v of supportedVariants()) {
        const b = quantizeActivations('Q8_K', x, 256, v);
        const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
        expect(view.getFloat32(0, true), v).toBe(1 / iscale);
        const codes = new Int8Array(b.buffer, b.byteOffset + 4, 256);
        expect([codes[5], codes[9], codes[18], codes[19]], v).toEqual([-127, 127, -2, -4]); // the max always codes as -127
        for (let i = 0; i < 256; i++) {
          if (i === 18 || i === 19) continue;
          expect(codes[i], `${v} ${i}`).toBe(Math.round(Math.fround(x[i] * iscale)) + 0); // no other exact halves (+ 0: no -0)
        }
        for (let j = 0; j < 16; j++) {
          let sum = 0;
          for (let e = 16 * j; e < 16 * j + 16; e++) sum += codes[e];
          expect(view.getInt16(4 + 256 + 2 * j, true), `${v} bsum ${j}`).toBe(sum);
        }
      }
    }
  });
});

describe('thread pool', () => {
  it('gives the same matvec and quantize results on 1, 2 and 3 threads', () => {
    const before = threads();
    try {
      const rows = 301; // odd, so chunks end unevenly
      const cols = 1024;
      const x = gaussian(cols, 41);
      const wf = gaussian(rows * cols, 42, 0.02);
      const results = [1, 2, 3].map((n) => {
        setThreads(n);
        expect(threads()).toBe(n);
        const w = quantize('Q4_K', wf, rows, cols);
        return { w, out: matvec('Q4_K', w, rows, cols, x, new Float32Array(rows)) };
      });
      for (const r of results.slice(1)) {
        expect(Buffer.from(r.w).equals(Buffer.from(results[0].w))).toBe(true);
        expect(Array.from(r.out)).toEqual(Array.from(results[0].out));
      }
    } finally {
      setThreads(before);
    }
  });

  it('rejects a thread count outside [1, 1024]', () => {
    expectKilnError(() => setThreads(0), /threads/);
    expectKilnError(() => setThreads(2.5), /threads/);
  });
});

describe('plain quantizers (Q3_K, Q4_K)', () => {
  it('round-trip within the type error bound, deterministic, zero rows exact, and not the weighted search', () => {
    for (const t of ['Q3_K', 'Q4_K'] as QuantType[]) {
      const x = gaussian(8 * 512, 11);
      const a = quantize(t, x, 8, 512, undefined, undefined, true);
      expect(Buffer.from(quantize(t, x, 8, 512, undefined, undefined, true)).equals(Buffer.from(a))).toBe(true);
      expect(nmse(x, dequantize(t, a, x.length))).toBeLessThan(NMSE_THRESHOLD[t]!);
      expect(Buffer.from(quantize(t, x, 8, 512)).equals(Buffer.from(a))).toBe(false);
      expect(dequantize(t, quantize(t, new Float32Array(256), 1, 256, undefined, undefined, true), 256).every((v) => v === 0)).toBe(true);
    }
  });

  it('Q3_K: the largest sub-block scale lands on code -32, and every value on its nearest code', () => {
    const x = gaussian(256, 5);
    const b = quantize('Q3_K', x, 1, 256, undefined, undefined, true);
    // block: hmask[32] qs[64] scales[12] d(f16)
    const s = b.subarray(96, 108);
    const codes = Array.from({ length: 16 }, (_, j) => ((j < 8 ? s[j] & 15 : s[j - 8] >> 4) | (((s[8 + (j & 3)] >> (2 * (j >> 2))) & 3) << 4)) - 32);
    expect(codes).toContain(-32);
    const y = dequantize('Q3_K', b, 256);
    const d = dequantize('F16', b.subarray(108, 110), 1)[0];
    for (let e = 0; e < 256; e++) {
      const dl = d * codes[e >> 4];
      const q = Math.max(-4, Math.min(3, Math.round(x[e] / dl)));
      expect(Math.abs(y[e] - dl * q)).toBeLessThanOrEqual(1e-6 * Math.abs(dl));
    }
  });

  it('only for Q3_K and Q4_K, and never with an importance', () => {
    expectKilnError(() => quantize('Q5_K', new Float32Array(256), 1, 256, undefined, undefined, true), /no plain quantizer for Q5_K/);
    expectKilnError(() => quantize('Q4_K', new Float32Array(256), 1, 256, undefined, new Float32Array(256).fill(1), true), /no importance/);
    expect(() => native().quantize(GGML_TYPE.Q6_K, new Float32Array(256), 1, 256, new Uint8Array(210), null, true)).toThrow(/no plain quantizer/);
  });
});

describe('argument checks', () => {
  it('rejects unknown types, partial blocks, short buffers and activation-only dots', () => {
    expectKilnError(() => dequantize(4, new Uint8Array(100), 32), /unknown tensor type/);
    expectKilnError(() => dequantize('Q4_K', new Uint8Array(144), 100), /multiple of the Q4_K block size/);
    expectKilnError(() => dequantize('Q4_K', new Uint8Array(143), 256), /src holds 143/);
    expectKilnError(() => quantize('Q8_0', new Float32Array(31), 1, 32), /src holds 31/);
    expectKilnError(() => quantize('Q8_0', new Float32Array(32), 1, 32, new Uint8Array(33)), /out holds 33/);
    expectKilnError(() => vecDot('Q8_K', new Uint8Array(292), new Float32Array(256), 256), /no dot product/);
    expectKilnError(() => matvec('Q4_0', new Uint8Array(18), 2, 32, new Float32Array(32), new Float32Array(2)), /weights holds 18/);
    expectKilnError(() => matvec('Q4_0', new Uint8Array(36), 2, 32, new Float32Array(32), new Float32Array(1)), /out holds 1/);
    expectKilnError(() => dequantize('Q4_0', new Uint8Array(18), 1.5), /integer/);
  });

  it('the binding re-checks bounds when called directly', () => {
    const n = native();
    expect(() => n.dequantize(GGML_TYPE.Q4_K, new Uint8Array(10), 256, new Float32Array(256))).toThrow(/src holds 10/);
    expect(() => n.quantize(GGML_TYPE.Q4_K, new Float32Array(256), 2, 256, new Uint8Array(288))).toThrow(/src holds/);
    expect(() => n.matvec(GGML_TYPE.Q8_0, new Uint8Array(34), 1, 32, new Float32Array(16), new Float32Array(1), 0)).toThrow(/x holds 16/);
    expect(() => n.vecDot(GGML_TYPE.Q8_0, new Uint8Array(34), new Float32Array(32), 32, 99)).toThrow(/variant/);
    expect(() => n.dequantize(4, new Uint8Array(10), 32, new Float32Array(32))).toThrow(/unknown tensor type/);
  });
});
