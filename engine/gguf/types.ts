/**
 * GGUF and ggml type tables: metadata value types, tensor types with their
 * block layout, `general.file_type` ids, and the one place tensor byte sizes
 * are computed. Facts follow DESIGN.md §4 and the public GGUF spec.
 */
import { KilnError } from '../../common/errors.js';

/** Metadata value type ids as stored on disk (u32/i32 before every value). */
export const GGUFValueType = {
  U8: 0,
  I8: 1,
  U16: 2,
  I16: 3,
  U32: 4,
  I32: 5,
  F32: 6,
  BOOL: 7,
  STRING: 8,
  ARRAY: 9,
  U64: 10,
  I64: 11,
  F64: 12,
} as const;
export type GGUFValueType = (typeof GGUFValueType)[keyof typeof GGUFValueType];
export type GGUFScalarType = Exclude<GGUFValueType, 9>;

export const GGUF_VALUE_TYPE_NAMES: Record<GGUFValueType, string> = {
  0: 'u8', 1: 'i8', 2: 'u16', 3: 'i16', 4: 'u32', 5: 'i32', 6: 'f32',
  7: 'bool', 8: 'string', 9: 'array', 10: 'u64', 11: 'i64', 12: 'f64',
};

/** Bytes per element on disk; a string's entry is its u64 length prefix (the minimum it can take). */
export const GGUF_VALUE_SIZE: Record<GGUFScalarType, number> = {
  0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 8: 8, 10: 8, 11: 8, 12: 8,
};

type NumberType = 0 | 1 | 2 | 3 | 4 | 5 | 6 | 12;

/**
 * A metadata value with its on-disk type kept, so the writer can reproduce
 * the file byte for byte (a u32 32 and a u64 32 are different files).
 * Numeric arrays are typed arrays: memory stays proportional to the bytes
 * the file actually holds, even for a 150k-entry tokenizer.
 */
export type GGUFValue =
  | { type: NumberType; value: number }
  | { type: 10 | 11; value: bigint }
  | { type: 7; value: boolean }
  | { type: 8; value: string }
  | GGUFArrayValue;

export type GGUFArrayData =
  | Uint8Array | Int8Array | Uint16Array | Int16Array | Uint32Array | Int32Array
  | Float32Array | Float64Array | BigUint64Array | BigInt64Array
  | boolean[] | string[] | number[] | bigint[];

export interface GGUFArrayValue {
  type: 9;
  itemType: GGUFScalarType;
  /** Typed array matching itemType when read; the writer also takes plain arrays. */
  value: GGUFArrayData;
}

/** Ordered metadata: Map iteration order is the file's key order. */
export type GGUFMetadata = Map<string, GGUFValue>;

/** Typed value constructors, so callers build KVs without spelling type ids. */
export const gv = {
  u8: (value: number): GGUFValue => ({ type: 0, value }),
  i8: (value: number): GGUFValue => ({ type: 1, value }),
  u16: (value: number): GGUFValue => ({ type: 2, value }),
  i16: (value: number): GGUFValue => ({ type: 3, value }),
  u32: (value: number): GGUFValue => ({ type: 4, value }),
  i32: (value: number): GGUFValue => ({ type: 5, value }),
  f32: (value: number): GGUFValue => ({ type: 6, value }),
  bool: (value: boolean): GGUFValue => ({ type: 7, value }),
  str: (value: string): GGUFValue => ({ type: 8, value }),
  u64: (value: bigint | number): GGUFValue => ({ type: 10, value: BigInt(value) }),
  i64: (value: bigint | number): GGUFValue => ({ type: 11, value: BigInt(value) }),
  f64: (value: number): GGUFValue => ({ type: 12, value }),
  array: (itemType: GGUFScalarType, value: GGUFArrayData): GGUFValue => ({ type: 9, itemType, value }),
};

/** ggml tensor type ids (the i32 in each tensor info). */
export const GGMLType = {
  F32: 0, F16: 1, Q4_0: 2, Q4_1: 3, Q5_0: 6, Q5_1: 7, Q8_0: 8, Q8_1: 9,
  Q2_K: 10, Q3_K: 11, Q4_K: 12, Q5_K: 13, Q6_K: 14, Q8_K: 15,
  IQ2_XXS: 16, IQ2_XS: 17, IQ3_XXS: 18, IQ1_S: 19, IQ4_NL: 20, IQ3_S: 21, IQ2_S: 22, IQ4_XS: 23,
  I8: 24, I16: 25, I32: 26, I64: 27, F64: 28, IQ1_M: 29, BF16: 30,
  TQ1_0: 34, TQ2_0: 35, MXFP4: 39,
} as const;
export type GGMLTypeName = keyof typeof GGMLType;

export interface GGMLTypeInfo {
  name: GGMLTypeName;
  /** Elements per block; a row (dims[0]) must be a whole number of blocks. */
  blockSize: number;
  /** Bytes per block. */
  typeSize: number;
  /**
   * False for types whose layout is known (so files holding them can be read,
   * sized and shown) but that kiln has no kernels for.
   */
  supported: boolean;
}

// (id, name, block size, bytes per block, supported). Sizes are the ggml block
// structs: e.g. Q4_K = 2×f16 + 12 scale bytes + 128 nibble bytes = 144 per 256.
const TYPE_ROWS: ReadonlyArray<[number, GGMLTypeName, number, number, boolean]> = [
  [0, 'F32', 1, 4, true], [1, 'F16', 1, 2, true],
  [2, 'Q4_0', 32, 18, true], [3, 'Q4_1', 32, 20, true],
  [6, 'Q5_0', 32, 22, true], [7, 'Q5_1', 32, 24, true],
  [8, 'Q8_0', 32, 34, true], [9, 'Q8_1', 32, 36, true],
  [10, 'Q2_K', 256, 84, true], [11, 'Q3_K', 256, 110, true], [12, 'Q4_K', 256, 144, true],
  [13, 'Q5_K', 256, 176, true], [14, 'Q6_K', 256, 210, true], [15, 'Q8_K', 256, 292, true],
  [16, 'IQ2_XXS', 256, 66, true], [17, 'IQ2_XS', 256, 74, true], [18, 'IQ3_XXS', 256, 98, true],
  [19, 'IQ1_S', 256, 50, true], [20, 'IQ4_NL', 32, 18, true], [21, 'IQ3_S', 256, 110, true],
  [22, 'IQ2_S', 256, 82, true], [23, 'IQ4_XS', 256, 136, true],
  [24, 'I8', 1, 1, true], [25, 'I16', 1, 2, true], [26, 'I32', 1, 4, true],
  [27, 'I64', 1, 8, true], [28, 'F64', 1, 8, true], [29, 'IQ1_M', 256, 56, true],
  [30, 'BF16', 1, 2, true], [34, 'TQ1_0', 256, 54, true], [35, 'TQ2_0', 256, 66, true],
  [39, 'MXFP4', 32, 17, true],
];

export const GGML_TYPES: ReadonlyMap<number, GGMLTypeInfo> = new Map(
  TYPE_ROWS.map(([id, name, blockSize, typeSize, supported]) => [id, { name, blockSize, typeSize, supported }]),
);

export function ggmlTypeInfo(type: number): GGMLTypeInfo | undefined {
  return GGML_TYPES.get(type);
}

export function ggmlTypeName(type: number): string {
  return GGML_TYPES.get(type)?.name ?? `unknown(${type})`;
}

/** `general.file_type` ids (llama.cpp's llama_ftype) → the names Ollama shows as quantization_level. */
export const FILE_TYPE_NAMES: ReadonlyMap<number, string> = new Map([
  [0, 'F32'], [1, 'F16'], [2, 'Q4_0'], [3, 'Q4_1'], [7, 'Q8_0'], [8, 'Q5_0'], [9, 'Q5_1'],
  [10, 'Q2_K'], [11, 'Q3_K_S'], [12, 'Q3_K_M'], [13, 'Q3_K_L'], [14, 'Q4_K_S'], [15, 'Q4_K_M'],
  [16, 'Q5_K_S'], [17, 'Q5_K_M'], [18, 'Q6_K'], [19, 'IQ2_XXS'], [20, 'IQ2_XS'], [21, 'Q2_K_S'],
  [22, 'IQ3_XS'], [23, 'IQ3_XXS'], [24, 'IQ1_S'], [25, 'IQ4_NL'], [26, 'IQ3_S'], [27, 'IQ3_M'],
  [28, 'IQ2_S'], [29, 'IQ2_M'], [30, 'IQ4_XS'], [31, 'IQ1_M'], [32, 'BF16'],
  [36, 'TQ1_0'], [37, 'TQ2_0'], [38, 'MXFP4'],
]);

export function fileTypeName(id: number): string | undefined {
  return FILE_TYPE_NAMES.get(id);
}

export function fileTypeId(name: string): number | undefined {
  for (const [id, n] of FILE_TYPE_NAMES) if (n === name) return id;
  return undefined;
}

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** Element count of a tensor; dims must be positive safe integers (a scalar has dims []). */
export function tensorElementCount(dims: readonly number[]): number {
  let n = 1n;
  for (const d of dims) {
    if (!Number.isSafeInteger(d) || d < 1) {
      throw new KilnError('E_GGUF_MALFORMED', `dimension ${d} is not a positive integer`);
    }
    n *= BigInt(d);
    // Checked every step so a 4-D product cannot grow a huge BigInt first.
    if (n > MAX_SAFE) throw new KilnError('E_GGUF_MALFORMED', `dimensions [${dims.join(', ')}] overflow the element count`);
  }
  return Number(n);
}

/**
 * Bytes a tensor of `type` and `dims` (fastest first) occupies, unpadded.
 * Throws E_GGUF_UNSUPPORTED for an unknown type and E_GGUF_MALFORMED for bad
 * dims, a row that is not a whole number of blocks, or a size past 2^53.
 */
export function tensorByteSize(type: number, dims: readonly number[]): number {
  const info = GGML_TYPES.get(type);
  if (!info) throw new KilnError('E_GGUF_UNSUPPORTED', `unknown ggml tensor type ${type}`);
  const elements = tensorElementCount(dims);
  const row = dims.length > 0 ? dims[0] : 1;
  if (row % info.blockSize !== 0) {
    throw new KilnError(
      'E_GGUF_MALFORMED',
      `row of ${row} elements is not a multiple of the ${info.name} block size ${info.blockSize}`,
    );
  }
  const bytes = (BigInt(elements) / BigInt(info.blockSize)) * BigInt(info.typeSize);
  if (bytes > MAX_SAFE) throw new KilnError('E_GGUF_MALFORMED', `tensor of ${elements} ${info.name} elements overflows the byte size`);
  return Number(bytes);
}
