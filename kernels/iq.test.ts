/**
 * The formats kiln reads but does not write: MXFP4, the IQ types and
 * TQ1_0/TQ2_0. Their blocks come from llama.cpp's own quantizer
 * (kernels/testdata/ggml-iq-golden.json, made by kernels/tools/ggml-iq-golden.cpp
 * through ggml_quantize_chunk in node-llama-cpp's libggml-base.so). kiln's
 * dequantization must equal gguf-py's on them bit for bit (read from a GGUF
 * file, as a model's tensors are), and every kernel variant's dot product must
 * equal the scalar reference bit for bit, itself within float rounding of the
 * float64 dot of the dequantized operands.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import { isKilnError } from '../common/errors.js';
import { readGGUFFileSync } from '../engine/gguf/reader.js';
import { ggmlTypeName, gv, tensorByteSize } from '../engine/gguf/types.js';
import { writeGGUF } from '../engine/gguf/writer.js';
import { llamaSource, pythonWithNumpy } from '../test/helpers/llama-src.js';
import { setThreads, supportedVariants, threads } from './cpu.js';
import { DOT_REL_TOL, gaussian, nmse, weightsFor } from './harness.js';
import { dequantize, GGML_TYPE, matmul, matvec, quantize, quantizeActivations, rowSize, typeInfo, vecDot, type QuantType } from './quants.js';

const golden = JSON.parse(readFileSync(new URL('./testdata/ggml-iq-golden.json', import.meta.url), 'utf8')) as {
  rows: number;
  cols: number;
  f32: string;
  types: Record<string, string>;
};
const IQ_TYPES = Object.keys(golden.types) as QuantType[];
const source = new Float32Array(new Uint8Array(Buffer.from(golden.f32, 'base64')).buffer);
const goldenBytes = (t: QuantType): Uint8Array => new Uint8Array(Buffer.from(golden.types[t], 'base64'));

// llama.cpp's type traits: these two take Q8_0 activations, the rest Q8_K.
const VEC_DOT_TYPE: Record<string, QuantType> = { IQ4_NL: 'Q8_0', MXFP4: 'Q8_0' };

/** The IQ types kiln also writes (kernels/src/ref/iq4quant.cpp, iqgrid_quant.cpp); the rest it reads only. */
const LATTICE: QuantType[] = ['IQ3_XXS', 'IQ3_S', 'IQ2_XXS', 'IQ2_XS', 'IQ2_S', 'IQ1_S'];
const WRITTEN: QuantType[] = ['IQ4_NL', 'IQ4_XS', ...LATTICE];

/**
 * Round-trip error of llama.cpp's quantizer on the golden rows (a sanity bound
 * on the decoded values: a wrong grid or scale gives errors near or above 1).
 * Measured: IQ4_NL/IQ4_XS 0.009, MXFP4 0.018, IQ3_S 0.027, IQ3_XXS 0.046,
 * IQ2_S 0.10, IQ2_XS 0.13, IQ2_XXS 0.19, IQ1_M 0.25, IQ1_S 0.34, TQ 0.64
 * (ternary weights on Gaussian data).
 */
const GOLDEN_NMSE: Record<string, number> = {
  IQ4_NL: 0.012, IQ4_XS: 0.012, MXFP4: 0.025, IQ3_S: 0.035, IQ3_XXS: 0.06, IQ2_S: 0.13, IQ2_XS: 0.16,
  IQ2_XXS: 0.24, IQ1_M: 0.3, IQ1_S: 0.4, TQ1_0: 0.7, TQ2_0: 0.7,
};

const tmp = mkdtempSync(join(tmpdir(), 'kiln-iq-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** float64 dot of the dequantized operands and sum |w_i a_i|. */
function expectedDot(t: QuantType, row: Uint8Array, act: Float32Array): { dot: number; scale: number } {
  const n = act.length;
  const w = dequantize(t, row, n);
  const vdt = typeInfo(t).vecDotType;
  // the activations as the kernels quantize them (quantize() is the weight quantizer, whose Q8_0 scale is searched)
  const a = dequantize(vdt, quantizeActivations(vdt, act, n, 'scalar'), n);
  let dot = 0;
  let scale = 0;
  for (let i = 0; i < n; i++) {
    dot += w[i] * a[i];
    scale += Math.abs(w[i] * a[i]);
  }
  return { dot, scale };
}

describe('type table', () => {
  it('has llama.cpp\'s ids, block sizes and activation types, and a quantizer only where kiln writes the type', () => {
    const want: Record<string, [number, number, number]> = {
      IQ2_XXS: [16, 256, 66], IQ2_XS: [17, 256, 74], IQ3_XXS: [18, 256, 98], IQ1_S: [19, 256, 50], IQ4_NL: [20, 32, 18],
      IQ3_S: [21, 256, 110], IQ2_S: [22, 256, 82], IQ4_XS: [23, 256, 136], IQ1_M: [29, 256, 56], TQ1_0: [34, 256, 54],
      TQ2_0: [35, 256, 66], MXFP4: [39, 32, 17],
    };
    expect(Object.keys(want).sort()).toEqual([...IQ_TYPES].sort());
    for (const [name, [id, bs, ts]] of Object.entries(want)) {
      const t = typeInfo(name as QuantType);
      expect([t.id, t.blockSize, t.typeSize, GGML_TYPE[name as QuantType]], name).toEqual([id, bs, ts, id]);
      expect(t.vecDotType, name).toBe(VEC_DOT_TYPE[name] ?? 'Q8_K');
      expect(t.hasVecDot, name).toBe(true);
      expect(t.hasQuantize, name).toBe(WRITTEN.includes(name as QuantType));
      // the GGUF reader's table sizes tensors the same way
      expect(tensorByteSize(id, [1024, 3]), name).toBe(rowSize(name as QuantType, 1024) * 3);
    }
  });

  it('refuses to quantize to a read-only type with a typed error', () => {
    let err: unknown;
    try {
      quantize('IQ1_M', new Float32Array(256), 1, 256);
    } catch (e) {
      err = e;
    }
    expect(isKilnError(err, 'E_NATIVE')).toBe(true);
    expect((err as Error).message).toMatch(/no quantizer for IQ1_M/);
  });
});

describe("kiln's IQ quantizers against llama.cpp's", () => {
  it.each(WRITTEN)('%s: the golden rows quantized by kiln decode closer to the source than llama.cpp\'s blocks do', (t) => {
    const theirs = nmse(source, dequantize(t, goldenBytes(t), source.length));
    const ours = nmse(source, dequantize(t, quantize(t, source, golden.rows, golden.cols), source.length));
    expect(ours, `kiln ${ours.toExponential(3)} vs llama.cpp ${theirs.toExponential(3)}`).toBeLessThanOrEqual(theirs);
    // with an importance that zeroes half the columns, the other half gets all the precision
    const imp = new Float32Array(golden.cols).map((_, i) => (i % 2 ? 1 : 0));
    const weighted = dequantize(t, quantize(t, source, golden.rows, golden.cols, undefined, imp), source.length);
    const odd = (x: Float32Array) => x.filter((_, i) => i % 2 === 1);
    expect(nmse(odd(source), odd(weighted))).toBeLessThan(nmse(odd(source), odd(dequantize(t, quantize(t, source, golden.rows, golden.cols), source.length))));
  });
});

describe("dequantization of llama.cpp's blocks against gguf-py", () => {
  it('a GGUF of every type reads back with the right types and sizes, and each tensor decodes exactly as gguf-py decodes it', async () => {
    const path = join(tmp, 'iq.gguf');
    await writeGGUF(path, {
      kv: [['general.architecture', gv.str('llama')]],
      tensors: IQ_TYPES.map((t) => ({ name: `w.${t}`, dims: [golden.cols, golden.rows], type: GGML_TYPE[t], data: goldenBytes(t) })),
    });
    const file = readGGUFFileSync(path);
    expect(file.tensors.map((t) => ggmlTypeName(t.type))).toEqual(IQ_TYPES);
    for (const t of file.tensors) expect(t.byteSize, t.name).toBe(rowSize(t.type, golden.cols) * golden.rows);

    const bin = join(tmp, 'iq.f32');
    const index = JSON.parse(
      execFileSync(pythonWithNumpy(), [join(import.meta.dirname, '..', 'test', 'oracle', 'gguf_dequant.py'), join(llamaSource(), 'gguf-py'), path, bin], {
        maxBuffer: 1 << 24,
      }).toString(),
    ) as { name: string; count: number; offset: number }[];
    const theirs = readFileSync(bin);
    const bytes = readFileSync(path);
    for (const t of file.tensors) {
      const e = index.find((x) => x.name === t.name)!;
      expect(e.count, t.name).toBe(golden.rows * golden.cols);
      const ours = dequantize(t.type, bytes.subarray(t.absOffset, t.absOffset + t.byteSize), e.count);
      const want = new Uint32Array(theirs.buffer.slice(theirs.byteOffset + e.offset, theirs.byteOffset + e.offset + e.count * 4));
      const got = new Uint32Array(ours.buffer);
      let diff = 0;
      for (let i = 0; i < got.length; i++) if (got[i] !== want[i]) diff++;
      expect(diff, `${t.name}: values whose bits differ from gguf-py's`).toBe(0);
      const name = ggmlTypeName(t.type);
      expect(nmse(source, ours), name).toBeLessThanOrEqual(GOLDEN_NMSE[name]);
    }
  });
});

/** Rows to test a type on: llama.cpp's blocks, then random blocks (every grid point and sign pattern). */
function rowsOf(t: QuantType): { bytes: Uint8Array; rows: number; cols: number }[] {
  return [
    { bytes: goldenBytes(t), rows: golden.rows, cols: golden.cols },
    { bytes: weightsFor(t, 7, 2048, 77), rows: 7, cols: 2048 },
  ];
}

describe('dot products: every variant equals the scalar reference bit for bit', () => {
  for (const t of IQ_TYPES) {
    it(`${t}: vecDot (${supportedVariants().join(', ')}) on llama.cpp's and random blocks, within float rounding of the float64 dot`, () => {
      for (const { bytes, rows, cols } of rowsOf(t)) {
        const rb = rowSize(t, cols);
        for (let r = 0; r < rows; r++) {
          const row = bytes.subarray(r * rb, (r + 1) * rb);
          const act = gaussian(cols, 500 + r);
          const ref = vecDot(t, row, act, cols, 'scalar');
          const { dot, scale } = expectedDot(t, row, act);
          expect(Math.abs(ref - dot), `row ${r}`).toBeLessThanOrEqual(DOT_REL_TOL * scale);
          for (const v of supportedVariants()) expect(vecDot(t, row, act, cols, v), `${v} row ${r}`).toBe(ref);
        }
      }
    });

    it(`${t}: matvec and matmul (single tokens, small and prompt-sized batches, 1-3 threads) give each pair's vecDot`, () => {
      const { bytes, rows, cols } = rowsOf(t)[1];
      const rb = rowSize(t, cols);
      const before = threads();
      try {
        for (const v of supportedVariants()) {
          const x = gaussian(cols, 600);
          const out = matvec(t, bytes, rows, cols, x, new Float32Array(rows), v);
          for (let r = 0; r < rows; r++) expect(out[r], `${v} matvec row ${r}`).toBe(vecDot(t, bytes.subarray(r * rb, (r + 1) * rb), x, cols, 'scalar'));
          for (const n of [3, 17]) {
            const xs = gaussian(n * cols, 601 + n);
            for (const th of [1, 3]) {
              setThreads(th);
              const y = matmul(t, bytes, rows, cols, xs, n, new Float32Array(n * rows), v);
              for (let tok = 0; tok < n; tok++)
                for (let r = 0; r < rows; r++) {
                  const want = vecDot(t, bytes.subarray(r * rb, (r + 1) * rb), xs.subarray(tok * cols, (tok + 1) * cols), cols, 'scalar');
                  expect(y[tok * rows + r], `${v} n=${n} threads=${th} token ${tok} row ${r}`).toBe(want);
                }
            }
          }
        }
      } finally {
        setThreads(before);
      }
    });
  }

  it('the activations of these types are the reference bytes on every variant', () => {
    const x = gaussian(2048, 700);
    for (const vdt of ['Q8_0', 'Q8_K'] as const) {
      const ref = quantizeActivations(vdt, x, x.length, 'scalar');
      for (const v of supportedVariants()) expect(Buffer.from(quantizeActivations(vdt, x, x.length, v)).equals(Buffer.from(ref)), `${vdt} ${v}`).toBe(true);
    }
  });
});
