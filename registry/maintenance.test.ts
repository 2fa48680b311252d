import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ProgressResponse, VerifyProgress } from '../common/wire.js';
import { loadConfig } from '../daemon/config.js';
import { Store } from '../store/index.js';
import { cleanup, tempHome } from '../test/helpers/daemon.js';
import { sha } from '../test/helpers/fault-server.js';
import { createRegistryContext, type RegistryContext } from './context.js';
import type { Digest } from '../common/digest.js';
import { pruneStore, verifyStore } from './maintenance.js';
import { MEDIA } from '../common/manifest.js';
import { parseModelName } from '../common/model-name.js';
import { importOllama } from './ollama-import.js';

let home: string;
let store: Store;
let ctx: RegistryContext;

beforeEach(() => {
  home = tempHome();
  store = new Store(join(home, 'kiln.db'), join(home, 'models'));
  ctx = createRegistryContext(store, loadConfig({ KILN_HOME: home }).registry);
});
afterEach(() => {
  store.close();
  cleanup(home);
});

function manifestOf(layer: Buffer, config: Buffer): Buffer {
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MEDIA.dockerManifest,
      config: { mediaType: MEDIA.config, digest: sha(config), size: config.length },
      layers: [{ mediaType: MEDIA.model, digest: sha(layer), size: layer.length }],
    }),
  );
}

function seed(name: string): { layer: Digest; config: Digest } {
  const layer = store.blobs.writeBuffer(randomBytes(50_000));
  const config = store.blobs.writeBuffer(Buffer.from(`{"n":"${name}"}`));
  store.models.putManifest(parseModelName(name), {
    schemaVersion: 2,
    mediaType: MEDIA.dockerManifest,
    config: { mediaType: MEDIA.config, digest: config.digest, size: config.size },
    layers: [{ mediaType: MEDIA.model, digest: layer.digest, size: layer.size }],
  });
  return { layer: layer.digest, config: config.digest };
}

async function verify(): Promise<VerifyProgress> {
  let last: VerifyProgress | undefined;
  await verifyStore(ctx, (p) => (last = p));
  return last!;
}

describe('kiln verify', () => {
  it('passes a healthy store', async () => {
    seed('a');
    expect(await verify()).toEqual({ status: 'success', checked: 2, corrupt: [] });
  });

  it('finds a blob whose bytes changed on disk, quarantines it and names the model', async () => {
    const { layer } = seed('a');
    const path = store.blobs.path(layer);
    const bytes = readFileSync(path);
    bytes[100] ^= 1;
    writeFileSync(path, bytes);
    const r = await verify();
    expect(r.checked).toBe(2);
    expect(r.corrupt).toHaveLength(1);
    expect(r.corrupt![0]).toMatchObject({ digest: layer, models: ['a:latest'] });
    expect(existsSync(path)).toBe(false);
    expect(readFileSync(r.corrupt![0].quarantined!).equals(bytes)).toBe(true);
    expect(store.models.broken()).toEqual(['a:latest']);
  });
});

describe('kiln prune', () => {
  it('removes blobs no model uses and stale partial downloads, keeping pinned ones', async () => {
    seed('a');
    const stray = store.blobs.writeBuffer(randomBytes(1000));
    const pinned = store.blobs.writeBuffer(randomBytes(10));
    const unpin = ctx.downloader.pin([pinned.digest]);
    const partialDigest = sha(Buffer.from('partial')) as Digest;
    store.db.prepare('INSERT INTO partial_blobs (digest, size, part_size, boot_id, updated_at) VALUES (?, 100, 100, ?, 0)').run(partialDigest, 'x');
    writeFileSync(join(ctx.downloader.partialDir, partialDigest.replace(':', '-')), Buffer.alloc(100));
    const r = pruneStore(ctx);
    expect(r).toEqual({ removed: [stray.digest], freed_bytes: 1100, partial_downloads: 1 });
    expect(store.blobs.has(pinned.digest)).toBe(true);
    expect(readdirSync(ctx.downloader.partialDir)).toEqual([]);
    unpin();
    expect(pruneStore(ctx).removed).toEqual([pinned.digest]);
    expect(store.models.list().map((m) => m.name)).toEqual(['a:latest']);
  });
});

describe('kiln import-ollama', () => {
  function ollamaStore(): { root: string; layer: Buffer; manifest: Buffer } {
    const root = join(home, 'ollama');
    const layer = randomBytes(80_000);
    const config = Buffer.from('{"model_format":"gguf"}');
    const manifest = manifestOf(layer, config);
    mkdirSync(join(root, 'blobs'), { recursive: true });
    for (const b of [layer, config]) writeFileSync(join(root, 'blobs', sha(b).replace(':', '-')), b);
    const dir = join(root, 'manifests', 'registry.ollama.ai', 'library', 'tiny');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'latest'), manifest);
    return { root, layer, manifest };
  }

  it('adopts the models by hard link, verified, with the same IDs', async () => {
    const { root, layer, manifest } = ollamaStore();
    const events: ProgressResponse[] = [];
    const r = await importOllama(ctx, root, (p) => events.push(p));
    expect(r).toEqual({ imported: ['tiny:latest'], skipped: [] });
    const rec = store.models.get(parseModelName('tiny'))!;
    expect(rec.manifestBytes.equals(manifest)).toBe(true);
    const ours = statSync(store.blobs.path(sha(layer) as Digest));
    const theirs = statSync(join(root, 'blobs', sha(layer).replace(':', '-')));
    expect(ours.ino).toBe(theirs.ino); // one copy on disk
    expect(events.some((e) => e.status.startsWith('linked '))).toBe(true);
    // again: everything already there
    const again = await importOllama(ctx, root, () => {});
    expect(again.imported).toEqual(['tiny:latest']);
  });

  it('skips a model with a bad name, a damaged blob or a symlinked blob, and imports the rest', async () => {
    const { root, layer } = ollamaStore();
    // a directory name that is no model name
    const badDir = join(root, 'manifests', 'registry.ollama.ai', 'library', 'bad name');
    mkdirSync(badDir, { recursive: true });
    writeFileSync(join(badDir, 'latest'), '{}');
    // a model whose blob bytes are damaged
    const other = randomBytes(1000);
    const config = Buffer.from('{}');
    const dmg = join(root, 'manifests', 'registry.ollama.ai', 'library', 'damaged');
    mkdirSync(dmg, { recursive: true });
    writeFileSync(join(dmg, 'latest'), manifestOf(other, config));
    const flipped = Buffer.from(other);
    flipped[0] ^= 1;
    writeFileSync(join(root, 'blobs', sha(other).replace(':', '-')), flipped);
    writeFileSync(join(root, 'blobs', sha(config).replace(':', '-')), config);
    // a model whose blob is a symlink to a file elsewhere
    const secret = randomBytes(500);
    writeFileSync(join(home, 'secret'), secret);
    const sl = join(root, 'manifests', 'registry.ollama.ai', 'library', 'linked');
    mkdirSync(sl, { recursive: true });
    writeFileSync(join(sl, 'latest'), manifestOf(secret, config));
    symlinkSync(join(home, 'secret'), join(root, 'blobs', sha(secret).replace(':', '-')));

    const r = await importOllama(ctx, root, () => {});
    expect(r.imported).toEqual(['tiny:latest']);
    expect(r.skipped.sort()).toEqual(['damaged:latest', 'linked:latest', 'registry.ollama.ai/library/bad name:latest']);
    expect(store.blobs.has(sha(other) as Digest)).toBe(false);
    expect(store.blobs.has(sha(secret) as Digest)).toBe(false);
    expect(store.blobs.has(sha(layer) as Digest)).toBe(true);
    expect(readdirSync(store.blobs.dir).filter((f) => f.startsWith('.tmp-'))).toEqual([]);
  });

  it('reports a folder that holds no Ollama models', async () => {
    await expect(importOllama(ctx, join(home, 'nothing'), () => {})).rejects.toThrow(/no Ollama models/);
  });
});

