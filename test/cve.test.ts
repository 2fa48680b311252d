/**
 * Ollama's published vulnerabilities, each as the request shape that exploited
 * it, sent to the real kiln daemon. Every one must get a clear 4xx (or a
 * refused pull) within a moment, touch nothing outside the store, leak no path,
 * and leave the daemon up.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanup, startDaemon, type RunningDaemon } from './helpers/daemon.js';
import { fakeRegistry, startFaultServer, type FaultServer } from './helpers/fault-server.js';
import { KJV_F16 } from './helpers/fixtures.js';

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

let d: RunningDaemon;
const servers: FaultServer[] = [];

beforeAll(async () => {
  d = await startDaemon();
});

afterAll(async () => {
  for (const s of servers) await s.stop();
  await d?.stop();
  if (d) cleanup(d.home);
});

const post = (path: string, body: unknown, method = 'POST') => fetch(`${d.url}${path}`, { method, body: JSON.stringify(body) });

async function ndjson(res: Response): Promise<Record<string, unknown>[]> {
  return (await res.text())
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l));
}

/** The error a pull ends with, whether it is the HTTP status or the last NDJSON object. */
async function pullError(model: string): Promise<string> {
  const res = await post('/api/pull', { model, insecure: true });
  if (res.status >= 400) return String(((await res.json()) as { error: string }).error);
  const lines = await ndjson(res);
  const last = lines[lines.length - 1];
  expect(last.status).not.toBe('success');
  return String(last.error);
}

async function alive(): Promise<void> {
  expect(d.proc.exitCode).toBeNull();
  expect((await fetch(`${d.url}/api/version`)).status).toBe(200);
}

/** kjv-f16 with one tensor's offset rewritten to another's: two tensors claim the same bytes. */
function lyingGGUF(): Buffer {
  const b = Buffer.from(readFileSync(KJV_F16));
  const offsetField = (name: string) => {
    const at = b.indexOf(Buffer.from(name)) + name.length;
    const nDims = b.readUInt32LE(at);
    return at + 4 + 8 * nDims + 4;
  };
  const first = b.readBigUInt64LE(offsetField('token_embd.weight'));
  b.writeBigUInt64LE(first, offsetField('blk.0.attn_q.weight'));
  return b;
}

/** A registry serving one model whose layers are the given bytes. */
async function serveModel(layers: { mediaType: string; data: Buffer; digest?: string }[]): Promise<FaultServer> {
  const config = Buffer.from('{"model_format":"gguf","model_family":"llama"}');
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
      config: { mediaType: 'application/vnd.docker.container.image.v1+json', digest: sha(config), size: config.length },
      layers: layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest ?? sha(l.data), size: l.data.length })),
    }),
  );
  const blobs = new Map<string, Buffer>([[sha(config), config]]);
  for (const l of layers) blobs.set(l.digest ?? sha(l.data), l.data);
  const s = await startFaultServer(fakeRegistry({ manifests: new Map([['evil/m:latest', manifest]]), blobs }));
  servers.push(s);
  return s;
}

describe("Ollama's CVE shapes against the real daemon", () => {
  it('CVE-2024-37032 (Probllama): a digest holding a path never becomes a file path', async () => {
    const marker = `kiln-cve-37032-${process.pid}`;
    for (const digest of [`sha256:../../../../../../${tmpdir().slice(1)}/${marker}`, 'sha256:..%2F..%2Fx', `sha256:${'0'.repeat(63)}/`]) {
      const r = await fetch(`${d.url}/api/blobs/${encodeURIComponent(digest)}`, { method: 'POST', body: 'x' });
      expect(r.status, digest).toBe(400);
    }
    const s = await serveModel([{ mediaType: 'application/vnd.ollama.image.model', data: Buffer.from('x'), digest: `sha256:../../../../../../${tmpdir().slice(1)}/${marker}` }]);
    expect(await pullError(`${s.host}/evil/m`)).toMatch(/digest/i);
    expect(s.seen.some((r) => r.path.includes('/blobs/') && r.path.includes('..'))).toBe(false);
    expect(existsSync(join(tmpdir(), marker))).toBe(false);
    await alive();
  });

  it('CVE-2024-39720: a malformed GGUF given to create is refused with a clear error, not a crash', async () => {
    const truncated = readFileSync(KJV_F16).subarray(0, 100_000);
    const up = await fetch(`${d.url}/api/blobs/${sha(truncated)}`, { method: 'POST', body: truncated });
    expect(up.status).toBe(201);
    const r = await post('/api/create', { model: 'cve-39720', files: { 'm.gguf': sha(truncated) }, stream: false });
    expect(r.status).toBe(400);
    expect(((await r.json()) as { error: string }).error).toMatch(/GGUF/);
    expect(((await (await fetch(`${d.url}/api/tags`)).json()) as { models: { name: string }[] }).models.map((m) => m.name)).not.toContain('cve-39720:latest');
    await alive();
  });

  it('CVE-2024-39721: create naming /dev/random (or any path) answers at once instead of reading forever', async () => {
    for (const body of [
      { model: 'cve-39721', from: '/dev/random' },
      { model: 'cve-39721', files: { 'm.gguf': '/dev/random' } },
      { model: 'cve-39721', files: { '/dev/random': sha(Buffer.from('x')) } },
      { model: 'cve-39721', from: '../../../../dev/zero' },
    ]) {
      const t0 = performance.now();
      const r = await post('/api/create', { ...body, stream: false });
      expect(r.status, JSON.stringify(body)).toBeGreaterThanOrEqual(400);
      expect(r.status, JSON.stringify(body)).toBeLessThan(500);
      expect(performance.now() - t0).toBeLessThan(2000);
    }
    await alive();
  });

  it('CVE-2024-39722: push with a path for a name discloses nothing about the file system', async () => {
    const answers: string[] = [];
    for (const model of ['/etc/passwd', '/nonexistent/file', '../../../../etc/passwd', '../../../../nonexistent/file']) {
      const r = await post('/api/push', { model, insecure: true, stream: false });
      expect(r.status, model).toBeGreaterThanOrEqual(400);
      expect(r.status, model).toBeLessThan(500);
      const text = (await r.text()).replace(JSON.stringify(model).slice(1, -1), 'NAME');
      expect(text).not.toContain(d.home);
      expect(text).not.toMatch(/ENOENT|no such file|exist|denied/i);
      answers.push(text);
    }
    // An existing and a missing path get the same answer.
    expect(answers[0]).toBe(answers[1]);
    expect(answers[2]).toBe(answers[3]);
    await alive();
  });

  it('CVE-2024-28224: DNS rebinding (a foreign Host header) is refused', async () => {
    const { request } = await import('node:http');
    for (const host of ['evil.example.com', `evil.example.com:${d.port}`, 'localhost.evil.example.com', '127.0.0.1.nip.io']) {
      const status = await new Promise<number>((resolve, reject) => {
        const req = request({ host: '127.0.0.1', port: d.port, path: '/api/tags', headers: { Host: host } }, (res) => {
          res.resume();
          resolve(res.statusCode!);
        });
        req.on('error', reject);
        req.end();
      });
      expect(status, host).toBe(403);
    }
    await alive();
  });

  it('CVE-2025-51471: a token realm on a foreign host is refused and sent nothing', async () => {
    const thief = await startFaultServer((_req, res) => void res.writeHead(200).end('{"token":"stolen"}'));
    servers.push(thief);
    const s = await startFaultServer((_req, res) => {
      res.writeHead(401, { 'www-authenticate': `Bearer realm="http://localhost:${thief.port}/token",service="x",scope="repository:evil/m:pull"` }).end();
    });
    servers.push(s);
    expect(await pullError(`${s.host}/evil/m`)).toMatch(/realm/i);
    expect(thief.seen).toEqual([]);
    await alive();
  });

  it('a GGUF whose tensors overlap (lying offsets) is refused at create, never reaches a runner, and is never pushed', async () => {
    const lying = lyingGGUF();
    const up = await fetch(`${d.url}/api/blobs/${sha(lying)}`, { method: 'POST', body: lying });
    expect(up.status).toBe(201);
    const created = await post('/api/create', { model: 'lying', files: { 'm.gguf': sha(lying) }, stream: false });
    expect(created.status).toBe(400);
    expect(((await created.json()) as { error: string }).error).toMatch(/overlaps/);

    // The same file arriving by a pull: it may be stored, but it never runs and never leaves.
    const s = await serveModel([{ mediaType: 'application/vnd.ollama.image.model', data: lying }]);
    const pulled = await ndjson(await post('/api/pull', { model: `${s.host}/evil/m`, insecure: true }));
    if (pulled[pulled.length - 1].status === 'success') {
      const gen = await post('/api/generate', { model: `${s.host}/evil/m`, prompt: 'hi', stream: false });
      expect(gen.status).toBe(400);
      expect(((await gen.json()) as { error: string }).error).toMatch(/overlaps/);
      expect(((await (await fetch(`${d.url}/api/ps`)).json()) as { models: unknown[] }).models).toEqual([]);

      const sink = await startFaultServer((req, res) => void res.writeHead(req.method === 'GET' || req.method === 'HEAD' ? 404 : 202).end());
      servers.push(sink);
      expect((await post('/api/copy', { source: `${s.host}/evil/m`, destination: `${sink.host}/evil/copy` })).status).toBe(200);
      const push = await post('/api/push', { model: `${sink.host}/evil/copy`, insecure: true, stream: false });
      expect(push.status).toBe(400);
      expect(((await push.json()) as { error: string }).error).toMatch(/overlaps/);
      expect(sink.seen.filter((r) => r.method !== 'GET' && r.method !== 'HEAD')).toEqual([]);
    } else {
      expect(String(pulled[pulled.length - 1].error)).toMatch(/overlaps/);
    }
    await alive();
  });
});
