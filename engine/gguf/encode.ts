/**
 * Encodes the GGUF header region (header, KVs, tensor infos) into one buffer
 * and computes the data layout. The header of even a large model is a few MB;
 * tensor data is streamed separately by writer.ts.
 */
import { KilnError } from '../../common/errors.js';
import { DEFAULT_ALIGNMENT, GGUF_MAGIC } from './parser.js';
import {
  GGUF_VALUE_SIZE, GGUF_VALUE_TYPE_NAMES, GGUFValueType as VT, tensorByteSize,
  type GGUFArrayValue, type GGUFScalarType, type GGUFValue,
} from './types.js';

export interface GGUFTensorSpec {
  name: string;
  /** Fastest-varying first. */
  dims: readonly number[];
  /** ggml type id. */
  type: number;
}

export interface GGUFLayout {
  alignment: number;
  /** The encoded header, KVs and tensor infos (without the padding to dataOffset). */
  header: Uint8Array;
  dataOffset: number;
  /** Per tensor, in the given order: offset from the data start and unpadded size. */
  tensors: Array<{ name: string; offset: number; byteSize: number }>;
  fileSize: number;
}

const MAX_NAME_BYTES = 63;
const MAX_KEY_BYTES = 65535;
const utf8 = new TextEncoder();

function bad(message: string): KilnError {
  return new KilnError('E_GGUF_MALFORMED', `writeGGUF: ${message}`);
}

/** A growable little-endian byte buffer. */
class ByteBuilder {
  buf = new Uint8Array(1 << 16);
  dv = new DataView(this.buf.buffer);
  len = 0;

  reserve(n: number): number {
    if (this.len + n > this.buf.length) {
      const next = new Uint8Array(Math.max(this.buf.length * 2, this.len + n));
      next.set(this.buf.subarray(0, this.len));
      this.buf = next;
      this.dv = new DataView(next.buffer);
    }
    const at = this.len;
    this.len += n;
    return at;
  }

  u32(v: number): void {
    this.dv.setUint32(this.reserve(4), v, true);
  }

  u64(v: bigint | number): void {
    this.dv.setBigUint64(this.reserve(8), BigInt(v), true);
  }

  /** u64 byte length then UTF-8 bytes; returns the byte length. */
  str(s: string): number {
    const at = this.reserve(8 + s.length * 3); // worst case: 3 UTF-8 bytes per UTF-16 unit
    const { written } = utf8.encodeInto(s, this.buf.subarray(at + 8));
    this.dv.setBigUint64(at, BigInt(written), true);
    this.len = at + 8 + written;
    return written;
  }

  bytes(): Uint8Array {
    return this.buf.slice(0, this.len);
  }
}

const INT_RANGE: Partial<Record<GGUFScalarType, [number, number]>> = {
  0: [0, 0xff], 1: [-0x80, 0x7f], 2: [0, 0xffff], 3: [-0x8000, 0x7fff], 4: [0, 0xffffffff], 5: [-0x80000000, 0x7fffffff],
};
const BIG_RANGE: Partial<Record<GGUFScalarType, [bigint, bigint]>> = {
  10: [0n, (1n << 64n) - 1n], 11: [-(1n << 63n), (1n << 63n) - 1n],
};

/** Writes one scalar at b.len after checking it fits its declared type. */
function scalar(b: ByteBuilder, t: GGUFScalarType, v: unknown, where: string): void {
  if (t === VT.STRING) {
    if (typeof v !== 'string') throw bad(`${where}: expected a string`);
    b.str(v);
    return;
  }
  if (t === VT.BOOL) {
    if (typeof v !== 'boolean') throw bad(`${where}: expected a boolean`);
    const at = b.reserve(1); // reserve may replace b.buf
    b.buf[at] = v ? 1 : 0;
    return;
  }
  const big = BIG_RANGE[t];
  if (big) {
    const x = typeof v === 'number' && Number.isSafeInteger(v) ? BigInt(v) : v;
    if (typeof x !== 'bigint' || x < big[0] || x > big[1]) throw bad(`${where}: ${String(v)} is not a ${GGUF_VALUE_TYPE_NAMES[t]}`);
    const at = b.reserve(8);
    if (t === VT.U64) b.dv.setBigUint64(at, x, true);
    else b.dv.setBigInt64(at, x, true);
    return;
  }
  if (typeof v !== 'number') throw bad(`${where}: expected a number for ${GGUF_VALUE_TYPE_NAMES[t]}`);
  const range = INT_RANGE[t];
  if (range && (!Number.isInteger(v) || v < range[0] || v > range[1])) throw bad(`${where}: ${v} is not a ${GGUF_VALUE_TYPE_NAMES[t]}`);
  const at = b.reserve(GGUF_VALUE_SIZE[t]);
  const dv = b.dv;
  switch (t) {
    case VT.U8: dv.setUint8(at, v); break;
    case VT.I8: dv.setInt8(at, v); break;
    case VT.U16: dv.setUint16(at, v, true); break;
    case VT.I16: dv.setInt16(at, v, true); break;
    case VT.U32: dv.setUint32(at, v, true); break;
    case VT.I32: dv.setInt32(at, v, true); break;
    case VT.F32: dv.setFloat32(at, v, true); break;
    case VT.F64: dv.setFloat64(at, v, true); break;
  }
}

const TYPED_CLASS: Partial<Record<GGUFScalarType, Function>> = {
  0: Uint8Array, 1: Int8Array, 2: Uint16Array, 3: Int16Array, 4: Uint32Array, 5: Int32Array,
  6: Float32Array, 12: Float64Array, 10: BigUint64Array, 11: BigInt64Array,
};
const HOST_LE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function array(b: ByteBuilder, v: GGUFArrayValue, where: string): void {
  const t = v.itemType;
  if ((t as number) === VT.ARRAY || !(t in GGUF_VALUE_SIZE)) throw bad(`${where}: invalid array element type ${t}`);
  b.u32(t);
  b.u64(v.value.length);
  const cls = TYPED_CLASS[t];
  if (HOST_LE && cls && v.value instanceof cls) {
    // Typed array of the declared type: its bytes are already the on-disk form.
    const src = v.value as Uint8Array;
    const bytes = new Uint8Array(src.buffer, src.byteOffset, src.byteLength);
    const at = b.reserve(bytes.length); // reserve may replace b.buf
    b.buf.set(bytes, at);
    return;
  }
  for (let i = 0; i < v.value.length; i++) scalar(b, t, v.value[i], `${where}[${i}]`);
}

function value(b: ByteBuilder, v: GGUFValue, where: string): void {
  if (v === null || typeof v !== 'object' || !(v.type in GGUF_VALUE_TYPE_NAMES)) throw bad(`${where}: invalid value type`);
  b.u32(v.type);
  if (v.type === VT.ARRAY) array(b, v, where);
  else scalar(b, v.type, v.value, where);
}

/** Resolves the alignment from the KVs and the option; adds general.alignment when a non-default one is asked for. */
function resolveAlignment(kv: Map<string, GGUFValue>, asked: number | undefined): number {
  const v = kv.get('general.alignment');
  let a = asked ?? DEFAULT_ALIGNMENT;
  if (v !== undefined) {
    if (v.type !== VT.U32) throw bad('general.alignment must be a u32');
    if (asked !== undefined && asked !== v.value) throw bad(`alignment ${asked} contradicts general.alignment ${v.value}`);
    a = v.value;
  }
  if (!Number.isInteger(a) || a < 1 || a > 0xffffffff || (a & (a - 1)) !== 0) throw bad(`alignment ${a} is not a power of two`);
  // Readers fall back to 32, so any other alignment must be recorded in the file.
  if (v === undefined && a !== DEFAULT_ALIGNMENT) kv.set('general.alignment', { type: VT.U32, value: a });
  return a;
}

/** Encodes the header region and lays out the tensor data; validates everything it writes. */
export function layoutGGUF(
  kvIn: Map<string, GGUFValue> | Iterable<readonly [string, GGUFValue]>,
  tensors: readonly GGUFTensorSpec[],
  alignmentOpt?: number,
): GGUFLayout {
  const kv = new Map<string, GGUFValue>();
  for (const [k, v] of kvIn) {
    if (kv.has(k)) throw bad(`duplicate key "${k}"`);
    kv.set(k, v);
  }
  const alignment = resolveAlignment(kv, alignmentOpt);
  const b = new ByteBuilder();
  b.u32(GGUF_MAGIC);
  b.u32(3);
  b.u64(tensors.length);
  b.u64(kv.size);
  for (const [k, v] of kv) {
    if (b.str(k) > MAX_KEY_BYTES) throw bad(`key "${k.slice(0, 40)}…" is longer than ${MAX_KEY_BYTES} bytes`);
    value(b, v, `KV "${k}"`);
  }
  const names = new Set<string>();
  const placed: GGUFLayout['tensors'] = [];
  let offset = 0;
  for (const t of tensors) {
    if (names.has(t.name)) throw bad(`duplicate tensor name "${t.name}"`);
    names.add(t.name);
    if (b.str(t.name) > MAX_NAME_BYTES) throw bad(`tensor name "${t.name}" is ${MAX_NAME_BYTES + 1} bytes or longer`);
    if (t.dims.length > 4) throw bad(`tensor "${t.name}" has ${t.dims.length} dims, more than 4`);
    let byteSize: number;
    try {
      byteSize = tensorByteSize(t.type, t.dims);
    } catch (e) {
      throw e instanceof KilnError ? new KilnError(e.code, `writeGGUF: tensor "${t.name}": ${e.message}`) : e;
    }
    b.u32(t.dims.length);
    for (const d of t.dims) b.u64(d);
    b.u32(t.type);
    b.u64(offset);
    placed.push({ name: t.name, offset, byteSize });
    offset = alignUp(offset + byteSize, alignment);
    if (!Number.isSafeInteger(offset)) throw bad('total tensor data overflows 2^53 bytes');
  }
  const header = b.bytes();
  const dataOffset = alignUp(header.length, alignment);
  const last = placed[placed.length - 1];
  // The file ends after the last tensor's padding, as the data section is padded per tensor.
  const fileSize = dataOffset + (last ? alignUp(last.offset + last.byteSize, alignment) : 0);
  return { alignment, header, dataOffset, tensors: placed, fileSize };
}

export function alignUp(n: number, alignment: number): number {
  return Math.ceil(n / alignment) * alignment;
}
