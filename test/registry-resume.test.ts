/**
 * A pull killed with SIGKILL halfway through a 200 MB blob resumes where it
 * stopped: the restarted daemon fetches less than 1.1× the bytes that were
 * still missing. The blob is pushed to the real registry with plain HTTP calls;
 * a throttling, counting proxy in front of it makes "halfway" a moment the test
 * can catch and measures what the resumed pull downloads.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, readdirSync, statSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanup, startDaemon, tempHome } from './helpers/daemon.js';
import { proxy, startFaultServer, type FaultServer } from './helpers/fault-server.js';
import { registryAvailable, startRegistry, type Registry } from './helpers/registry.js';

const MiB = 1 << 20;
const SIZE = 200 * MiB;

/** 200 MB that never sits in memory at once: a random MiB, varied by its index. */
function bigBlob(): { stream: () => Readable; digest: string } {
  const base = randomBytes(MiB);
  const chunk = (i: number) => {
    const c = Buffer.from(base);
    c.writeUInt32LE(i, 0);
    return c;
  };
  const h = createHash('sha256');
  for (let i = 0; i < SIZE / MiB; i++) h.update(chunk(i));
  return {
    digest: `sha256:${h.digest('hex')}`,
    stream: () =>
      Readable.from(
        (function* () {
          for (let i = 0; i < SIZE / MiB; i++) yield chunk(i);
        })(),
      ),
  };
}

async function upload(base: string, repo: string, digest: string, size: number, body: Readable | Buffer): Promise<void> {
  const start = await fetch(`${base}/v2/${repo}/blobs/uploads/`, { method: 'POST' });
  expect(start.status).toBe(202);
  const loc = new URL(start.headers.get('location')!, base);
  loc.searchParams.set('digest', digest);
  const status = await new Promise<number>((resolve, reject) => {
    const req = request(loc, { method: 'PUT', headers: { 'content-length': String(size) } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    if (Buffer.isBuffer(body)) req.end(body);
    else body.pipe(req);
  });
  expect(status).toBe(201);
}

describe.skipIf(!registryAvailable())('a pull killed with SIGKILL', () => {
  let reg: Registry;
  let front: FaultServer;
  let rate: number | undefined = 6 * MiB; // bytes/s per connection while the first daemon pulls
  const blob = bigBlob();
  beforeAll(async () => {
    reg = await startRegistry();
    front = await startFaultServer(proxy(reg.url, { throttle: () => rate }));
    const config = Buffer.from('{"model_format":"gguf"}');
    const configDigest = `sha256:${createHash('sha256').update(config).digest('hex')}`;
    await upload(reg.url, 'big/blob', blob.digest, SIZE, blob.stream());
    await upload(reg.url, 'big/blob', configDigest, config.length, config);
    const manifest = JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
      config: { mediaType: 'application/vnd.docker.container.image.v1+json', digest: configDigest, size: config.length },
      layers: [{ mediaType: 'application/vnd.ollama.image.model', digest: blob.digest, size: SIZE }],
    });
    const put = await fetch(`${reg.url}/v2/big/blob/manifests/latest`, { method: 'PUT', headers: { 'content-type': 'application/vnd.docker.distribution.manifest.v2+json' }, body: manifest });
    expect(put.status).toBe(201);
  });
  afterAll(async () => {
    await front?.stop();
    await reg?.stop();
  });

  it('resumes where it stopped, fetching less than 1.1x the bytes still missing', async () => {
    const home = tempHome();
    const env = { KILN_DEMO_MODEL: '0', KILN_PULL_CONNECTIONS: '4', KILN_PULL_PART_SIZE: String(8 * MiB), KILN_PULL_RETRY_DELAY: '20' };
    const name = `${front.host}/big/blob:latest`;
    const first = await startDaemon(home, env);
    let seen = 0;
    try {
      const res = await fetch(`${first.url}/api/pull`, { method: 'POST', body: JSON.stringify({ model: name, insecure: true }) });
      const reader = res.body!.getReader();
      let buf = '';
      outer: for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        buf += Buffer.from(value).toString();
        let nl;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const p = JSON.parse(buf.slice(0, nl)) as { digest?: string; completed?: number; error?: string };
          buf = buf.slice(nl + 1);
          expect(p.error).toBeUndefined();
          if (p.digest === blob.digest && (p.completed ?? 0) > seen) seen = p.completed!;
          if (seen >= SIZE / 2) {
            first.proc.kill('SIGKILL');
            break outer;
          }
        }
      }
      await new Promise((r) => (first.proc.exitCode !== null || first.proc.signalCode !== null ? r(null) : first.proc.once('exit', r)));
    } finally {
      await first.stop('SIGKILL');
    }
    expect(seen).toBeGreaterThanOrEqual(SIZE / 2);
    expect(seen).toBeLessThan(SIZE);
    // killed mid-blob: a partial file, no blob
    expect(readdirSync(join(home, 'models', 'partial'))).toEqual([blob.digest.replace(':', '-')]);
    expect(readdirSync(join(home, 'models', 'blobs')).some((f) => f === blob.digest.replace(':', '-'))).toBe(false);

    rate = undefined;
    front.blobBytes = 0;
    const second = await startDaemon(home, env);
    try {
      const res = await fetch(`${second.url}/api/pull`, { method: 'POST', body: JSON.stringify({ model: name, insecure: true, stream: false }) });
      expect(await res.json()).toEqual({ status: 'success' });
      const remaining = SIZE - seen;
      expect(front.blobBytes).toBeLessThan(1.1 * remaining);
      expect(front.blobBytes).toBeGreaterThan(0);
      const file = join(home, 'models', 'blobs', blob.digest.replace(':', '-'));
      expect(statSync(file).size).toBe(SIZE);
      expect(readdirSync(join(home, 'models', 'partial'))).toEqual([]);
      // the store verified it; check independently once more
      const h = createHash('sha256');
      for await (const c of createReadStream(file)) h.update(c as Buffer);
      expect(`sha256:${h.digest('hex')}`).toBe(blob.digest);
      console.log(`resume: killed at ${(seen / MiB).toFixed(1)} MiB of ${SIZE / MiB}; the resumed pull fetched ${(front.blobBytes / MiB).toFixed(1)} MiB for ${(remaining / MiB).toFixed(1)} MiB missing (${(front.blobBytes / remaining).toFixed(3)}x)`);
    } finally {
      await second.stop();
      cleanup(home);
    }
  });
});
