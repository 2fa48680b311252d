/**
 * Deterministic mutation fuzzing of the GGUF header parser: whatever the
 * bytes, it returns a validated file or throws a KilnError — never another
 * error, never a hang, never an allocation the input bytes do not back.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isKilnError } from '../../common/errors.js';
import type { GGUFFile } from './parser.js';
import { parseGGUF, readGGUFFileSync } from './reader.js';
import { sampleBytes } from './sample.js';
import { GGUFValueType as VT } from './types.js';
import { KJV_F16 } from '../../test/helpers/fixtures.js';
import { rng } from '../../bench/fuzz/rng.js';
import { decodedBytes, ggufLengthFields as lengthFields } from '../../bench/fuzz/targets.js';

const tmp = mkdtempSync(join(tmpdir(), 'kiln-gguf-fuzz-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const BIG = [(1n << 64n) - 1n, 1n << 63n, 1n << 32n, (1n << 32n) - 1n, 1n << 53n, 65535n, 0n];

function mutate(src: Uint8Array, lengths: number[], r: ReturnType<typeof rng>): Uint8Array {
  let b = new Uint8Array(src);
  const rounds = 1 + r.int(3);
  for (let k = 0; k < rounds && b.length > 0; k++) {
    const at = r.int(b.length);
    switch (r.int(6)) {
      case 0: b[at] ^= 1 << r.int(8); break;
      case 1: b[at] = r.pick([0x00, 0xff, r.int(256)]); break;
      case 2: b = b.slice(0, r.int(b.length)); break;
      case 3: {
        const p = r.pick(lengths);
        if (p + 8 > b.length) break;
        const v = r.next() < 0.3 ? BigInt(b.length - p + r.int(64) - 32) : r.pick(BIG);
        new DataView(b.buffer).setBigUint64(p, BigInt.asUintN(64, v), true);
        break;
      }
      case 4: {
        const len = 1 + r.int(Math.min(256, b.length - at));
        const to = r.int(b.length);
        const grown = new Uint8Array(b.length + len);
        grown.set(b.subarray(0, to));
        grown.set(b.subarray(at, at + len), to);
        grown.set(b.subarray(to), to + len);
        b = grown;
        break;
      }
      case 5: b[at] = r.pick([VT.ARRAY, VT.STRING, VT.U64, 13, 0x80]); break; // type ids and n_dims
    }
  }
  return b;
}

function outcome(fn: () => GGUFFile): { ok: GGUFFile } | { err: unknown } {
  try {
    return { ok: fn() };
  } catch (err) {
    return { err };
  }
}

describe('fuzzing the GGUF parser', () => {
  const kjv = readFileSync(KJV_F16);
  const kjvHeader = kjv.subarray(0, 64 << 10); // the whole KV and tensor-info region, plus a little data
  const seeds = [
    { name: 'the writer-built sample', bytes: sampleBytes(), fileSize: (b: Uint8Array) => b.length, runs: 3500, seed: 1 },
    // A prefix parsed as the head of the real file, so tensor bounds are checked against 10 MB.
    { name: 'the first 64 KiB of kjv-f16', bytes: kjvHeader, fileSize: (b: Uint8Array) => Math.max(b.length, kjv.length), runs: 1500, seed: 2 },
  ];

  for (const s of seeds) {
    it(`survives ${s.runs} mutations of ${s.name} with only KilnErrors`, () => {
      const lengths = lengthFields(s.bytes);
      expect(lengths.length).toBeGreaterThan(10);
      const r = rng(s.seed);
      const memBefore = process.memoryUsage();
      const started = performance.now();
      const foreign: string[] = [];
      let accepted = 0;
      for (let i = 0; i < s.runs; i++) {
        const input = mutate(s.bytes, lengths, r);
        const fileSize = s.fileSize(input);
        const res = outcome(() => parseGGUF(input, { fileSize }));
        if ('err' in res) {
          if (!isKilnError(res.err)) foreign.push(`#${i}: ${String(res.err)}`);
          continue;
        }
        accepted++;
        expect(decodedBytes(res.ok)).toBeLessThanOrEqual(input.length);
        for (const t of res.ok.tensors) expect(t.absOffset + t.byteSize).toBeLessThanOrEqual(fileSize);
      }
      const elapsed = performance.now() - started;
      const memAfter = process.memoryUsage();
      expect(foreign).toEqual([]);
      expect(accepted).toBeGreaterThan(0); // some mutations (e.g. in string bytes) stay valid
      expect(elapsed).toBeLessThan(6000);
      // No mutated count may turn into a large allocation.
      expect(memAfter.arrayBuffers - memBefore.arrayBuffers).toBeLessThan(64 << 20);
      expect(memAfter.rss - memBefore.rss).toBeLessThan(512 << 20);
    });
  }

  it('gives the fd reader the same verdict as the in-memory parser on mutated files', () => {
    const src = sampleBytes();
    const lengths = lengthFields(src);
    const r = rng(3);
    const path = join(tmp, 'mutant.gguf');
    for (let i = 0; i < 150; i++) {
      const input = mutate(src, lengths, r);
      writeFileSync(path, input);
      const mem = outcome(() => parseGGUF(input));
      // Tiny windows force restarts inside every kind of item.
      const fd = outcome(() => readGGUFFileSync(path, { chunkSize: 1 + r.int(96) }));
      if ('ok' in mem) expect('ok' in fd && fd.ok, `#${i}`).toEqual(mem.ok);
      else {
        expect('err' in fd, `#${i}`).toBe(true);
        const [a, b] = [mem.err as Error & { code?: string }, (fd as { err: Error & { code?: string } }).err];
        expect([b.code, b.message], `#${i}`).toEqual([a.code, a.message]);
      }
    }
  });
});
