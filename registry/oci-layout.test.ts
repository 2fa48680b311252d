import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pack } from 'tar-stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Store } from '../store/index.js';
import { isKilnError, type ErrorCode } from '../common/errors.js';
import { cleanup, tempHome } from '../test/helpers/daemon.js';
import { sha } from '../test/helpers/fault-server.js';
import { MEDIA } from '../common/manifest.js';
import { parseModelName } from '../common/model-name.js';
import { exportModel, importArchive } from './oci-layout.js';

let home: string;
let a: Store;
let b: Store;

beforeEach(() => {
  home = tempHome();
  a = new Store(join(home, 'a.db'), join(home, 'a'));
  b = new Store(join(home, 'b.db'), join(home, 'b'));
});
afterEach(() => {
  a.close();
  b.close();
  cleanup(home);
});

function seed(store: Store, name = 'ns/m:7b'): { layer: Buffer } {
  const layer = randomBytes(300_000);
  const l = store.blobs.writeBuffer(layer);
  const t = store.blobs.writeBuffer(Buffer.from('{{ .Prompt }}'));
  const c = store.blobs.writeBuffer(Buffer.from('{"model_format":"gguf"}'));
  store.models.putManifest(parseModelName(name), {
    schemaVersion: 2,
    mediaType: MEDIA.dockerManifest,
    config: { mediaType: MEDIA.config, digest: c.digest, size: c.size },
    layers: [
      { mediaType: MEDIA.model, digest: l.digest, size: l.size },
      { mediaType: MEDIA.template, digest: t.digest, size: t.size },
    ],
  });
  return { layer };
}

async function tarOf(entries: { name: string; body?: Buffer; type?: 'file' | 'directory' | 'symlink' | 'link'; linkname?: string; size?: number }[]): Promise<Buffer> {
  const p = pack();
  for (const e of entries) {
    if (e.type && e.type !== 'file') p.entry({ name: e.name, type: e.type, linkname: e.linkname });
    else p.entry({ name: e.name, size: e.body!.length }, e.body!);
  }
  p.finalize();
  const chunks: Buffer[] = [];
  for await (const c of p as unknown as AsyncIterable<Buffer>) chunks.push(c);
  return Buffer.concat(chunks);
}

async function importInto(store: Store, tar: Buffer | Readable, name?: string): Promise<string[]> {
  return importArchive(store, Buffer.isBuffer(tar) ? Readable.from([tar]) : tar, { name }, () => {});
}

async function importError(tar: Buffer): Promise<{ code: ErrorCode; message: string }> {
  try {
    await importInto(b, tar);
  } catch (e) {
    if (isKilnError(e)) return { code: e.code, message: e.message };
    throw e;
  }
  throw new Error('import succeeded');
}

function expectUntouched(): void {
  expect(b.models.list()).toEqual([]);
  expect(readdirSync(b.blobs.dir)).toEqual([]);
  expect(existsSync(join(home, 'evil'))).toBe(false);
  expect(existsSync(join(home, 'b', 'evil'))).toBe(false);
}

const LAYOUT = Buffer.from('{"imageLayoutVersion":"1.0.0"}');

describe('OCI image-layout archives', () => {
  it('exports a model and imports it elsewhere with the same manifest bytes and blobs', async () => {
    const { layer } = seed(a);
    const name = parseModelName('ns/m:7b');
    const tar = exportModel(a, name, 'ns/m:7b');
    const names = await importInto(b, tar);
    expect(names).toEqual(['ns/m:7b']);
    const x = a.models.get(name)!;
    const y = b.models.get(name)!;
    expect(y.manifestBytes.equals(x.manifestBytes)).toBe(true);
    expect(y.digest).toBe(x.digest);
    expect(b.blobs.has(sha(layer) as never)).toBe(true);
    // the manifest blob itself is not kept (manifests live in the database)
    expect(b.blobs.has(x.digest)).toBe(false);
  });

  it('keeps the blobs it found present when the model that shares them is deleted mid-import', async () => {
    seed(a);
    const name = parseModelName('ns/m:7b');
    const tar: Buffer[] = [];
    for await (const c of exportModel(a, name, 'ns/m:7b')) tar.push(c as Buffer);
    const bytes = Buffer.concat(tar);
    // b already has the same blobs under another name
    const had = a.models.get(name)!;
    for (const d of [had.manifest.config, ...had.manifest.layers]) b.blobs.writeBuffer(readFileSync(a.blobs.path(d.digest)));
    b.models.put(parseModelName('ns/old:1'), had.manifestBytes);
    const manifestHex = a.models.get(name)!.digest.slice(7);
    // the archive comes in 512-byte blocks and stops inside the manifest blob's entry (after every layer) until the gate opens
    const at = bytes.indexOf(Buffer.from(`blobs/sha256/${manifestHex}`)) + 1024;
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    async function* source() {
      for (let off = 0; off < bytes.length; off += 512) {
        if (off === at) await gate;
        yield bytes.subarray(off, off + 512);
      }
    }
    let reached!: () => void;
    const atManifest = new Promise<void>((r) => (reached = r));
    const importing = importArchive(b, source(), {}, (p) => {
      if (p.digest === `sha256:${manifestHex}`) reached();
    });
    const outcome = importing.then(
      (names) => names,
      (e: unknown) => e,
    );
    try {
      await atManifest; // every layer entry has been seen (and found present)
      b.models.delete(parseModelName('ns/old:1'));
    } finally {
      open();
    }
    expect(await outcome).toEqual(['ns/m:7b']);
    expect(b.models.broken()).toEqual([]);
    const m = b.models.get(name)!;
    for (const d of [m.manifest.config, ...m.manifest.layers]) expect(b.blobs.size(d.digest)).toBe(d.size);
  });

  it('writes the entries a standard OCI tool expects, index.json last', async () => {
    seed(a);
    const chunks: Buffer[] = [];
    for await (const c of exportModel(a, parseModelName('ns/m:7b'), 'ns/m:7b')) chunks.push(c as Buffer);
    const { extract } = await import('tar-stream');
    const ex = extract();
    Readable.from([Buffer.concat(chunks)]).pipe(ex as never);
    const names: string[] = [];
    let index: { manifests: { annotations: Record<string, string> }[] } | undefined;
    for await (const e of ex as unknown as AsyncIterable<Readable & { header: { name: string } }>) {
      names.push(e.header.name);
      const body: Buffer[] = [];
      for await (const c of e) body.push(c as Buffer);
      if (e.header.name === 'index.json') index = JSON.parse(Buffer.concat(body).toString());
    }
    expect(names[0]).toBe('oci-layout');
    expect(names.at(-1)).toBe('index.json');
    expect(names.filter((n) => /^blobs\/sha256\/[0-9a-f]{64}$/.test(n))).toHaveLength(4);
    expect(index!.manifests[0].annotations['org.opencontainers.image.ref.name']).toBe('7b');
  });

  it('imports under another name when asked', async () => {
    seed(a);
    await importInto(b, exportModel(a, parseModelName('ns/m:7b'), 'x'), 'renamed:v2');
    expect(b.models.get(parseModelName('renamed:v2'))).toBeDefined();
  });

  for (const [what, name] of [
    ['a path that climbs out', '../evil'],
    ['a climb inside blobs/', 'blobs/sha256/../../evil'],
    ['an absolute path', '/tmp/evil'],
    ['an unknown file', 'blobs/sha256/evil'],
  ] as const) {
    it(`rejects ${what}, touching nothing`, async () => {
      const e = await importError(await tarOf([{ name: 'oci-layout', body: LAYOUT }, { name, body: Buffer.from('x') }]));
      expect(e.code).toBe('E_BAD_REQUEST');
      expect(e.message).toMatch(/unexpected entry/);
      expectUntouched();
    });
  }

  for (const type of ['symlink', 'link'] as const) {
    it(`rejects a ${type} entry`, async () => {
      const digest = sha(Buffer.from('x')).slice(7);
      const e = await importError(await tarOf([{ name: 'oci-layout', body: LAYOUT }, { name: `blobs/sha256/${digest}`, type, linkname: '/etc/passwd' }]));
      expect(e.message).toMatch(new RegExp(`is a ${type}`));
      expectUntouched();
    });
  }

  it('rejects an oversized index.json', async () => {
    const e = await importError(await tarOf([{ name: 'oci-layout', body: LAYOUT }, { name: 'index.json', body: Buffer.alloc(5 << 20, 0x20) }]));
    expect(e.message).toMatch(/index\.json is larger/);
    expectUntouched();
  });

  it('rejects a blob whose bytes do not match its name, keeping none of it', async () => {
    const { layer } = seed(a);
    const chunks: Buffer[] = [];
    for await (const c of exportModel(a, parseModelName('ns/m:7b'), 'x')) chunks.push(c as Buffer);
    const tar = Buffer.concat(chunks);
    // flip a byte inside the model layer's data
    const at = tar.indexOf(layer.subarray(1000, 1064));
    tar[at] ^= 0xff;
    const e = await importError(tar);
    expect(e.code).toBe('E_DIGEST_MISMATCH');
    expectUntouched();
  });

  it('rejects an archive without oci-layout or index.json, and removes the blobs it brought', async () => {
    const body = Buffer.from('blob');
    const e = await importError(await tarOf([{ name: `blobs/sha256/${sha(body).slice(7)}`, body }]));
    expect(e.message).toMatch(/oci-layout/);
    expectUntouched();
  });

  it('rejects an index naming a manifest that is not in the archive', async () => {
    const index = Buffer.from(JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: MEDIA.ociManifest, digest: sha(Buffer.from('nope')), size: 4 }] }));
    const e = await importError(await tarOf([{ name: 'oci-layout', body: LAYOUT }, { name: 'index.json', body: index }]));
    expect(e.message).toMatch(/not in the archive/);
    expectUntouched();
  });
});

describe('damaged archives (found by bench/fuzz.ts)', () => {
  async function exported(): Promise<{ tar: Buffer; layer: Buffer }> {
    const { layer } = seed(a);
    const chunks: Buffer[] = [];
    for await (const c of exportModel(a, parseModelName('ns/m:7b'), 'x')) chunks.push(c as Buffer);
    return { tar: Buffer.concat(chunks), layer };
  }

  it('rejects a tar that is not one as a bad request, not a plain Error', async () => {
    const e = await importError(Buffer.concat([LAYOUT, Buffer.alloc(1024, 0x41)]));
    expect(e.code).toBe('E_BAD_REQUEST');
    expect(e.message).toMatch(/not a readable tar archive/);
    expectUntouched();
  });

  it('rejects an archive cut off inside a blob as a bad request, not a failed store write (E_INTERNAL)', async () => {
    const { tar, layer } = await exported();
    const e = await importError(tar.subarray(0, tar.indexOf(layer.subarray(1000, 1064))));
    expect(e.code).toBe('E_BAD_REQUEST');
    expect(e.message).toMatch(/Unexpected end of data/);
    expectUntouched();
  });

  it('rejects an archive cut off inside a blob the store already has, instead of waiting forever', async () => {
    const { tar, layer } = await exported();
    await importInto(b, tar);
    const e = await importError(tar.subarray(0, tar.indexOf(layer.subarray(1000, 1064))));
    expect(e.code).toBe('E_BAD_REQUEST');
  }, 5000);

  it('rejects an entry whose size field cannot be decoded, instead of waiting forever', async () => {
    const tar = await tarOf([{ name: 'oci-layout', body: LAYOUT }, { name: 'index.json', body: Buffer.from('{}') }]);
    // A base-256 size (high bit set) that tar-stream decodes as null: such an entry never ends.
    tar[124] = 0xe4;
    tar.fill(0x20, 148, 156);
    let sum = 0;
    for (let i = 0; i < 512; i++) sum += tar[i];
    tar.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'latin1');
    const e = await importError(tar);
    expect(e.message).toMatch(/'oci-layout' has no valid size/);
    expectUntouched();
  }, 5000);
});
