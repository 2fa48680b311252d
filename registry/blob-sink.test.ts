import { randomBytes } from 'node:crypto';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { cleanup, tempHome } from '../test/helpers/daemon.js';
import { BlobSink, StreamWriter } from './blob-sink.js';
import type { PrefixHasher } from './prefix-hash.js';

/** A hasher that only releases ring memory, later (as a worker would). */
function releasingHasher(ringBytes: number): PrefixHasher & { posts: number } {
  let release: (seq: number) => void = () => {};
  const h = {
    ring: Buffer.alloc(ringBytes),
    posts: 0,
    post(segs: number[]) {
      h.posts++;
      if (segs.length) {
        const end = segs[segs.length - 4] + segs[segs.length - 3];
        setTimeout(() => release(end), 1);
      }
    },
    onRelease(f: (seq: number) => void) {
      release = f;
    },
    finish: async () => '',
    close() {},
  };
  return h;
}

let home: string;
afterEach(() => cleanup(home));

describe('BlobSink', () => {
  it('writes chunks copied through a ring much smaller than the data, in order, without waiting forever for space', async () => {
    home = tempHome();
    const path = join(home, 'f');
    const fd = openSync(path, 'w+');
    const data = randomBytes(3 << 20);
    const hasher = releasingHasher(200 << 10);
    const sink = new BlobSink(fd, hasher, () => 0, (e) => e);
    let written = 0;
    const w = new StreamWriter(sink, 0, data.length, (end) => {
      expect(end).toBeGreaterThan(written);
      written = end;
    });
    for (let o = 0; o < data.length; o += 50_000) await w.put(data.subarray(o, Math.min(data.length, o + 50_000)));
    await w.settled();
    await sink.drain();
    await sink.settle();
    closeSync(fd);
    expect(written).toBe(data.length);
    expect(readFileSync(path).equals(data)).toBe(true);
    expect(hasher.posts).toBeGreaterThan(10);
  }, 10_000);

  it('takes reads into regions it hands out, and copies bytes read elsewhere', async () => {
    home = tempHome();
    const path = join(home, 'f');
    const fd = openSync(path, 'w+');
    const data = randomBytes(1 << 20);
    const sink = new BlobSink(fd, releasingHasher(256 << 10), () => 0, (e) => e);
    const w = new StreamWriter(sink, 0, data.length, () => {});
    let o = 0;
    while (o < data.length) {
      const r = w.region();
      if (!r) {
        // no region free: a read into the reader's own buffer
        const n = Math.min(10_000, data.length - o);
        w.data(Buffer.from(data.subarray(o, o + n)), n, false);
        o += n;
        await new Promise((res) => setTimeout(res, 2));
        continue;
      }
      const n = Math.min(r.length, 70_000, data.length - o);
      data.copy(r, 0, o, o + n);
      w.data(r, n, true);
      o += n;
    }
    w.close();
    await w.settled();
    await sink.drain();
    await sink.settle();
    closeSync(fd);
    expect(readFileSync(path).equals(data)).toBe(true);
  }, 10_000);
});
