import { describe, expect, it } from 'vitest';
import { isKilnError } from '../../common/errors.js';
import { FILE_TYPE_NAMES, fileTypeId, GGMLType, ggmlTypeInfo, tensorByteSize } from './types.js';

describe('ggml type table', () => {
  // Bytes per block and elements per block from DESIGN.md §4.
  const table: Array<[keyof typeof GGMLType, number, number]> = [
    ['F32', 1, 4], ['F16', 1, 2], ['BF16', 1, 2], ['Q4_0', 32, 18], ['Q8_0', 32, 34],
    ['Q2_K', 256, 84], ['Q3_K', 256, 110], ['Q4_K', 256, 144], ['Q5_K', 256, 176], ['Q6_K', 256, 210], ['Q8_K', 256, 292],
  ];
  for (const [name, block, bytes] of table) {
    it(`${name} packs ${block} elements in ${bytes} bytes`, () => {
      expect(ggmlTypeInfo(GGMLType[name])).toMatchObject({ name, blockSize: block, typeSize: bytes });
    });
  }

  it('sizes tensors by whole blocks per row', () => {
    expect(tensorByteSize(GGMLType.Q4_K, [4096, 4096])).toBe(4096 * 16 * 144);
    expect(tensorByteSize(GGMLType.Q8_0, [64, 2])).toBe(4 * 34);
    expect(tensorByteSize(GGMLType.F32, [])).toBe(4);
  });

  const rejects: Array<[string, number, number[], string]> = [
    ['an unknown type', 99, [32], 'E_GGUF_UNSUPPORTED'],
    ['a zero dim', GGMLType.F32, [4, 0], 'E_GGUF_MALFORMED'],
    ['a fractional dim', GGMLType.F32, [1.5], 'E_GGUF_MALFORMED'],
    ['a partial block', GGMLType.Q6_K, [128, 2], 'E_GGUF_MALFORMED'],
    ['an element count past 2^53', GGMLType.F32, [2 ** 27, 2 ** 27], 'E_GGUF_MALFORMED'],
    ['a byte size past 2^53', GGMLType.F64, [2 ** 26, 2 ** 26], 'E_GGUF_MALFORMED'],
  ];
  for (const [name, type, dims, code] of rejects) {
    it(`rejects ${name}`, () => {
      let err: unknown;
      try { tensorByteSize(type, dims); } catch (e) { err = e; }
      expect(isKilnError(err) && err.code).toBe(code);
    });
  }

  it('maps file type names and ids both ways', () => {
    expect(FILE_TYPE_NAMES.get(15)).toBe('Q4_K_M');
    expect(fileTypeId('Q4_K_M')).toBe(15);
    expect(fileTypeId('BF16')).toBe(32);
  });

  it("names llama.cpp's ternary and MXFP4 file types (llama_ftype 36-38) and knows every IQ/TQ/MXFP4 tensor type", () => {
    expect([36, 37, 38].map((id) => FILE_TYPE_NAMES.get(id))).toEqual(['TQ1_0', 'TQ2_0', 'MXFP4']);
    for (const id of [16, 17, 18, 19, 20, 21, 22, 23, 29, 34, 35, 39]) expect(ggmlTypeInfo(id)?.supported, String(id)).toBe(true);
  });
});
