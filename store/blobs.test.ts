import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isKilnError } from '../common/errors.js';
import type { Digest } from '../common/digest.js';
import { parseModelName } from '../common/model-name.js';
import { cleanup, tempHome } from '../test/helpers/daemon.js';
import { Store } from './index.js';

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}` as Digest;

async function* chunks(...parts: Buffer[]) {
  for (const p of parts) yield p;
}

let home: string;
let store: Store;

beforeEach(() => {
  home = tempHome();
  store = new Store(join(home, 'kiln.db'), join(home, 'models'));
});

afterEach(() => {
  store.close();
  cleanup(home);
});

describe('blob store', () => {
  it('stores a stream under its digest and records its size', async () => {
    const data = Buffer.from('hello blob world');
    const info = await store.blobs.writeStream(chunks(data.subarray(0, 5), data.subarray(5)), sha(data));
    expect(info).toEqual({ digest: sha(data), size: data.length });
    expect(readFileSync(store.blobs.path(info.digest))).toEqual(data);
    expect(store.blobs.path(info.digest)).toMatch(/blobs\/sha256-[0-9a-f]{64}$/);
    expect(store.blobs.size(info.digest)).toBe(data.length);
  });

  it('keeps nothing when the bytes do not match the expected digest', async () => {
    const wrong = sha(Buffer.from('something else'));
    let err: unknown;
    try {
      await store.blobs.writeStream(chunks(Buffer.from('hello')), wrong);
    } catch (e) {
      err = e;
    }
    expect(isKilnError(err, 'E_DIGEST_MISMATCH')).toBe(true);
    expect(readdirSync(store.blobs.dir)).toEqual([]);
    expect(store.blobs.has(wrong)).toBe(false);
  });

  it('keeps nothing when the source fails midway', async () => {
    async function* failing() {
      yield Buffer.from('part');
      throw new Error('connection reset');
    }
    await expect(store.blobs.writeStream(failing())).rejects.toThrow(/connection reset/);
    expect(readdirSync(store.blobs.dir)).toEqual([]);
  });

  it('never builds a path from an unvalidated digest', () => {
    expect(() => store.blobs.path('sha256:../../etc/passwd' as Digest)).toThrow();
  });

  it('recovers after a crash: temp files go, complete unrecorded files are adopted, lost files dropped', () => {
    const a = store.blobs.writeBuffer(Buffer.from('a'));
    writeFileSync(join(store.blobs.dir, '.tmp-deadbeef'), 'half');
    const orphan = Buffer.from('renamed but not recorded');
    writeFileSync(join(store.blobs.dir, sha(orphan).replace(':', '-')), orphan);
    writeFileSync(join(store.blobs.dir, 'unrelated.txt'), 'left alone');
    const gone = store.blobs.writeBuffer(Buffer.from('gone'));
    rmSync(store.blobs.path(gone.digest));
    const r = store.blobs.recover();
    expect(r).toEqual({ removedTemp: 1, adopted: 1, missing: [] });
    expect(existsSync(join(store.blobs.dir, '.tmp-deadbeef'))).toBe(false);
    expect(store.blobs.has(sha(orphan))).toBe(true);
    expect(store.blobs.has(a.digest)).toBe(true);
    expect(store.blobs.size(gone.digest)).toBeUndefined();
    expect(existsSync(join(store.blobs.dir, 'unrelated.txt'))).toBe(true);
  });

  it('removes only blobs that no model references', () => {
    const a = store.blobs.writeBuffer(Buffer.from('config'));
    const b = store.blobs.writeBuffer(Buffer.from('layer'));
    const c = store.blobs.writeBuffer(Buffer.from('stray'));
    const manifest = {
      schemaVersion: 2 as const,
      mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
      config: { mediaType: 'application/vnd.docker.container.image.v1+json', digest: a.digest, size: a.size },
      layers: [{ mediaType: 'application/vnd.ollama.image.model', digest: b.digest, size: b.size }],
    };
    store.models.putManifest(parseModelName('m'), manifest);
    expect(store.blobs.removeIfUnreferenced([a.digest, b.digest, c.digest])).toEqual([c.digest]);
    expect(store.blobs.has(a.digest) && store.blobs.has(b.digest)).toBe(true);
    store.models.delete(parseModelName('m'));
    expect(store.blobs.has(a.digest) || store.blobs.has(b.digest)).toBe(false);
  });

  it('never removes a pinned blob: delete and copy defer it to the last release, which removes it only if still unreferenced', () => {
    const config = store.blobs.writeBuffer(Buffer.from('config'));
    const shared = store.blobs.writeBuffer(Buffer.from('shared layer'));
    const other = store.blobs.writeBuffer(Buffer.from('other layer'));
    const manifest = (layer: { digest: Digest; size: number }) => ({
      schemaVersion: 2 as const,
      mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
      config: { mediaType: 'application/vnd.docker.container.image.v1+json', digest: config.digest, size: config.size },
      layers: [{ mediaType: 'application/vnd.ollama.image.model', digest: layer.digest, size: layer.size }],
    });
    const [a, b] = [parseModelName('a'), parseModelName('b')];
    // deleted while pinned (twice): kept until the last release, then removed
    store.models.putManifest(a, manifest(shared));
    const unpin1 = store.blobs.pin([shared.digest, config.digest]);
    const unpin2 = store.blobs.pin([shared.digest]);
    store.models.delete(a);
    expect(store.blobs.has(shared.digest) && store.blobs.has(config.digest)).toBe(true);
    unpin1();
    unpin1(); // a release counts once
    expect(store.blobs.has(shared.digest)).toBe(true);
    expect(store.blobs.has(config.digest)).toBe(false);
    unpin2();
    expect(store.blobs.has(shared.digest)).toBe(false);
    expect(existsSync(store.blobs.path(shared.digest))).toBe(false);

    // overwritten by a copy while pinned, then referenced again before the release: kept
    const config2 = store.blobs.writeBuffer(Buffer.from('config'));
    const shared2 = store.blobs.writeBuffer(Buffer.from('shared layer'));
    expect([config2.digest, shared2.digest]).toEqual([config.digest, shared.digest]);
    store.models.putManifest(a, manifest(shared));
    store.models.putManifest(b, manifest(other));
    const unpin = store.blobs.pin([shared.digest]);
    store.models.copy(b, a);
    expect(store.blobs.has(shared.digest)).toBe(true);
    store.models.putManifest(b, manifest(shared));
    unpin();
    expect(store.blobs.has(shared.digest)).toBe(true);
    expect(store.models.broken()).toEqual([]);

    // pinned but never asked to go: stays after the release (left for prune)
    const stray = store.blobs.writeBuffer(Buffer.from('stray'));
    store.blobs.pin([stray.digest])();
    expect(store.blobs.has(stray.digest)).toBe(true);
  });

  it('refuses a manifest that names a blob the store does not have', () => {
    const missing = sha(Buffer.from('never stored'));
    expect(() =>
      store.models.putManifest(parseModelName('m'), {
        schemaVersion: 2,
        mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
        config: { mediaType: 'application/vnd.docker.container.image.v1+json', digest: missing, size: 12 },
        layers: [],
      }),
    ).toThrow(/not in the store/);
    expect(store.models.list()).toEqual([]);
  });
});
