/**
 * The GGUF header parser: magic, counts, KVs and tensor infos, validated
 * against the file size before anything is allocated.
 *
 * It parses a window of the file, not the file: readers feed it bytes and,
 * when it throws `NeedMore`, feed a larger window starting at `resumeAt` (the
 * start of the KV or tensor info it was in) and call `run()` again. Each item
 * is committed only when complete, so a restart never sees half an item. The
 * in-memory parser feeds the whole buffer once and never sees `NeedMore`.
 */
import { KilnError } from '../../common/errors.js';
import {
  GGUF_VALUE_SIZE, GGUF_VALUE_TYPE_NAMES, GGUFValueType as VT, ggmlTypeName, tensorByteSize,
  type GGUFArrayData, type GGUFArrayValue, type GGUFScalarType, type GGUFValue,
} from './types.js';

export interface GGUFTensorInfo {
  name: string;
  /** Fastest-varying first, as ggml stores them. */
  dims: number[];
  /** ggml type id (see GGMLType). */
  type: number;
  /** Offset from the start of the data section. */
  offset: number;
  /** Offset from the start of the file (dataOffset + offset). */
  absOffset: number;
  /** Unpadded size in bytes. */
  byteSize: number;
}

export interface GGUFFile {
  version: 2 | 3;
  kv: Map<string, GGUFValue>;
  tensors: GGUFTensorInfo[];
  alignment: number;
  /** End of the tensor infos: the header proper, before the padding to dataOffset. */
  headerSize: number;
  /** Absolute offset of the data section (headerSize rounded up to alignment). */
  dataOffset: number;
  fileSize: number;
}

/** Internal signal: the window ends before `end` while the file does not. Never escapes a reader. */
export class NeedMore {
  /** `end`: the window must reach it; `want`: a better guess at what the current item needs. */
  constructor(readonly end: number, readonly want = end) {}
}

export const GGUF_MAGIC = 0x46554747; // "GGUF" read as a little-endian u32
export const DEFAULT_ALIGNMENT = 32;
const HEADER_BYTES = 4 + 4 + 8 + 8;
const MAX_KEY_BYTES = 65535; // the spec caps keys at 2^16-1 bytes
const MAX_NAME_BYTES = 63; // GGML_MAX_NAME is 64 including the terminating NUL
const MAX_DIMS = 4;
// Smallest possible encodings, used to reject counts the remaining bytes cannot hold.
const MIN_KV_BYTES = 8 + 4 + 1; // empty key, value type, one-byte value
const MIN_TENSOR_INFO_BYTES = 8 + 4 + 4 + 8; // empty name, n_dims 0, type, offset
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
// Every supported host is little-endian; the copy-and-view fast path for numeric arrays relies on it.
const HOST_LE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

const TYPED: Record<Exclude<GGUFScalarType, 7 | 8>, (b: ArrayBuffer, n: number) => GGUFArrayData> = {
  0: (b, n) => new Uint8Array(b, 0, n), 1: (b, n) => new Int8Array(b, 0, n),
  2: (b, n) => new Uint16Array(b, 0, n), 3: (b, n) => new Int16Array(b, 0, n),
  4: (b, n) => new Uint32Array(b, 0, n), 5: (b, n) => new Int32Array(b, 0, n),
  6: (b, n) => new Float32Array(b, 0, n), 12: (b, n) => new Float64Array(b, 0, n),
  10: (b, n) => new BigUint64Array(b, 0, n), 11: (b, n) => new BigInt64Array(b, 0, n),
};

// ignoreBOM keeps a leading U+FEFF in the string so a rewrite reproduces it.
const utf8 = new TextDecoder('utf-8', { ignoreBOM: true });

/** Short ASCII strings (most tokens) are cheaper to build in JS than through TextDecoder. */
function decodeString(b: Uint8Array, start: number, end: number): string {
  if (end - start <= 16) {
    let s = '';
    for (let i = start; i < end; i++) {
      const c = b[i];
      if (c >= 0x80) return utf8.decode(b.subarray(start, end));
      s += String.fromCharCode(c);
    }
    return s;
  }
  return utf8.decode(b.subarray(start, end));
}

export class GGUFHeaderParser {
  private buf: Uint8Array = new Uint8Array(0);
  private dv: DataView = new DataView(this.buf.buffer);
  private bufStart = 0;
  private pos = 0;
  private itemStart = 0;
  private where = 'header';
  private phase: 'header' | 'kv' | 'tensors' | 'done' = 'header';
  private version: 2 | 3 = 3;
  private nTensors = 0;
  private nKV = 0;
  private readonly kv = new Map<string, GGUFValue>();
  private readonly infos: Array<{ name: string; dims: number[]; type: number; offset: bigint; byteSize: number; at: number }> = [];
  private readonly names = new Set<string>();

  constructor(readonly fileSize: number) {}

  /** File offset the next window must start at or before. */
  get resumeAt(): number {
    return this.itemStart;
  }

  get windowEnd(): number {
    return this.bufStart + this.buf.length;
  }

  /** Replaces the window with bytes [start, start + bytes.length) of the file. */
  feed(start: number, bytes: Uint8Array): void {
    if (start > this.itemStart || start + bytes.length > this.fileSize) {
      throw new KilnError('E_INTERNAL', `GGUF parser fed [${start}, +${bytes.length}) while resuming at ${this.itemStart}`);
    }
    this.buf = bytes;
    this.dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.bufStart = start;
  }

  /** Parses from where it stopped; returns the file or throws NeedMore / KilnError. */
  run(): GGUFFile {
    try {
      if (this.phase === 'header') this.header();
      while (this.phase === 'kv' && this.kv.size < this.nKV) this.keyValue();
      this.phase = 'tensors';
      while (this.infos.length < this.nTensors) this.tensorInfo();
      this.phase = 'done';
      return this.finish();
    } catch (e) {
      if (e instanceof NeedMore) this.pos = this.itemStart;
      throw e;
    }
  }

  private fail(what: string, at = this.pos): KilnError {
    return new KilnError('E_GGUF_MALFORMED', `GGUF ${this.where}: ${what} (at byte ${at})`);
  }

  /** Claims n bytes at pos; returns their index in the window. */
  private take(n: number, what: string): number {
    const left = this.fileSize - this.pos;
    if (n > left) throw this.fail(`${what} needs ${n} bytes but the file ends ${left} bytes later`);
    const i = this.pos - this.bufStart;
    if (i + n > this.buf.length) throw new NeedMore(this.pos + n);
    this.pos += n;
    return i;
  }

  private u32(what: string): number {
    return this.dv.getUint32(this.take(4, what), true);
  }

  private u64(what: string): bigint {
    return this.dv.getBigUint64(this.take(8, what), true);
  }

  /** A u64 count of `unit`-byte items, rejected unless the rest of the file could hold them. */
  private count(what: string, unit: number): number {
    const n = this.u64(what);
    const left = this.fileSize - this.pos;
    if (n * BigInt(unit) > BigInt(left)) {
      throw this.fail(`${what} ${n} needs at least ${n * BigInt(unit)} bytes but the file ends ${left} bytes later`, this.pos - 8);
    }
    return Number(n);
  }

  /** Labels are constants so the 150k-string tokenizer arrays build no message strings. */
  private string(what: string, lengthWhat: string, max = Infinity): string {
    const n = this.count(lengthWhat, 1);
    if (n > max) throw this.fail(`${what} is ${n} bytes, over the limit of ${max}`);
    const i = this.take(n, what);
    return decodeString(this.buf, i, i + n);
  }

  private header(): void {
    this.itemStart = this.pos = 0;
    const i = this.take(HEADER_BYTES, 'header');
    const magic = this.dv.getUint32(i, true);
    if (magic !== GGUF_MAGIC) {
      const shown = Array.from(this.buf.subarray(i, i + 4), (b) => b.toString(16).padStart(2, '0')).join(' ');
      throw this.fail(`not a GGUF file: magic bytes are ${shown}, expected 47 47 55 46 ("GGUF")`);
    }
    const version = this.dv.getUint32(i + 4, true);
    if (version === 1) throw new KilnError('E_GGUF_UNSUPPORTED', 'GGUF version 1 is not supported (only versions 2 and 3)');
    if (version !== 2 && version !== 3) {
      const swapped = this.dv.getUint32(i + 4, false);
      if (swapped >= 1 && swapped <= 3) {
        throw new KilnError('E_GGUF_UNSUPPORTED', `big-endian GGUF (version ${swapped} stored byte-swapped) is not supported; kiln reads little-endian files only`);
      }
      throw new KilnError('E_GGUF_UNSUPPORTED', `GGUF version ${version} is not supported (only versions 2 and 3)`);
    }
    this.version = version;
    const nTensors = this.dv.getBigUint64(i + 8, true);
    const nKV = this.dv.getBigUint64(i + 16, true);
    const left = BigInt(this.fileSize - this.pos);
    if (nKV * BigInt(MIN_KV_BYTES) + nTensors * BigInt(MIN_TENSOR_INFO_BYTES) > left) {
      throw this.fail(`${nKV} KVs and ${nTensors} tensor infos cannot fit in the ${left} bytes after the header`);
    }
    this.nTensors = Number(nTensors);
    this.nKV = Number(nKV);
    this.phase = 'kv';
  }

  private keyValue(): void {
    this.itemStart = this.pos;
    const index = this.kv.size;
    this.where = `KV #${index}`;
    const key = this.string('key', 'key length', MAX_KEY_BYTES);
    this.where = `KV #${index} "${key}"`;
    if (this.kv.has(key)) throw this.fail('duplicate key');
    const type = this.u32('value type');
    if (type > VT.F64) throw this.fail(`unknown value type ${type}`);
    const value = type === VT.ARRAY ? this.array() : this.scalar(type as GGUFScalarType);
    this.kv.set(key, value);
  }

  private scalar(type: GGUFScalarType): GGUFValue {
    if (type === VT.STRING) return { type, value: this.string('string value', 'string length') };
    const i = this.take(GGUF_VALUE_SIZE[type], `${GGUF_VALUE_TYPE_NAMES[type]} value`);
    const dv = this.dv;
    switch (type) {
      case VT.U8: return { type, value: dv.getUint8(i) };
      case VT.I8: return { type, value: dv.getInt8(i) };
      case VT.U16: return { type, value: dv.getUint16(i, true) };
      case VT.I16: return { type, value: dv.getInt16(i, true) };
      case VT.U32: return { type, value: dv.getUint32(i, true) };
      case VT.I32: return { type, value: dv.getInt32(i, true) };
      case VT.F32: return { type, value: dv.getFloat32(i, true) };
      case VT.F64: return { type, value: dv.getFloat64(i, true) };
      case VT.U64: return { type, value: dv.getBigUint64(i, true) };
      case VT.I64: return { type, value: dv.getBigInt64(i, true) };
      case VT.BOOL: return { type, value: this.bool(dv.getUint8(i)) };
    }
  }

  private bool(b: number): boolean {
    // Only 0 and 1 round-trip; anything else means the bytes are not what a writer produced.
    if (b > 1) throw this.fail(`bool byte is ${b}, expected 0 or 1`);
    return b === 1;
  }

  private array(): GGUFArrayValue {
    const itemType = this.u32('array element type');
    if (itemType === VT.ARRAY) throw this.fail('nested arrays are not allowed');
    if (itemType > VT.F64) throw this.fail(`unknown array element type ${itemType}`);
    const t = itemType as GGUFScalarType;
    const n = this.count('array length', GGUF_VALUE_SIZE[t]);
    if (t === VT.STRING) {
      // No preallocation: n is only bounded by the file, which can be 40 GB.
      const out: string[] = [];
      const first = this.pos;
      for (let k = 0; k < n; k++) {
        const at = this.pos;
        try {
          out.push(this.string('array string', 'array string length'));
        } catch (e) {
          // Ask for room for the whole array at the average size so far, so a
          // 150k-token vocabulary costs one window restart instead of several.
          if (!(e instanceof NeedMore) || k === 0) throw e;
          const guess = at + Math.ceil(((at - first) / k) * (n - k) * 1.25) + 64;
          throw new NeedMore(e.end, Math.min(this.fileSize, Math.max(e.end, guess)));
        }
      }
      return { type: VT.ARRAY, itemType: t, value: out };
    }
    const i = this.take(n * GGUF_VALUE_SIZE[t], 'array data');
    if (t === VT.BOOL) {
      const out: boolean[] = [];
      for (let k = 0; k < n; k++) out.push(this.bool(this.buf[i + k]));
      return { type: VT.ARRAY, itemType: t, value: out };
    }
    // Copy (not Buffer#slice, which is a view): aligned for the typed view, and detached from the window.
    const bytes = new Uint8Array(this.buf.subarray(i, i + n * GGUF_VALUE_SIZE[t]));
    if (!HOST_LE) swapInPlace(bytes, GGUF_VALUE_SIZE[t]);
    return { type: VT.ARRAY, itemType: t, value: TYPED[t](bytes.buffer, n) };
  }

  private tensorInfo(): void {
    this.itemStart = this.pos;
    const index = this.infos.length;
    this.where = `tensor info #${index}`;
    const name = this.string('tensor name', 'tensor name length', MAX_NAME_BYTES);
    this.where = `tensor info #${index} "${name}"`;
    if (this.names.has(name)) throw this.fail('duplicate tensor name');
    const nDims = this.u32('n_dims');
    if (nDims > MAX_DIMS) throw this.fail(`n_dims is ${nDims}, more than ${MAX_DIMS}`);
    const dims: number[] = [];
    for (let d = 0; d < nDims; d++) {
      const v = this.u64(`dim ${d}`);
      if (v === 0n) throw this.fail(`dim ${d} is 0`);
      if (v > MAX_SAFE) throw this.fail(`dim ${d} is ${v}, too large`);
      dims.push(Number(v));
    }
    const type = this.u32('tensor type');
    const offset = this.u64('tensor offset');
    let byteSize: number;
    try {
      byteSize = tensorByteSize(type, dims);
    } catch (e) {
      if (!(e instanceof KilnError)) throw e;
      throw new KilnError(e.code, `GGUF ${this.where}: ${e.message} (type ${ggmlTypeName(type)}, dims [${dims.join(', ')}])`);
    }
    this.names.add(name);
    this.infos.push({ name, dims, type, offset, byteSize, at: this.itemStart });
  }

  private finish(): GGUFFile {
    this.where = 'metadata';
    const alignment = this.alignment();
    const headerSize = this.pos;
    const dataOffset = Math.ceil(headerSize / alignment) * alignment;
    const dataBytes = this.fileSize - dataOffset;
    if (this.infos.length > 0 && dataBytes < 0) {
      throw this.fail(`data section would start at ${dataOffset}, past the end of the ${this.fileSize}-byte file`);
    }
    const tensors: GGUFTensorInfo[] = this.infos.map((t, index) => {
      this.where = `tensor info #${index} "${t.name}"`;
      if (t.offset % BigInt(alignment) !== 0n) throw this.fail(`offset ${t.offset} is not a multiple of the alignment ${alignment}`, t.at);
      if (t.offset + BigInt(t.byteSize) > BigInt(dataBytes)) {
        throw this.fail(`data [${t.offset}, +${t.byteSize}) lies outside the ${dataBytes}-byte data section (file truncated?)`, t.at);
      }
      const offset = Number(t.offset);
      return { name: t.name, dims: t.dims, type: t.type, offset, absOffset: dataOffset + offset, byteSize: t.byteSize };
    });
    const sorted = [...tensors].sort((a, b) => a.offset - b.offset);
    for (let k = 1; k < sorted.length; k++) {
      const prev = sorted[k - 1];
      if (sorted[k].offset < prev.offset + prev.byteSize) {
        this.where = `tensor "${sorted[k].name}"`;
        throw this.fail(`data at offset ${sorted[k].offset} overlaps tensor "${prev.name}" [${prev.offset}, +${prev.byteSize})`, sorted[k].absOffset);
      }
    }
    return { version: this.version, kv: this.kv, tensors, alignment, headerSize, dataOffset, fileSize: this.fileSize };
  }

  private alignment(): number {
    const v = this.kv.get('general.alignment');
    if (v === undefined) return DEFAULT_ALIGNMENT;
    if (v.type !== VT.U32) throw this.fail(`general.alignment must be a u32, found ${GGUF_VALUE_TYPE_NAMES[v.type]}`);
    const a = v.value;
    if (a === 0 || (a & (a - 1)) !== 0) throw this.fail(`general.alignment ${a} is not a power of two`);
    return a;
  }
}

function swapInPlace(b: Uint8Array, size: number): void {
  for (let i = 0; i < b.length; i += size) b.subarray(i, i + size).reverse();
}
