import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isKilnError, type ErrorCode } from '../../common/errors.js';
import { layoutGGUF } from './encode.js';
import { parseGGUF, readGGUFFile, readGGUFFileSync } from './reader.js';
import { sampleBytes } from './sample.js';
import { GGMLType, GGUFValueType as VT, gv, type GGUFValue } from './types.js';

import { KJV_DIR } from '../../test/helpers/fixtures.js';

const KJV = KJV_DIR.replace(/\/$/, '');
const tmp = mkdtempSync(join(tmpdir(), 'kiln-gguf-reader-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function scalar(v: GGUFValue | undefined): unknown {
  return v && v.type !== VT.ARRAY ? v.value : undefined;
}

describe('reading the kjv fixtures', () => {
  // Values from models/kjv/README.md.
  const files = [
    { file: 'kjv-f32.gguf', size: 21867424, fileType: 0, matrixType: GGMLType.F32 },
    { file: 'kjv-f16.gguf', size: 10972064, fileType: 1, matrixType: GGMLType.F16 },
  ];
  const dims: Record<string, number[]> = {
    'token_embd.weight': [256, 2000], 'attn_norm.weight': [256], 'attn_q.weight': [256, 256],
    'attn_k.weight': [256, 128], 'attn_v.weight': [256, 128], 'attn_output.weight': [256, 256],
    'ffn_norm.weight': [256], 'ffn_gate.weight': [256, 704], 'ffn_up.weight': [256, 704],
    'ffn_down.weight': [704, 256], 'output_norm.weight': [256], 'output.weight': [256, 2000],
  };

  for (const f of files) {
    it(`reads ${f.file}: header, architecture KVs, tokenizer and all 57 tensors`, async () => {
      const path = join(KJV, f.file);
      const g = await readGGUFFile(path);
      expect(g.version).toBe(3);
      expect(g.fileSize).toBe(f.size);
      expect(g.alignment).toBe(32);
      expect(g.dataOffset % 32).toBe(0);
      expect(g.kv.size).toBe(24);
      const kv = (k: string) => scalar(g.kv.get(k));
      expect(kv('general.architecture')).toBe('llama');
      expect(kv('general.file_type')).toBe(f.fileType);
      expect(g.kv.get('general.alignment')).toEqual(gv.u32(32));
      const expected: Record<string, number> = {
        'llama.context_length': 256, 'llama.embedding_length': 256, 'llama.block_count': 6,
        'llama.feed_forward_length': 704, 'llama.attention.head_count': 8, 'llama.attention.head_count_kv': 4,
        'llama.rope.dimension_count': 32, 'llama.rope.freq_base': 10000, 'llama.vocab_size': 2000,
        'tokenizer.ggml.bos_token_id': 1995, 'tokenizer.ggml.eos_token_id': 1996,
      };
      for (const [k, v] of Object.entries(expected)) expect(kv(k), k).toBe(v);
      expect(kv('llama.attention.layer_norm_rms_epsilon')).toBe(Math.fround(1e-5));
      expect(kv('tokenizer.ggml.model')).toBe('gpt2');
      expect(kv('tokenizer.ggml.pre')).toBe('llama-bpe');
      expect(kv('tokenizer.ggml.add_bos_token')).toBe(true);
      expect(kv('tokenizer.ggml.add_eos_token')).toBe(false);

      const tokens = g.kv.get('tokenizer.ggml.tokens')!;
      expect(tokens.type === VT.ARRAY && tokens.itemType).toBe(VT.STRING);
      const toks = tokens.value as string[];
      expect(toks.length).toBe(2000);
      expect([toks[32], toks[10], toks[1995], toks[1999]]).toEqual(['Ġ', 'Ċ', '<|begin_of_text|>', '<|eot_id|>']);
      const types = g.kv.get('tokenizer.ggml.token_type')!.value as Int32Array;
      expect(types).toBeInstanceOf(Int32Array);
      expect(Array.from(types.subarray(1994))).toEqual([1, 3, 3, 3, 3, 3]);
      expect((g.kv.get('tokenizer.ggml.merges')!.value as string[]).length).toBe(1739);

      expect(g.tensors.length).toBe(57);
      let params = 0;
      let end = 0;
      for (const t of g.tensors) {
        const short = t.name.replace(/^blk\.\d+\./, '');
        expect(t.dims, t.name).toEqual(dims[short]);
        expect(t.type, t.name).toBe(t.dims.length === 1 ? GGMLType.F32 : f.matrixType);
        expect(t.absOffset).toBe(g.dataOffset + t.offset);
        expect(t.offset).toBe(end); // written back to back; each size here is a multiple of 32
        end = t.offset + t.byteSize;
        params += t.dims.reduce((a, b) => a * b, 1);
      }
      expect(params).toBe(5451008);
      expect(g.dataOffset + end).toBe(f.size);
    });
  }

  it('gives the same result from memory, sync and async fd reads, whatever the window size', async () => {
    const path = join(KJV, 'kjv-f16.gguf');
    const whole = parseGGUF(readFileSync(path));
    for (const chunkSize of [1, 64, 4096, 1 << 20]) {
      expect(await readGGUFFile(path, { chunkSize })).toEqual(whole);
      expect(readGGUFFileSync(path, { chunkSize })).toEqual(whole);
    }
  });

  it('parses a header-only prefix when told the real file size', () => {
    const path = join(KJV, 'kjv-f16.gguf');
    const whole = parseGGUF(readFileSync(path));
    const prefix = readFileSync(path).subarray(0, whole.dataOffset);
    expect(parseGGUF(prefix, { fileSize: whole.fileSize })).toEqual(whole);
    expectKiln(() => parseGGUF(prefix.subarray(0, 1000), { fileSize: whole.fileSize }), 'E_GGUF_MALFORMED', /continues past the 1000 bytes/);
  });
});

describe('a file truncated on disk', () => {
  const original = readFileSync(join(KJV, 'kjv-f16.gguf'));
  const cases = [
    { name: 'in the middle of the tokenizer tokens', at: 20000, message: /file ends/ },
    { name: 'in the middle of the tensor infos', at: 62000, message: /file ends/ },
    { name: 'in the middle of the tensor data', at: 5_000_000, message: /outside the .*data section/ },
    { name: 'inside the header', at: 10, message: /header needs 24 bytes/ },
  ];
  for (const c of cases) {
    it(`is rejected when cut ${c.name}`, async () => {
      const path = join(tmp, `cut-${c.at}.gguf`);
      writeFileSync(path, original.subarray(0, c.at));
      await expect(readGGUFFile(path, { chunkSize: 4096 })).rejects.toMatchObject({ code: 'E_GGUF_MALFORMED', message: expect.stringMatching(c.message) });
      expectKiln(() => readGGUFFileSync(path), 'E_GGUF_MALFORMED', c.message);
    });
  }
});

/** Little-endian byte builder for hand-made GGUFs. */
class B {
  private parts: number[] = [];
  u8(...v: number[]) { this.parts.push(...v); return this; }
  u32(v: number) { const b = Buffer.alloc(4); b.writeUInt32LE(v); return this.raw(b); }
  u64(v: bigint | number) { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(v)); return this.raw(b); }
  str(s: string) { const b = Buffer.from(s, 'utf8'); return this.u64(b.length).raw(b); }
  raw(b: Uint8Array) { this.parts.push(...b); return this; }
  pad(to: number) { while (this.parts.length % to) this.parts.push(0); return this; }
  header(nTensors: number | bigint, nKV: number | bigint, version = 3) { return this.u8(0x47, 0x47, 0x55, 0x46).u32(version).u64(nTensors).u64(nKV); }
  kvU32(k: string, v: number) { return this.str(k).u32(VT.U32).u32(v); }
  tensor(name: string, dims: number[], type: number, offset: number | bigint) {
    this.str(name).u32(dims.length);
    for (const d of dims) this.u64(d);
    return this.u32(type).u64(offset);
  }
  bytes() { return new Uint8Array(this.parts); }
}

/** A valid file of n F32 tensors of `dims`, back to back, for the tensor-table cases to bend. */
function tensors(list: Array<[string, number[], number, number | bigint]>, dataBytes: number, kv?: (b: B) => B, nKV = 0) {
  const b = kv ? kv(new B().header(list.length, nKV)) : new B().header(list.length, 0);
  for (const [name, dims, type, offset] of list) b.tensor(name, dims, type, offset);
  return b.pad(32).raw(new Uint8Array(dataBytes)).bytes();
}

function expectKiln(fn: () => unknown, code: ErrorCode, message: RegExp) {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(isKilnError(err), `expected a KilnError, got ${String(err)}`).toBe(true);
  expect((err as Error & { code: string }).code).toBe(code);
  expect((err as Error).message).toMatch(message);
}

describe('malformed and unsupported files', () => {
  const F32 = GGMLType.F32;
  const cases: Array<{ name: string; bytes: Uint8Array; code?: ErrorCode; message: RegExp }> = [
    { name: 'empty file', bytes: new Uint8Array(0), message: /header needs 24 bytes/ },
    { name: 'wrong magic', bytes: new B().u8(0x47, 0x47, 0x4d, 0x4c).u32(3).u64(0).u64(0).bytes(), message: /not a GGUF file: magic bytes are 47 47 4d 4c/ },
    { name: 'version 1', bytes: new B().header(0, 0, 1).bytes(), code: 'E_GGUF_UNSUPPORTED', message: /version 1 is not supported/ },
    { name: 'version 4', bytes: new B().header(0, 0, 4).bytes(), code: 'E_GGUF_UNSUPPORTED', message: /version 4 is not supported/ },
    { name: 'big-endian file', bytes: new B().header(0, 0, 0x03000000).bytes(), code: 'E_GGUF_UNSUPPORTED', message: /big-endian GGUF \(version 3/ },
    { name: 'KV count larger than the file could hold', bytes: new B().header(0, 1n << 63n).bytes(), message: /9223372036854775808 KVs and 0 tensor infos cannot fit in the 0 bytes/ },
    { name: 'tensor count larger than the file could hold', bytes: new B().header(3, 0).u8(...new Array(71).fill(0)).bytes(), message: /3 tensor infos cannot fit/ },
    { name: 'key length 2^64-1', bytes: new B().header(0, 1).u64((1n << 64n) - 1n).u32(0).u8(0).bytes(), message: /KV #0: key length 18446744073709551615 needs/ },
    { name: 'key longer than 65535 bytes', bytes: new B().header(0, 1).str('k'.repeat(65536)).u32(VT.U8).u8(0).bytes(), message: /key is 65536 bytes, over the limit/ },
    { name: 'string value past the end', bytes: new B().header(0, 1).str('a').u32(VT.STRING).u64(100).raw(new Uint8Array(10)).bytes(), message: /KV #0 "a": string length 100 needs at least 100 bytes but the file ends 10 bytes later/ },
    { name: 'unknown value type', bytes: new B().header(0, 1).str('a').u32(13).u32(0).bytes(), message: /"a": unknown value type 13/ },
    { name: 'nested array', bytes: new B().header(0, 1).str('a').u32(VT.ARRAY).u32(VT.ARRAY).u64(1).u32(VT.U8).u64(0).bytes(), message: /nested arrays are not allowed/ },
    { name: 'unknown array element type', bytes: new B().header(0, 1).str('a').u32(VT.ARRAY).u32(77).u64(0).bytes(), message: /unknown array element type 77/ },
    { name: 'array longer than the file', bytes: new B().header(0, 1).str('a').u32(VT.ARRAY).u32(VT.U64).u64(3).raw(new Uint8Array(16)).bytes(), message: /array length 3 needs at least 24 bytes but the file ends 16 bytes later/ },
    { name: 'string array count past the end', bytes: new B().header(0, 1).str('a').u32(VT.ARRAY).u32(VT.STRING).u64(1n << 40n).u64(0).bytes(), message: /array length 1099511627776 needs/ },
    { name: 'duplicate key', bytes: new B().header(0, 2).kvU32('a', 1).kvU32('a', 2).bytes(), message: /KV #1 "a": duplicate key/ },
    { name: 'bool byte 2', bytes: new B().header(0, 1).str('b').u32(VT.BOOL).u8(2).bytes(), message: /bool byte is 2/ },
    { name: 'alignment not a power of two', bytes: new B().header(0, 1).kvU32('general.alignment', 48).bytes(), message: /general.alignment 48 is not a power of two/ },
    { name: 'alignment 0', bytes: new B().header(0, 1).kvU32('general.alignment', 0).bytes(), message: /general.alignment 0 is not a power of two/ },
    { name: 'alignment stored as u64', bytes: new B().header(0, 1).str('general.alignment').u32(VT.U64).u64(32).bytes(), message: /general.alignment must be a u32, found u64/ },
    { name: 'tensor name of 64 bytes', bytes: tensors([['n'.repeat(64), [8], F32, 0]], 32), message: /tensor name is 64 bytes, over the limit of 63/ },
    { name: 'duplicate tensor name', bytes: tensors([['a', [8], F32, 0], ['a', [8], F32, 32]], 64), message: /tensor info #1 "a": duplicate tensor name/ },
    { name: 'five dims', bytes: tensors([['a', [1, 1, 1, 1, 1], F32, 0]], 32), message: /n_dims is 5, more than 4/ },
    { name: 'a zero dim', bytes: tensors([['a', [8, 0], F32, 0]], 32), message: /"a": dim 1 is 0/ },
    { name: 'dims whose product overflows', bytes: tensors([['a', [1 << 30, 1 << 30, 1 << 30], F32, 0]], 32), message: /overflow the element count/ },
    { name: 'unknown tensor type', bytes: tensors([['a', [8], 99, 0]], 32), code: 'E_GGUF_UNSUPPORTED', message: /"a": unknown ggml tensor type 99/ },
    { name: 'row not a whole number of blocks', bytes: tensors([['a', [33], GGMLType.Q4_0, 0]], 32), message: /row of 33 elements is not a multiple of the Q4_0 block size 32/ },
    { name: 'misaligned tensor offset', bytes: tensors([['a', [4], F32, 16]], 64), message: /offset 16 is not a multiple of the alignment 32/ },
    { name: 'tensor past the end of the file', bytes: tensors([['a', [64], F32, 0]], 32), message: /data \[0, \+256\) lies outside the 32-byte data section/ },
    { name: 'tensor offset near 2^64', bytes: tensors([['a', [8], F32, (1n << 64n) - 32n]], 32), message: /lies outside/ },
    { name: 'overlapping tensors', bytes: tensors([['a', [16], F32, 0], ['b', [8], F32, 32]], 96), message: /tensor "b": data at offset 32 overlaps tensor "a" \[0, \+64\)/ },
  ];

  it('accepts the hand-built valid file the cases start from', () => {
    const g = parseGGUF(tensors([['a', [16], F32, 0], ['b', [8], F32, 64]], 96, (b) => b.kvU32('general.alignment', 32), 1));
    expect(g.tensors.map((t) => [t.name, t.offset, t.byteSize])).toEqual([['a', 0, 64], ['b', 64, 32]]);
  });

  for (const c of cases) {
    it(`rejects ${c.name}`, () => {
      expectKiln(() => parseGGUF(c.bytes), c.code ?? 'E_GGUF_MALFORMED', c.message);
    });
  }

  it('rejects a file whose data section starts past its end', () => {
    const b = new B().header(1, 0).tensor('a', [1], GGMLType.I8, 0).bytes(); // 24 + 33 bytes, data at 64
    expectKiln(() => parseGGUF(b), 'E_GGUF_MALFORMED', /data section would start at 64, past the end of the 57-byte file/);
  });
});

describe('large tokenizers', () => {
  it('parses 200k tokens and 200k merges well under a second, from memory and through the fd reader', async () => {
    const n = 200_000;
    const tokens = Array.from({ length: n }, (_, i) => (i % 7 === 0 ? `Ġtök${i}` : `tok${i}`));
    const merges = Array.from({ length: n }, (_, i) => `t${i} k${i}`);
    const kv = new Map<string, GGUFValue>([
      ['tokenizer.ggml.tokens', gv.array(VT.STRING, tokens)],
      ['tokenizer.ggml.merges', gv.array(VT.STRING, merges)],
      ['tokenizer.ggml.scores', gv.array(VT.F32, new Float32Array(n))],
    ]);
    const bytes = layoutGGUF(kv, []).header;
    const t0 = performance.now();
    const g = parseGGUF(bytes);
    const ms = performance.now() - t0;
    expect(g.kv.get('tokenizer.ggml.tokens')!.value).toEqual(tokens);
    expect((g.kv.get('tokenizer.ggml.merges')!.value as string[])[n - 1]).toBe(`t${n - 1} k${n - 1}`);
    expect(ms).toBeLessThan(1000);

    const path = join(tmp, 'big-vocab.gguf');
    writeFileSync(path, bytes);
    const t1 = performance.now();
    const fromFd = await readGGUFFile(path);
    expect(performance.now() - t1).toBeLessThan(1500);
    expect(fromFd.kv.get('tokenizer.ggml.tokens')!.value).toEqual(tokens);
  });

  it('round-trips the sample file built by the writer', () => {
    const g = parseGGUF(sampleBytes());
    expect(g.kv.get('general.name')).toEqual(gv.str('sample – ünïcode \u{1F600}'));
    expect(g.kv.get('test.bom')).toEqual(gv.str('\uFEFFkeeps its BOM'));
    expect(g.kv.get('test.u64')).toEqual(gv.u64(0xffff_ffff_ffff_ffffn));
    expect(g.tensors.map((t) => t.name)).toContain('blk.0.ffn_down.weight');
  });
});
