import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { parseGGUF, readGGUFFile } from './reader.js';
import { patternBytes, sampleBytes, sampleKV, sampleSpec } from './sample.js';
import { GGMLType, GGUFValueType as VT, gv, type GGUFValue } from './types.js';
import { fileRange, writeGGUF, type GGUFWriteSpec } from './writer.js';

import { KJV_DIR } from '../../test/helpers/fixtures.js';

const KJV = KJV_DIR.replace(/\/$/, '');
const tmp = mkdtempSync(join(tmpdir(), 'kiln-gguf-writer-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('round trip of the kjv fixtures', () => {
  for (const file of ['kjv-f16.gguf', 'kjv-f32.gguf']) {
    it(`rewrites ${file} from its own KVs and tensors byte for byte`, async () => {
      const src = join(KJV, file);
      const g = await readGGUFFile(src);
      const out = join(tmp, file);
      const layout = await writeGGUF(out, {
        kv: g.kv,
        tensors: g.tensors.map((t) => ({ ...t, data: fileRange(src, t.absOffset, t.byteSize, 256 << 10) })),
      });
      expect(layout.dataOffset).toBe(g.dataOffset);
      expect(layout.fileSize).toBe(g.fileSize);
      // Buffer#equals: one memcmp rather than a 10M-element diff on failure.
      expect(readFileSync(out).equals(readFileSync(src))).toBe(true);
    });
  }
});

describe('writing', () => {
  it('keeps every KV type, the key order and the tensor data', async () => {
    const spec = sampleSpec();
    const path = join(tmp, 'sample.gguf');
    await writeGGUF(path, spec);
    const bytes = readFileSync(path);
    const g = parseGGUF(bytes);
    expect([...g.kv.keys()]).toEqual([...(spec.kv as Map<string, GGUFValue>).keys()]);
    for (const [k, v] of spec.kv) expect(g.kv.get(k), k).toEqual(v.type === VT.F32 ? gv.f32(Math.fround(v.value as number)) : v);
    expect(g.version).toBe(3);
    spec.tensors.forEach((t, i) => {
      const info = g.tensors[i];
      expect([info.name, info.dims, info.type]).toEqual([t.name, t.dims, t.type]);
      expect(bytes.subarray(info.absOffset, info.absOffset + info.byteSize).equals(t.data as Uint8Array)).toBe(true);
    });
    expect(bytes.equals(sampleBytes(spec))).toBe(true);
  });

  it('pads the header and every tensor with zero bytes to the alignment', async () => {
    const spec = sampleSpec();
    const path = join(tmp, 'aligned.gguf');
    const layout = await writeGGUF(path, spec);
    const bytes = readFileSync(path);
    expect(layout.dataOffset % 32).toBe(0);
    expect(layout.dataOffset - layout.header.length).toBeLessThan(32);
    expect(bytes.subarray(layout.header.length, layout.dataOffset).every((b) => b === 0)).toBe(true);
    layout.tensors.forEach((t, i) => {
      expect(t.offset % 32).toBe(0);
      const next = i + 1 < layout.tensors.length ? layout.tensors[i + 1].offset : layout.fileSize - layout.dataOffset;
      const pad = bytes.subarray(layout.dataOffset + t.offset + t.byteSize, layout.dataOffset + next);
      expect(pad.length).toBeLessThan(32);
      expect(pad.every((b) => b === 0)).toBe(true);
    });
    expect(bytes.length).toBe(layout.fileSize);
  });

  it('records a non-default alignment in general.alignment and lays out by it', async () => {
    const spec = { ...sampleSpec(), alignment: 256 };
    const path = join(tmp, 'align256.gguf');
    await writeGGUF(path, spec);
    const g = await readGGUFFile(path);
    expect(g.alignment).toBe(256);
    expect([...g.kv.keys()].at(-1)).toBe('general.alignment');
    expect(g.dataOffset % 256).toBe(0);
    for (const t of g.tensors) expect(t.offset % 256).toBe(0);
  });

  it('streams tensor data from callbacks yielding odd-sized chunks, to a path, an fd and a stream alike', async () => {
    const base = sampleSpec();
    const chunked: GGUFWriteSpec = {
      ...base,
      tensors: base.tensors.map((t) => ({
        ...t,
        data: async function* () {
          const d = t.data as Uint8Array;
          for (let i = 0; i < d.length; i += 7) yield d.subarray(i, i + 7);
        },
      })),
    };
    const expected = sampleBytes(base);

    const path = join(tmp, 'chunked.gguf');
    await writeGGUF(path, chunked);
    expect(readFileSync(path).equals(expected)).toBe(true);

    const fdPath = join(tmp, 'fd.gguf');
    const fd = openSync(fdPath, 'w');
    try {
      await writeGGUF(fd, chunked);
    } finally {
      closeSync(fd);
    }
    expect(readFileSync(fdPath).equals(expected)).toBe(true);

    const stream = new PassThrough({ highWaterMark: 64 }); // small, so backpressure is exercised
    const parts: Buffer[] = [];
    stream.on('data', (c: Buffer) => parts.push(c));
    await writeGGUF(stream, chunked);
    stream.end();
    expect(Buffer.concat(parts).equals(expected)).toBe(true);
  });

  it('round-trips strings byte-exactly: UTF-8, emoji and a leading BOM', () => {
    const kv = new Map<string, GGUFValue>([['s', gv.array(VT.STRING, ['\uFEFFbom', 'Ġhello', '日本語', '\u{1F600}', ''])]]);
    const bytes = sampleBytes({ kv, tensors: [] });
    const g = parseGGUF(bytes);
    expect(g.kv.get('s')).toEqual(kv.get('s'));
    expect(Buffer.from(sampleBytes({ kv: g.kv, tensors: [] })).equals(Buffer.from(bytes))).toBe(true);
  });
});

describe('writer validation', () => {
  const tensor = { name: 't', dims: [32], type: GGMLType.F32, data: new Uint8Array(128) };
  const cases: Array<{ name: string; spec: GGUFWriteSpec; message: RegExp }> = [
    { name: 'tensor data of the wrong size', spec: { kv: [], tensors: [{ ...tensor, data: new Uint8Array(100) }] }, message: /tensor "t" data is 100 bytes, expected 128/ },
    { name: 'a callback yielding too much', spec: { kv: [], tensors: [{ ...tensor, data: () => [new Uint8Array(100), new Uint8Array(100)] }] }, message: /data is 200 bytes, expected 128/ },
    { name: 'a callback yielding too little', spec: { kv: [], tensors: [{ ...tensor, data: () => [new Uint8Array(100)] }] }, message: /data is 100 bytes, expected 128/ },
    { name: 'a 64-byte tensor name', spec: { kv: [], tensors: [{ ...tensor, name: 'x'.repeat(64) }] }, message: /64 bytes or longer/ },
    { name: 'duplicate tensor names', spec: { kv: [], tensors: [tensor, tensor] }, message: /duplicate tensor name "t"/ },
    { name: 'duplicate keys', spec: { kv: [['a', gv.u8(1)], ['a', gv.u8(2)]], tensors: [] }, message: /duplicate key "a"/ },
    { name: 'a u8 out of range', spec: { kv: [['a', gv.u8(256)]], tensors: [] }, message: /KV "a": 256 is not a u8/ },
    { name: 'a u64 array holding a negative', spec: { kv: [['a', gv.array(VT.U64, [1n, -1n])]], tensors: [] }, message: /KV "a"\[1\]: -1 is not a u64/ },
    { name: 'a nested array', spec: { kv: [['a', { type: 9, itemType: 9 as never, value: [] }]], tensors: [] }, message: /invalid array element type 9/ },
    { name: 'an alignment that is not a power of two', spec: { kv: [], tensors: [], alignment: 48 }, message: /alignment 48 is not a power of two/ },
    { name: 'an alignment contradicting general.alignment', spec: { kv: [['general.alignment', gv.u32(32)]], tensors: [], alignment: 64 }, message: /contradicts general.alignment 32/ },
    { name: 'a row that is not whole blocks', spec: { kv: [], tensors: [{ ...tensor, type: GGMLType.Q4_K }] }, message: /tensor "t": row of 32 elements is not a multiple of the Q4_K block size 256/ },
  ];
  for (const c of cases) {
    it(`rejects ${c.name} and leaves no file behind`, async () => {
      const path = join(tmp, 'invalid.gguf');
      await expect(writeGGUF(path, c.spec)).rejects.toMatchObject({ code: 'E_GGUF_MALFORMED', message: expect.stringMatching(c.message) });
      expect(existsSync(path)).toBe(false);
    });
  }

  it('accepts plain arrays and numbers for typed values', () => {
    const kv = new Map<string, GGUFValue>([
      ['ids', gv.array(VT.I32, [1, -2, 3])],
      ['big', gv.array(VT.U64, [1n, 2n])],
      ['f', gv.array(VT.F32, [0.5, 1.5])],
    ]);
    const g = parseGGUF(sampleBytes({ kv, tensors: [] }));
    expect(Array.from(g.kv.get('ids')!.value as Int32Array)).toEqual([1, -2, 3]);
    expect(Array.from(g.kv.get('big')!.value as BigUint64Array)).toEqual([1n, 2n]);
    expect(Array.from(g.kv.get('f')!.value as Float32Array)).toEqual([0.5, 1.5]);
  });

  it('writes a 48 MiB tensor from a generator of 1 MiB chunks', async () => {
    // 48 MiB of F16 from 1 MiB chunks: only the chunk in flight is in memory.
    const dims = [4096, 6144];
    const chunk = patternBytes(1 << 20, 9);
    const path = join(tmp, 'big.gguf');
    const layout = await writeGGUF(path, {
      kv: sampleKV(),
      tensors: [{ name: 'big', dims, type: GGMLType.F16, data: function* () { for (let i = 0; i < 48; i++) yield chunk; } }],
    });
    const g = await readGGUFFile(path);
    expect(g.fileSize).toBe(layout.fileSize);
    expect(g.tensors[0].byteSize).toBe(48 << 20);
  });
});
