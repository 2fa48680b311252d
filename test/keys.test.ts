/**
 * API keys with the real daemon, the real `kiln` binary and the official
 * clients: open until a key exists, then every TCP request needs one (Bearer
 * or x-api-key), one 401 for every kind of bad key (OpenAI-shaped on /v1),
 * 403 for a valid key of too narrow a scope, revoked keys refused, the unix
 * socket free of keys, only hashes on disk, and the refusal to start on a
 * non-loopback address without a key.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import OpenAI from 'openai';
import { Ollama } from 'ollama';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanup, kiln, kilnEnv, startDaemon, tempHome, type RunningDaemon } from './helpers/daemon.js';

let d: RunningDaemon;
let inference: string;
let admin: string;

beforeAll(async () => {
  d = await startDaemon(undefined, { KILN_METRICS: '1' });
});

afterAll(async () => {
  await d?.stop();
  if (d) cleanup(d.home);
});

const UNAUTHORIZED = { error: 'unauthorized: a valid API key is required' };

async function get(path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: unknown }> {
  const r = await fetch(`${d.url}${path}`, { headers });
  const text = await r.text();
  return { status: r.status, body: text.startsWith('{') ? JSON.parse(text) : text };
}

async function status(p: Promise<unknown>): Promise<number | undefined> {
  try {
    await p;
    return 200;
  } catch (e) {
    return (e as { status_code?: number; status?: number }).status_code ?? (e as { status?: number }).status;
  }
}

describe('API keys', () => {
  it('leaves the API open while no key exists', async () => {
    expect((await get('/api/tags')).status).toBe(200);
    const list = await kiln(['keys', 'list'], d.env);
    expect(list.code).toBe(0);
    expect(list.stdout.trim()).toBe('ID   NAME   SCOPE   CREATED   LAST USED   STATUS');
  });

  it('kiln keys create prints a key once; only its hash is stored', async () => {
    const a = await kiln(['keys', 'create', '--scope', 'inference', '--name', 'ci'], d.env);
    expect(a.code).toBe(0);
    inference = a.stdout.trim();
    expect(inference).toMatch(/^kiln_[A-Za-z0-9_-]{43}$/);
    expect(a.stderr).toMatch(/Created inference key [0-9a-f]{8} 'ci'/);
    const b = await kiln(['keys', 'create', '--scope', 'admin'], d.env);
    expect(b.code).toBe(0);
    admin = b.stdout.trim();
    expect(admin).not.toBe(inference);
    for (const f of ['kiln.db', 'kiln.db-wal'].map((n) => join(d.home, n)).filter(existsSync)) {
      const bytes = readFileSync(f).toString('latin1');
      expect(bytes).not.toContain(inference);
      expect(bytes).not.toContain(admin);
    }
    const bad = await kiln(['keys', 'create', '--scope', 'root'], d.env);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/--scope inference or --scope admin/);
  });

  it('then refuses TCP requests without a valid key with one 401 that does not say what was wrong, and logs each', async () => {
    const before = d.log().split('auth: refused').length;
    for (const headers of [{}, { authorization: 'Bearer kiln_wrong' }, { authorization: `Basic ${inference}` }, { 'x-api-key': `${inference}x` }, { authorization: 'Bearer' }]) {
      const r = await get('/api/tags', headers);
      expect(r.status).toBe(401);
      expect(r.body).toEqual(UNAUTHORIZED);
    }
    expect(d.log().split('auth: refused').length - before).toBe(5);
    expect(d.log()).toMatch(/auth: refused GET \/api\/tags from 127\.0\.0\.1: no API key/);
    // OpenAI's shape on /v1, for every client that reads it
    const v1 = await get('/v1/models', { authorization: 'Bearer nope' });
    expect(v1).toEqual({ status: 401, body: { error: { message: UNAUTHORIZED.error, type: 'authentication_error', param: null, code: 'invalid_api_key' } } });
    // the daemon is up and counted them
    expect((await get('/api/version', { 'x-api-key': inference })).status).toBe(200);
  });

  it('works with the official clients given a key (Bearer or x-api-key)', async () => {
    expect((await get('/api/tags', { 'x-api-key': inference })).status).toBe(200);
    const ollama = new Ollama({ host: d.url, headers: { Authorization: `Bearer ${inference}` } });
    expect((await ollama.list()).models.map((m) => m.name)).toContain('kjv:latest');
    expect((await ollama.show({ model: 'kjv' })).details.family).toBe('llama');
    const g = await ollama.generate({ model: 'kjv', prompt: 'In the beginning', options: { num_predict: 4, temperature: 0 } });
    expect(g.eval_count).toBe(4);
    expect((await ollama.embed({ model: 'kjv', input: 'light' })).embeddings).toHaveLength(1);
    const tok = await fetch(`${d.url}/api/tokenize`, { method: 'POST', headers: { authorization: `Bearer ${inference}` }, body: JSON.stringify({ model: 'kjv', content: 'God' }) });
    expect(tok.status).toBe(200);

    const openai = new OpenAI({ baseURL: `${d.url}/v1`, apiKey: inference, maxRetries: 0 });
    const chat = await openai.chat.completions.create({ model: 'kjv', messages: [{ role: 'user', content: 'light' }], max_tokens: 3, temperature: 0 });
    expect(chat.usage?.completion_tokens).toBe(3);
    const wrong = new OpenAI({ baseURL: `${d.url}/v1`, apiKey: 'kiln_not-a-key', maxRetries: 0 });
    const err = await wrong.models.list().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.AuthenticationError);
    expect((err as InstanceType<typeof OpenAI.AuthenticationError>).code).toBe('invalid_api_key');
    expect(await status(new Ollama({ host: d.url }).list())).toBe(401);
  });

  it('gives an inference key 403 on pull, push, create, copy and delete; an admin key may', async () => {
    const ollama = new Ollama({ host: d.url, headers: { Authorization: `Bearer ${inference}` } });
    expect(await status(ollama.copy({ source: 'kjv', destination: 'kjv-copy' }))).toBe(403);
    expect(await status(ollama.delete({ model: 'kjv' }))).toBe(403);
    expect(await status(ollama.pull({ model: '127.0.0.1:1/x/y', insecure: true }))).toBe(403);
    expect(await status(ollama.push({ model: 'kjv', insecure: true }))).toBe(403);
    expect(await status(ollama.create({ model: 'kjv2', from: 'kjv' }))).toBe(403);
    const forbidden = await get('/api/ps', {});
    expect(forbidden.status).toBe(401);
    const r = await fetch(`${d.url}/api/copy`, { method: 'POST', headers: { authorization: `Bearer ${inference}` }, body: '{"source":"kjv","destination":"x"}' });
    expect(r.status).toBe(403);
    expect(await r.json()).toEqual({ error: 'forbidden: POST /api/copy needs an admin key' });
    expect(d.log()).toMatch(/auth: refused POST \/api\/copy from 127\.0\.0\.1: key [0-9a-f]{8} has scope inference/);

    const root = new Ollama({ host: d.url, headers: { Authorization: `Bearer ${admin}` } });
    await root.copy({ source: 'kjv', destination: 'kjv-copy' });
    await root.delete({ model: 'kjv-copy' });
    expect((await root.list()).models.map((m) => m.name)).toEqual(['kjv:latest']);
  });

  it('never serves key management over TCP, even to an admin key', async () => {
    expect((await get('/api/keys', { authorization: `Bearer ${admin}` })).status).toBe(404);
  });

  it('keeps /metrics behind a key (any scope) when keys are on', async () => {
    expect((await get('/metrics')).status).toBe(401);
    const m = await get('/metrics', { authorization: `Bearer ${inference}` });
    expect(m.status).toBe(200);
    expect(String(m.body)).toMatch(/kiln_http_requests_total\{method="GET",route="\/api\/tags",status="401"\} \d+/);
  });

  it('needs no key on the unix socket (the CLI)', async () => {
    const ls = await kiln(['list'], d.env);
    expect(ls.code).toBe(0);
    expect(ls.stdout).toContain('kjv:latest');
    const keys = await kiln(['keys', 'list'], d.env);
    expect(keys.stdout.trim()).toMatch(/^ID +NAME +SCOPE +CREATED +LAST USED +STATUS\n[0-9a-f]{8} +ci +inference .* active\n[0-9a-f]{8} +- +admin .* active$/);
  });

  it('refuses a revoked key', async () => {
    const r = await kiln(['keys', 'revoke', 'ci'], d.env);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^revoked key [0-9a-f]{8}\n$/);
    expect(await get('/api/tags', { authorization: `Bearer ${inference}` })).toEqual({ status: 401, body: UNAUTHORIZED });
    expect((await get('/api/tags', { authorization: `Bearer ${admin}` })).status).toBe(200);
    expect((await kiln(['keys', 'list'], d.env)).stdout).toMatch(/ci +inference .* revoked/);
    const again = await kiln(['keys', 'revoke', 'ci'], d.env);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/no active API key with id or name 'ci'/);
  });
});

describe('binding beyond loopback', () => {
  it('refuses to start on a non-loopback KILN_HOST with no key and says why; KILN_ALLOW_OPEN=1 overrides', async () => {
    const home = tempHome();
    try {
      const env = kilnEnv(home, { KILN_HOST: '0.0.0.0:0', KILN_DEMO_MODEL: '0' });
      const r = await kiln(['serve'], env);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/refusing to listen on 0\.0\.0\.0:0 with no API key.*kiln keys create --scope admin.*KILN_ALLOW_OPEN=1/s);
      const open = await startDaemon(home, { KILN_HOST: '0.0.0.0:0', KILN_DEMO_MODEL: '0', KILN_ALLOW_OPEN: '1' });
      try {
        expect((await fetch(`${open.url}/api/tags`)).status).toBe(200);
      } finally {
        await open.stop();
      }
    } finally {
      cleanup(home);
    }
  });

  it('starts once a key exists (made with no daemon running), and will not revoke the last key', async () => {
    const home = tempHome();
    try {
      const env = kilnEnv(home, { KILN_HOST: '0.0.0.0:0', KILN_DEMO_MODEL: '0' });
      const made = await kiln(['keys', 'create', '--scope', 'admin', '--name', 'ops'], env);
      expect(made.code).toBe(0);
      const key = made.stdout.trim();
      const pub = await startDaemon(home, { KILN_HOST: '0.0.0.0:0', KILN_DEMO_MODEL: '0' });
      try {
        expect((await fetch(`${pub.url}/api/tags`)).status).toBe(401);
        expect((await fetch(`${pub.url}/api/tags`, { headers: { authorization: `Bearer ${key}` } })).status).toBe(200);
        const r = await kiln(['keys', 'revoke', 'ops'], pub.env);
        expect(r.code).toBe(1);
        expect(r.stderr).toMatch(/revoking the last API key would leave 0\.0\.0\.0:0 open/);
        expect((await fetch(`${pub.url}/api/tags`)).status).toBe(401);
      } finally {
        await pub.stop();
      }
    } finally {
      cleanup(home);
    }
  });
});
