import { createHash } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { Ollama } from 'ollama';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanup, ROOT, startDaemon, type RunningDaemon } from './helpers/daemon.js';

const KJV = join(ROOT, 'models', 'kjv', 'kjv-f16.gguf');
const kjvBytes = readFileSync(KJV);
const kjvDigest = `sha256:${createHash('sha256').update(kjvBytes).digest('hex')}`;

let d: RunningDaemon;
let ollama: Ollama;

/** A raw HTTP request, for headers a fetch client will not let us forge (Host). */
function raw(method: string, path: string, headers: Record<string, string> = {}, body?: string | Buffer): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: d.port, method, path, headers }, (res) => {
      let b = '';
      res.on('data', (c) => (b += c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: b }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

beforeAll(async () => {
  d = await startDaemon();
  ollama = new Ollama({ host: d.url });
});

afterAll(async () => {
  await d?.stop();
  if (d) cleanup(d.home);
});

describe('Ollama REST API through the official ollama client', () => {
  it('answers GET / and version', async () => {
    const r = await fetch(`${d.url}/`);
    expect(await r.text()).toBe('kiln is running');
    const v = await ollama.version();
    expect(v.version).toBe(JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version);
    expect((await fetch(`${d.url}/api/version`, { method: 'HEAD' })).status).toBe(200);
    expect((await fetch(`${d.url}/api/tags`, { method: 'HEAD' })).status).toBe(200);
  });

  it('lists the bundled demo model with details read from its GGUF', async () => {
    const { models } = await ollama.list();
    const kjv = models.find((m) => m.name === 'kjv:latest');
    expect(kjv).toBeDefined();
    expect(kjv!.model).toBe('kjv:latest');
    expect(kjv!.digest).toMatch(/^[0-9a-f]{64}$/);
    expect(kjv!.size).toBeGreaterThan(kjvBytes.length);
    expect(kjv!.details).toMatchObject({ format: 'gguf', family: 'llama', families: ['llama'], quantization_level: 'F16' });
    expect(kjv!.details.parameter_size).toBe('5.5M');
    expect(Number.isNaN(Date.parse(String(kjv!.modified_at)))).toBe(false);
  });

  it('shows a model: details, model_info from the GGUF, parameters and license', async () => {
    const s = await ollama.show({ model: 'kjv' });
    const info = s.model_info as unknown as Record<string, unknown>;
    expect(info['general.architecture']).toBe('llama');
    expect(info['llama.context_length']).toBe(256);
    expect(info['llama.embedding_length']).toBe(256);
    expect(info['llama.attention.head_count_kv']).toBe(4);
    expect(s.details.quantization_level).toBe('F16');
    expect(s.parameters).toMatch(/^num_ctx\s+256$/m);
    expect(s.parameters).toContain('stop                           "<|eot_id|>"');
    expect(s.license).toContain('King James');
    expect(s.modelfile).toMatch(/^FROM .*sha256-[0-9a-f]{64}$/m);
    expect(s.capabilities).toContain('completion');
  });

  it('copies, then deletes, a model; the copy shares the blobs', async () => {
    await ollama.copy({ source: 'kjv', destination: 'kjv-copy:v1' });
    const { models } = await ollama.list();
    const orig = models.find((m) => m.name === 'kjv:latest')!;
    const copy = models.find((m) => m.name === 'kjv-copy:v1')!;
    expect(copy.digest).toBe(orig.digest);
    const blobsBefore = readdirSync(join(d.home, 'models', 'blobs')).length;
    await ollama.delete({ model: 'kjv-copy:v1' });
    expect((await ollama.list()).models.some((m) => m.name === 'kjv-copy:v1')).toBe(false);
    // the original still references every blob, so none was removed
    expect(readdirSync(join(d.home, 'models', 'blobs')).length).toBe(blobsBefore);
    await expect(ollama.show({ model: 'kjv' })).resolves.toBeDefined();
  });

  it('creates a model from another with a system prompt and parameters, streaming progress', async () => {
    const stream = await ollama.create({ model: 'pirate', from: 'kjv', system: 'Talk like a pirate.', parameters: { temperature: 0.5 }, stream: true });
    const statuses: string[] = [];
    for await (const p of stream) statuses.push(p.status);
    expect(statuses.at(-1)).toBe('success');
    expect(statuses).toContain('writing manifest');
    const s = await ollama.show({ model: 'pirate' });
    expect(s.system).toBe('Talk like a pirate.');
    expect(s.parameters).toMatch(/^temperature\s+0.5$/m);
    expect(s.parameters).toMatch(/^num_ctx\s+256$/m); // inherited
    expect(s.details.family).toBe('llama');
  });

  it('creates a model from an uploaded GGUF blob (HEAD/POST /api/blobs then files)', async () => {
    const path = `/api/blobs/${kjvDigest}`;
    expect((await fetch(`${d.url}${path}`, { method: 'HEAD' })).status).toBe(200); // the demo import stored it
    const text = Buffer.from('not a gguf at all');
    const textDigest = `sha256:${createHash('sha256').update(text).digest('hex')}`;
    expect((await fetch(`${d.url}/api/blobs/${textDigest}`, { method: 'HEAD' })).status).toBe(404);
    expect((await fetch(`${d.url}/api/blobs/${textDigest}`, { method: 'POST', body: text })).status).toBe(201);
    expect((await fetch(`${d.url}/api/blobs/${textDigest}`, { method: 'HEAD' })).status).toBe(200);

    const r = (await ollama.create({ model: 'fromfile:q', files: { 'kjv.gguf': kjvDigest }, template: '{{ .Prompt }}' } as never)) as { status: string };
    expect(r.status).toBe('success');
    const s = await ollama.show({ model: 'fromfile:q' });
    expect(s.template).toBe('{{ .Prompt }}');
    expect(s.parameters ?? '').toBe('');
    // a blob that is not a GGUF is refused with a clear error
    await expect(ollama.create({ model: 'bad', files: { 'x.gguf': textDigest } } as never)).rejects.toThrow(/GGUF/i);
    // a file that was never uploaded
    await expect(ollama.create({ model: 'bad', files: { 'x.gguf': `sha256:${'0'.repeat(64)}` } } as never)).rejects.toThrow(/not on the server/);
  });

  it('rejects a blob whose bytes do not match its digest with 400 and keeps nothing', async () => {
    const wrong = `sha256:${'a'.repeat(64)}`;
    const r = await fetch(`${d.url}/api/blobs/${wrong}`, { method: 'POST', body: Buffer.from('hello') });
    expect(r.status).toBe(400);
    expect((await r.json()).error).toMatch(/digest mismatch/);
    expect((await fetch(`${d.url}/api/blobs/${wrong}`, { method: 'HEAD' })).status).toBe(404);
    const files = readdirSync(join(d.home, 'models', 'blobs'));
    expect(files.some((f) => f.includes('a'.repeat(64)) || f.startsWith('.tmp-'))).toBe(false);
  });

  it('refuses digests that are not sha256:<64 lower-case hex> before touching the disk', async () => {
    for (const bad of ['sha256:..%2F..%2Fetc', `sha256:${'A'.repeat(64)}`, 'sha256:abc', `sha512:${'a'.repeat(64)}`]) {
      const r = await fetch(`${d.url}/api/blobs/${bad}`, { method: 'POST', body: 'x' });
      expect(r.status, bad).toBe(400);
    }
  });

  it('answers ps with an empty list while nothing is loaded', async () => {
    expect(await ollama.ps()).toEqual({ models: [] });
  });

  it('answers 404 with Ollama\'s exact error for an unknown model', async () => {
    const r = await fetch(`${d.url}/api/show`, { method: 'POST', body: JSON.stringify({ model: 'nope' }) });
    expect(r.status).toBe(404);
    expect(await r.json()).toEqual({ error: "model 'nope' not found" });
    await expect(ollama.delete({ model: 'nope' })).rejects.toThrow("model 'nope' not found");
    await expect(ollama.copy({ source: 'nope', destination: 'x' })).rejects.toThrow("model 'nope' not found");
  });

  it('answers 400 for malformed JSON and bad names, 413 for an oversized body', async () => {
    let r = await fetch(`${d.url}/api/show`, { method: 'POST', body: '{"model":' });
    expect(r.status).toBe(400);
    expect((await r.json()).error).toMatch(/invalid JSON/);
    r = await fetch(`${d.url}/api/show`, { method: 'POST', body: JSON.stringify({ model: '../../etc/passwd' }) });
    expect(r.status).toBe(400);
    r = await fetch(`${d.url}/api/show`, { method: 'POST', body: JSON.stringify({ model: 'x', pad: 'y'.repeat(33 * 1024 * 1024) }) });
    expect(r.status).toBe(413);
    // no Content-Length: the limit holds while reading a chunked body, and the daemon answers before reading it all
    const chunked = await new Promise<string>((resolve, reject) => {
      const req = request(`${d.url}/api/show`, { method: 'POST', headers: { 'transfer-encoding': 'chunked' } }, (res) => {
        let b = '';
        res.on('data', (x) => (b += x));
        res.on('end', () => resolve(`${res.statusCode} ${b}`));
      });
      req.on('error', reject);
      const mib = Buffer.alloc(1 << 20, 0x20);
      let sent = 0;
      const pump = () => {
        while (sent < 40) {
          sent++;
          if (!req.write(mib)) return void req.once('drain', pump);
        }
        req.end();
      };
      req.write('{"model":"x","pad":"');
      pump();
    });
    expect(chunked).toMatch(/^413 .*larger than the 33554432-byte limit/);
  });

  it('refuses a foreign Host header (DNS rebinding) and foreign browser origins', async () => {
    expect((await raw('GET', '/api/tags', { Host: 'evil.example.com' })).status).toBe(403);
    expect((await raw('GET', '/api/tags', { Host: `localhost:${d.port}` })).status).toBe(200);
    expect((await raw('GET', '/api/tags', { Host: `127.0.0.1:${d.port}` })).status).toBe(200);
    const bad = await raw('GET', '/api/tags', { Origin: 'https://evil.example.com' });
    expect(bad.status).toBe(403);
    const ok = await raw('GET', '/api/tags', { Origin: 'http://localhost:3000' });
    expect(ok.status).toBe(200);
    expect(ok.headers['access-control-allow-origin']).toBe('http://localhost:3000');
    const pre = await raw('OPTIONS', '/api/chat', { Origin: 'http://127.0.0.1:8080', 'Access-Control-Request-Method': 'POST' });
    expect(pre.status).toBe(204);
  });
});
