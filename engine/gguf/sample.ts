/**
 * A small but complete GGUF (every value type, string and numeric arrays,
 * tensors of several types) for tests and fixtures elsewhere in kiln.
 */
import { layoutGGUF } from './encode.js';
import { GGMLType, GGUFValueType as VT, gv, tensorByteSize, type GGUFValue } from './types.js';
import type { GGUFWriteSpec } from './writer.js';

/** Deterministic bytes so each tensor's data is recognisable after a round trip. */
export function patternBytes(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    b[i] = x & 0xff;
  }
  return b;
}

export function sampleKV(): Map<string, GGUFValue> {
  return new Map<string, GGUFValue>([
    ['general.architecture', gv.str('llama')],
    ['general.name', gv.str('sample – ünïcode \u{1F600}')],
    ['general.file_type', gv.u32(1)],
    ['general.quantization_version', gv.u32(2)],
    ['llama.context_length', gv.u32(128)],
    ['llama.embedding_length', gv.u32(64)],
    ['llama.block_count', gv.u32(1)],
    ['llama.attention.head_count', gv.u32(4)],
    ['llama.attention.layer_norm_rms_epsilon', gv.f32(1e-5)],
    ['test.u8', gv.u8(255)], ['test.i8', gv.i8(-128)], ['test.u16', gv.u16(65535)], ['test.i16', gv.i16(-32768)],
    ['test.i32', gv.i32(-5)], ['test.u64', gv.u64(0xffff_ffff_ffff_ffffn)], ['test.i64', gv.i64(-(1n << 63n))],
    ['test.f64', gv.f64(Math.PI)], ['test.bool', gv.bool(true)], ['test.empty', gv.str('')],
    ['test.bom', gv.str('\uFEFFkeeps its BOM')],
    ['tokenizer.ggml.tokens', gv.array(VT.STRING, ['<s>', '</s>', 'a', 'b', 'ab', 'Ġthe', 'é'])],
    ['tokenizer.ggml.scores', gv.array(VT.F32, new Float32Array([0, 0, -1, -2, -3, -4.5, -5]))],
    ['tokenizer.ggml.token_type', gv.array(VT.I32, new Int32Array([3, 3, 1, 1, 1, 1, 1]))],
    ['test.bools', gv.array(VT.BOOL, [true, false, true])],
    ['test.u64s', gv.array(VT.U64, new BigUint64Array([1n, 1n << 40n]))],
    ['test.empty_array', gv.array(VT.U8, new Uint8Array(0))],
  ]);
}

const TENSORS: Array<{ name: string; dims: number[]; type: number }> = [
  { name: 'token_embd.weight', dims: [64, 7], type: GGMLType.F16 },
  { name: 'blk.0.attn_norm.weight', dims: [64], type: GGMLType.F32 },
  { name: 'blk.0.ffn_down.weight', dims: [256, 3], type: GGMLType.Q4_K },
  { name: 'blk.0.attn_q.weight', dims: [64, 2], type: GGMLType.Q8_0 },
  { name: 'output.weight', dims: [64, 7], type: GGMLType.F16 },
];

/** The sample as a writer spec, tensor data given as buffers. */
export function sampleSpec(): GGUFWriteSpec {
  return {
    kv: sampleKV(),
    tensors: TENSORS.map((t, i) => ({ ...t, data: patternBytes(tensorByteSize(t.type, t.dims), i + 1) })),
  };
}

/** The sample encoded in memory (it is a few KB). */
export function sampleBytes(spec: GGUFWriteSpec = sampleSpec()): Uint8Array {
  const layout = layoutGGUF(spec.kv, spec.tensors, spec.alignment);
  const out = new Uint8Array(layout.fileSize);
  out.set(layout.header);
  spec.tensors.forEach((t, i) => out.set(t.data as Uint8Array, layout.dataOffset + layout.tensors[i].offset));
  return out;
}
