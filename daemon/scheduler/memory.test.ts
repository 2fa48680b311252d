import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseBytes } from '../config.js';
import { availableMemory, cgroupAvailable, estimateMemory } from './memory.js';
import { Model } from '../../engine/model/model.js';
import { KJV_F32 } from '../../test/helpers/fixtures.js';
import type { KvTypes } from '../../common/kv-cache.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A cgroup tree on disk with the given files (relative path → contents). */
function tree(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'kiln-cgroup-'));
  dirs.push(root);
  for (const [p, text] of Object.entries(files)) {
    mkdirSync(join(root, p, '..'), { recursive: true });
    writeFileSync(join(root, p), text);
  }
  return root;
}

describe('cgroup memory limits', () => {
  it('v2: limit - usage + inactive page cache', () => {
    const root = tree({ 'memory.max': '1073741824\n', 'memory.current': '536870912\n', 'memory.stat': 'anon 1\ninactive_file 1048576\nactive_file 5\n' });
    expect(cgroupAvailable(root)).toBe(1073741824 - 536870912 + 1048576);
  });

  it('v2 "max" and v1 with its huge no-limit value mean no limit', () => {
    expect(cgroupAvailable(tree({ 'memory.max': 'max\n', 'memory.current': '5\n' }))).toBeUndefined();
    expect(cgroupAvailable(tree({ 'memory/memory.limit_in_bytes': '9223372036854771712\n', 'memory/memory.usage_in_bytes': '5\n' }))).toBeUndefined();
    expect(cgroupAvailable(tree({}))).toBeUndefined();
  });

  it('v1: limit_in_bytes - usage_in_bytes + total_inactive_file, never below zero', () => {
    const root = tree({ 'memory/memory.limit_in_bytes': '2000000\n', 'memory/memory.usage_in_bytes': '500000\n', 'memory/memory.stat': 'total_inactive_file 1000\n' });
    expect(cgroupAvailable(root)).toBe(1501000);
    expect(cgroupAvailable(tree({ 'memory/memory.limit_in_bytes': '100\n', 'memory/memory.usage_in_bytes': '500\n' }))).toBe(0);
  });

  it('this machine: some memory is available', () => {
    expect(availableMemory()).toBeGreaterThan(0);
  });
});

describe('parseBytes (KILN_MAX_MEMORY)', () => {
  it.each([
    ['0', 0],
    ['1048576', 1048576],
    ['512MiB', 512 * 1024 ** 2],
    ['8GiB', 8 * 1024 ** 3],
    ['8 GB', 8e9],
    ['1.5gib', 1.5 * 1024 ** 3],
    ['20kb', 20000],
  ])('%s is %d bytes', (raw, n) => expect(parseBytes(raw)).toBe(n));

  it.each(['', 'lots', '-1', '1e9', '5 parsecs', '1.2.3GB'])('refuses %j', (raw) => expect(parseBytes(raw)).toBeUndefined());
});

describe('the KV cache in the estimate', () => {
  // the estimate's bytes are what the native context holds: kvSave of n positions is that cache's n-position share
  it.each<KvTypes>([
    { k: 'f16', v: 'f16' },
    { k: 'q8_0', v: 'q8_0' },
    { k: 'q4_0', v: 'q4_0' },
    { k: 'q8_0', v: 'q4_0' },
  ])('K $k, V $v: the size of the cache the model holds', async (kv) => {
    const m = await Model.load(KJV_F32, { nCtx: 64, kvTypes: kv });
    try {
      m.native.eval([1, 2, 3, 4], 0);
      const held = (m.native.kvSave(0, 0, 4).byteLength / 4) * 64;
      const est = estimateMemory(m.hp, 0, 64, 1, kv).kvCache;
      expect(est).toBe(held);
      if (kv.k !== 'f16') expect(est).toBeLessThan(estimateMemory(m.hp, 0, 64, 1).kvCache * (kv.k === 'q4_0' ? 0.3 : 0.55));
    } finally {
      m.close();
    }
  });
});
