/**
 * Push through a fault-injecting proxy in front of the real docker-registry,
 * in process: uploads survive a 500 and a dropped connection, chunked and
 * monolithic uploads land the same bytes, and the pushed model pulls back.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../daemon/config.js';
import { Store } from '../store/index.js';
import { cleanup, tempHome } from '../test/helpers/daemon.js';
import { proxy, sha, startFaultServer, type FaultServer, type Handler } from '../test/helpers/fault-server.js';
import { registryAvailable, startRegistry, type Registry } from '../test/helpers/registry.js';
import { createRegistryContext, type RegistryContext } from './context.js';
import { MEDIA } from '../common/manifest.js';
import { parseModelName } from '../common/model-name.js';
import { pullModel } from './pull.js';
import { pushModel } from './push.js';

let reg: Registry;
let front: FaultServer;
let fault: Handler | undefined;
let home: string;
let store: Store;
let ctx: RegistryContext;

describe.skipIf(!registryAvailable())('push', () => {
  beforeAll(async () => {
    reg = await startRegistry();
    const forward = proxy(reg.url);
    front = await startFaultServer((req, res, srv) => (fault ? fault(req, res, srv) : forward(req, res, srv)));
  });
  afterAll(async () => {
    await front?.stop();
    await reg?.stop();
  });
  beforeEach(() => {
    home = tempHome();
    store = new Store(join(home, 'kiln.db'), join(home, 'models'));
    ctx = createRegistryContext(store, { ...loadConfig({ KILN_HOME: home }).registry, retryDelayMs: 5, pushChunkSize: 256 * 1024 });
    front.seen.length = 0;
    fault = undefined;
  });
  afterEach(() => {
    store.close();
    cleanup(home);
  });

  function seed(name: string, size: number): Buffer {
    const layer = randomBytes(size);
    const l = store.blobs.writeBuffer(layer);
    const c = store.blobs.writeBuffer(Buffer.from(`{"model_format":"gguf","n":${size}}`));
    store.models.putManifest(parseModelName(name), {
      schemaVersion: 2,
      mediaType: MEDIA.dockerManifest,
      config: { mediaType: MEDIA.config, digest: c.digest, size: c.size },
      layers: [{ mediaType: MEDIA.model, digest: l.digest, size: l.size }],
    });
    return layer;
  }

  async function pullBack(name: string): Promise<Store> {
    const other = new Store(join(home, 'other.db'), join(home, 'other'));
    const octx = createRegistryContext(other, ctx.config);
    await pullModel(octx, name, { insecure: true }, () => {});
    await octx.downloader.idle();
    return other;
  }

  it('uploads in PATCH chunks and the model pulls back byte for byte', async () => {
    const name = `${front.host}/t/chunked:v1`;
    const layer = seed(name, 700 * 1024);
    await pushModel(ctx, name, { insecure: true }, () => {});
    expect(front.seen.filter((r) => r.method === 'PATCH')).toHaveLength(3);
    const other = await pullBack(name);
    try {
      expect(other.models.get(parseModelName(name))!.digest).toBe(store.models.get(parseModelName(name))!.digest);
      expect(other.blobs.has(sha(layer) as never)).toBe(true);
    } finally {
      other.close();
    }
  });

  it('starts a blob upload over after a 500 and after a dropped connection', async () => {
    const name = `${front.host}/t/flaky:v1`;
    seed(name, 100 * 1024);
    const forward = proxy(reg.url);
    let failures = 0;
    fault = (req, res, srv) => {
      if (req.method === 'PUT' && req.url?.includes('/blobs/uploads/') && failures < 2) {
        failures++;
        req.resume();
        // an early answer to a request whose body is still coming: close the connection after it, as a
        // registry does, so the rest of that body can never be read as the start of the next request
        if (failures === 1) res.writeHead(500, { 'content-type': 'application/json', connection: 'close' }).end('{"errors":[{"code":"UNKNOWN","message":"disk hiccup"}]}');
        else res.socket?.destroy();
        return;
      }
      return forward(req, res, srv);
    };
    const events: string[] = [];
    await pushModel(ctx, name, { insecure: true }, (p) => events.push(p.status));
    expect(failures).toBe(2);
    expect(events.at(-1)).toBe('success');
    fault = undefined;
    const other = await pullBack(name);
    other.close();
  });

  it('skips blobs the registry already has', async () => {
    const name = `${front.host}/t/again:v1`;
    seed(name, 50 * 1024);
    await pushModel(ctx, name, { insecure: true }, () => {});
    front.seen.length = 0;
    await pushModel(ctx, name, { insecure: true }, () => {});
    expect(front.seen.map((r) => r.method).sort()).toEqual(['HEAD', 'HEAD', 'PUT']); // two blob checks, the manifest
  });
});
