import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { isKilnError } from '../common/errors.js';
import { cpuFeatures, mapFile, selectedVariant, supportedVariants } from './index.js';

const dir = mkdtempSync(join(tmpdir(), 'kiln-kernels-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// What Linux itself says about this CPU, to check the probe against.
function procCpuFlags(): Set<string> | undefined {
  try {
    const text = readFileSync('/proc/cpuinfo', 'utf8');
    const line = text.split('\n').find((l) => l.startsWith('flags'));
    return line ? new Set(line.split(':')[1].trim().split(/\s+/)) : undefined;
  } catch {
    return undefined;
  }
}

describe('cpu probe', () => {
  it('agrees with the kernel-reported flags in /proc/cpuinfo', () => {
    const f = cpuFeatures();
    const flags = procCpuFlags();
    if (f.arch !== 'x86_64' || flags === undefined) return;
    expect(f.avx2).toBe(flags.has('avx2'));
    expect(f.fma).toBe(flags.has('fma'));
    expect(f.f16c).toBe(flags.has('f16c'));
    expect(f.avx512f).toBe(flags.has('avx512f'));
    expect(f.avx512bw).toBe(flags.has('avx512bw'));
    expect(f.avx512vl).toBe(flags.has('avx512vl'));
    expect(f.avx512vnni).toBe(flags.has('avx512_vnni'));
    expect(f.avxvnni).toBe(flags.has('avx_vnni'));
    expect(f.neon).toBe(false);
  });

  it('reads the vendor as /proc/cpuinfo gives it (AMD picks the L2 prefetch level)', () => {
    const f = cpuFeatures();
    let vendor: string | undefined;
    try {
      vendor = readFileSync('/proc/cpuinfo', 'utf8').split('\n').find((l) => l.startsWith('vendor_id'))?.split(':')[1].trim();
    } catch {
      vendor = undefined;
    }
    if (f.arch !== 'x86_64' || vendor === undefined) return;
    expect(f.amd).toBe(vendor === 'AuthenticAMD' || vendor === 'HygonGenuine');
  });

  it('never reports AMX without an OS grant (kiln does not request one)', () => {
    expect(cpuFeatures().amx).toBe(false);
  });

  it('offers scalar everywhere and only variants whose features are present', () => {
    const f = cpuFeatures();
    const v = supportedVariants();
    expect(v[0]).toBe('scalar');
    expect(v.includes('avx2')).toBe(f.avx2 && f.fma && f.f16c);
    expect(v.includes('avx512')).toBe(v.includes('avx2') && f.avx512f && f.avx512bw && f.avx512vl && f.avx512vnni);
  });

  it('selects the best variant by default and honours KILN_KERNELS, clamped to the CPU', () => {
    const v = supportedVariants();
    const best = v[v.length - 1];
    expect(selectedVariant({})).toBe(best);
    expect(selectedVariant({ KILN_KERNELS: 'scalar' })).toBe('scalar');
    expect(selectedVariant({ KILN_KERNELS: 'AVX2' })).toBe(v.includes('avx2') ? 'avx2' : 'scalar');
    expect(selectedVariant({ KILN_KERNELS: 'avx512' })).toBe(best);
    expect(() => selectedVariant({ KILN_KERNELS: 'sse9' })).toThrow(/KILN_KERNELS/);
  });
});

describe('mapFile', () => {
  it('exposes the file bytes without copying and detaches them on unmap', () => {
    const path = join(dir, 'blob.bin');
    const data = Buffer.alloc(10_000);
    for (let i = 0; i < data.length; i++) data[i] = (i * 7) & 0xff;
    writeFileSync(path, data);
    const m = mapFile(path);
    expect(m.size).toBe(data.length);
    expect(Buffer.from(m.bytes).equals(data)).toBe(true);
    const view = new Uint8Array(m.buffer, 4096, 16);
    expect(view[0]).toBe((4096 * 7) & 0xff);
    m.unmap();
    // Views of an unmapped file are empty, not dangling.
    expect(m.buffer.byteLength).toBe(0);
    expect(view.length).toBe(0);
    m.unmap(); // idempotent
  });

  it('maps an empty file as an empty buffer', () => {
    const path = join(dir, 'empty.bin');
    writeFileSync(path, '');
    const m = mapFile(path);
    expect(m.size).toBe(0);
    m.unmap();
  });

  it('maps a file smaller than a page and leaves it unchanged', () => {
    const path = join(dir, 'ro.bin');
    writeFileSync(path, Buffer.from([1, 2, 3, 4]));
    const m = mapFile(path);
    expect(Array.from(m.bytes)).toEqual([1, 2, 3, 4]);
    m.unmap();
    expect(Array.from(readFileSync(path))).toEqual([1, 2, 3, 4]);
  });

  it('reports a missing file or a directory as E_NATIVE', () => {
    for (const p of [join(dir, 'nope.bin'), dir]) {
      let err: unknown;
      try {
        mapFile(p);
      } catch (e) {
        err = e;
      }
      expect(isKilnError(err, 'E_NATIVE')).toBe(true);
    }
  });

  it('rejects an ArrayBuffer that is not a mapping', async () => {
    const { native } = await import('./native.js');
    expect(() => native().unmap(new ArrayBuffer(8))).toThrow(/mapFile/);
  });
});

describe('default thread count', () => {
  const ADDON = join(import.meta.dirname, 'build', 'Release', 'kiln_kernels.node');
  const threadsUnder = (cpus: string) =>
    Number(execFileSync('taskset', ['-c', cpus, process.execPath, '-e', `console.log(require(${JSON.stringify(ADDON)}).threads())`]).toString().trim());

  it('is one thread per physical core the process may run on (its affinity mask, as a container cpuset sets it)', () => {
    expect(threadsUnder('0')).toBe(1);
    const online = readFileSync('/sys/devices/system/cpu/online', 'utf8').trim(); // e.g. "0-1"
    const all = threadsUnder(online);
    expect(all).toBeGreaterThanOrEqual(1);
    expect(all).toBeLessThanOrEqual(availableParallelism());
  });
});
