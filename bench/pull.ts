/**
 * Pull throughput against plain `curl -o`, DESIGN §7: a 1 GiB blob on the
 * loopback docker-registry, fetched alternately by `curl -o` (no hashing) and
 * by `kiln pull` through the daemon (parallel Range parts, sha256 verified,
 * committed to the store), median of 3 each.
 *
 *     npm run build && npx vite-node bench/pull.ts -- [--size-mib 1024] [--runs 3] [--connections 4]
 *
 * `sync` runs before every timed fetch so that neither pays for the other's
 * dirty pages. kiln's time ends when /api/pull answers success: the blob is
 * hashed, renamed into the store and recorded; its fsync runs after (as
 * `curl -o` never syncs at all).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { readFileSync, rmSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { cleanup, startDaemon, tempHome } from '../test/helpers/daemon.js';
import { startRegistry } from '../test/helpers/registry.js';

const MiB = 1 << 20;

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
}

const median = (xs: number[]) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function putBlob(base: string, repo: string, digest: string, size: number, body: () => Readable): Promise<void> {
  const start = await fetch(`${base}/v2/${repo}/blobs/uploads/`, { method: 'POST' });
  const loc = new URL(start.headers.get('location')!, base);
  loc.searchParams.set('digest', digest);
  await new Promise<void>((resolve, reject) => {
    const req = request(loc, { method: 'PUT', headers: { 'content-length': String(size) } }, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode === 201 ? resolve() : reject(new Error(`upload: ${res.statusCode}`))));
    });
    req.on('error', reject);
    body().pipe(req);
  });
}

async function main(): Promise<void> {
  const size = arg('size-mib', 1024) * MiB;
  const runs = arg('runs', 3);
  const connections = arg('connections', 4);

  const reg = await startRegistry();
  const home = tempHome('kiln-bench-');
  const curlOut = join(home, 'curl.out');
  try {
    // Random data (incompressible), generated from a 16 MiB seed to keep set-up quick.
    const seed = randomBytes(16 * MiB);
    const chunks = () =>
      Readable.from(
        (function* () {
          for (let off = 0, i = 0; off < size; off += seed.length, i++) {
            const c = Buffer.from(seed.subarray(0, Math.min(seed.length, size - off)));
            c.writeUInt32LE(i, 0);
            yield c;
          }
        })(),
      );
    const h = createHash('sha256');
    for await (const c of chunks()) h.update(c as Buffer);
    const digest = `sha256:${h.digest('hex')}`;
    await putBlob(reg.url, 'bench/blob', digest, size, chunks);
    const config = Buffer.from('{"model_format":"gguf"}');
    const configDigest = `sha256:${createHash('sha256').update(config).digest('hex')}`;
    await putBlob(reg.url, 'bench/blob', configDigest, config.length, () => Readable.from([config]));
    const manifest = JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
      config: { mediaType: 'application/vnd.docker.container.image.v1+json', digest: configDigest, size: config.length },
      layers: [{ mediaType: 'application/vnd.ollama.image.model', digest, size }],
    });
    await fetch(`${reg.url}/v2/bench/blob/manifests/latest`, { method: 'PUT', headers: { 'content-type': 'application/vnd.docker.distribution.manifest.v2+json' }, body: manifest });

    const daemon = await startDaemon(join(home, 'kiln'), { KILN_DEMO_MODEL: '0', KILN_PULL_CONNECTIONS: String(connections) });
    const name = `${reg.host}/bench/blob:latest`;
    const blobUrl = `${reg.url}/v2/bench/blob/blobs/${digest}`;

    const curl = (): number => {
      rmSync(curlOut, { force: true });
      execFileSync('sync');
      const t0 = performance.now();
      const r = spawnSync('curl', ['-s', '-f', '-o', curlOut, blobUrl]);
      const t = performance.now() - t0;
      if (r.status !== 0) throw new Error(`curl failed: ${r.stderr}`);
      return t / 1000;
    };
    // CPU seconds (user+sys) of a process so far, from /proc (Linux), to show where the time goes.
    const cpu = (pid: number): number => {
      try {
        const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
        return (Number(f[11]) + Number(f[12])) / 100;
      } catch {
        return NaN;
      }
    };
    const kilnCpu: number[] = [];
    const kiln = async (): Promise<number> => {
      await fetch(`${daemon.url}/api/delete`, { method: 'DELETE', body: JSON.stringify({ model: name }) }).catch(() => {});
      execFileSync('sync');
      const c0 = cpu(daemon.proc.pid!);
      const t0 = performance.now();
      const res = await fetch(`${daemon.url}/api/pull`, { method: 'POST', body: JSON.stringify({ model: name, insecure: true, stream: false }) });
      const body = (await res.json()) as { status?: string; error?: string };
      const t = performance.now() - t0;
      if (body.status !== 'success') throw new Error(`kiln pull failed: ${body.error}`);
      kilnCpu.push(cpu(daemon.proc.pid!) - c0);
      return t / 1000;
    };

    curl(); // warm-up: the registry's file into the page cache
    const curlTimes: number[] = [];
    const kilnTimes: number[] = [];
    for (let i = 0; i < runs; i++) {
      curlTimes.push(curl());
      kilnTimes.push(await kiln());
    }
    await daemon.stop();

    const gbps = (t: number) => (size / t / 1e9).toFixed(2);
    const c = median(curlTimes);
    const k = median(kilnTimes);
    console.log(`blob ${size / MiB} MiB, ${connections} connection(s), runs ${runs}, cpus ${cpus().length}`);
    console.log(`curl -o      ${curlTimes.map((t) => t.toFixed(2)).join(' ')} s   median ${c.toFixed(2)} s  ${gbps(c)} GB/s`);
    console.log(`kiln pull    ${kilnTimes.map((t) => t.toFixed(2)).join(' ')} s   median ${k.toFixed(2)} s  ${gbps(k)} GB/s (sha256 verified)`);
    console.log(`kiln daemon CPU per pull (user+sys, all threads): ${kilnCpu.map((t) => t.toFixed(2)).join(' ')} s; load average at the end ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
    console.log(`ratio kiln/curl throughput: ${(c / k).toFixed(2)}x (target >= 0.8x)`);
  } finally {
    await reg.stop();
    cleanup(home);
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
