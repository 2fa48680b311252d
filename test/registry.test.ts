/**
 * Pull and push against the real CNCF Distribution registry (Debian's
 * docker-registry), through the real daemon, the kiln CLI and the `ollama`
 * npm client. Faults the registry cannot produce are covered in
 * registry/pull.test.ts; here a counting, throttling proxy sits in front of the
 * real registry where a test needs to see the traffic.
 */
import { createHash, randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { Ollama } from 'ollama';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { cleanup, KILN, startDaemon, tempHome, type CliResult, type RunningDaemon } from './helpers/daemon.js';
import { proxy, startFaultServer, type FaultServer } from './helpers/fault-server.js';
import { registryAvailable, startRegistry, type Registry } from './helpers/registry.js';

/**
 * The kiln binary, run without blocking this process: the proxy and the token
 * server live in it, and a synchronous spawn would starve them.
 */
function kiln(args: string[], env: NodeJS.ProcessEnv): Promise<CliResult> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [KILN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const FAST = { KILN_PULL_RETRY_DELAY: '20' };

interface ListEntry {
  name: string;
  digest: string;
  size: number;
}

async function tags(d: RunningDaemon): Promise<ListEntry[]> {
  return ((await (await fetch(`${d.url}/api/tags`)).json()) as { models: ListEntry[] }).models;
}

async function ndjson(res: Response): Promise<Record<string, unknown>[]> {
  return (await res.text())
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));
}

/** The GGUF blob path of a model, from /api/show's Modelfile (FROM <blob path>). */
async function modelBlob(d: RunningDaemon, name: string): Promise<string> {
  const show = (await (await fetch(`${d.url}/api/show`, { method: 'POST', body: JSON.stringify({ model: name }) })).json()) as { modelfile: string };
  return /^FROM (.+)$/m.exec(show.modelfile)![1];
}

/** Registry upload by hand: POST a session, PUT the bytes with their digest (monolithic upload). */
async function putBlob(base: string, repo: string, body: Buffer | (() => Readable), digest: string, size: number, auth?: string): Promise<void> {
  const h: Record<string, string> = auth ? { authorization: auth } : {};
  const start = await fetch(`${base}/v2/${repo}/blobs/uploads/`, { method: 'POST', headers: h });
  expect(start.status).toBe(202);
  const loc = new URL(start.headers.get('location')!, base);
  loc.searchParams.set('digest', digest);
  const status = await new Promise<number>((resolve, reject) => {
    const req = request(loc, { method: 'PUT', headers: { ...h, 'content-length': String(size), 'content-type': 'application/octet-stream' } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    if (Buffer.isBuffer(body)) req.end(body);
    else body().pipe(req);
  });
  expect(status).toBe(201);
}

async function putManifest(base: string, repo: string, tag: string, manifest: Buffer, auth?: string): Promise<void> {
  const res = await fetch(`${base}/v2/${repo}/manifests/${tag}`, {
    method: 'PUT',
    headers: { 'content-type': 'application/vnd.docker.distribution.manifest.v2+json', ...(auth ? { authorization: auth } : {}) },
    body: new Uint8Array(manifest),
  });
  expect(res.status, await res.text()).toBe(201);
}

function manifestFor(config: Buffer, layers: { digest: string; size: number }[]): Buffer {
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
      config: { mediaType: 'application/vnd.docker.container.image.v1+json', digest: sha(config), size: config.length },
      layers: layers.map((l) => ({ mediaType: 'application/vnd.ollama.image.model', ...l })),
    }),
  );
}

describe.skipIf(!registryAvailable())('registry: push and pull through a real docker-registry', () => {
  let reg: Registry;
  let src: RunningDaemon;
  let spy: FaultServer; // counts and logs the traffic to `reg`
  beforeAll(async () => {
    [reg, src] = await Promise.all([startRegistry(), startDaemon(undefined, { ...FAST, KILN_PUSH_CHUNK_SIZE: String(4 << 20) })]);
    spy = await startFaultServer(proxy(reg.url));
  });
  afterAll(async () => {
    await src?.stop();
    await spy?.stop();
    await reg?.stop();
    if (src) cleanup(src.home);
  });

  it('kiln push (chunked) then kiln pull into a fresh home gives back the same manifest and blob bytes', async () => {
    const remote = `${spy.host}/library/kjv:latest`;
    expect((await kiln(['cp', 'kjv', remote], src.env)).code).toBe(0);
    spy.seen.length = 0;
    const push = await kiln(['push', remote, '--insecure'], src.env);
    expect(push.stderr).toBe('');
    expect(push.code).toBe(0);
    expect(push.stdout).toMatch(/retrieving manifest\n(pushing [0-9a-f]{12}\n)+pushing manifest\nsuccess/);
    // the 10 MB GGUF went up in 4 MiB PATCH chunks, the small blobs in one PUT each
    expect(spy.seen.filter((r) => r.method === 'PATCH')).toHaveLength(3);
    expect(spy.seen.filter((r) => r.method === 'PUT' && r.path.includes('digest=sha256')).length).toBe(4);

    const dst = await startDaemon(undefined, { ...FAST, KILN_DEMO_MODEL: '0' });
    try {
      const pull = await kiln(['pull', remote, '--insecure'], dst.env);
      expect(pull.stderr).toBe('');
      expect(pull.code).toBe(0);
      expect(pull.stdout).toMatch(/^pulling manifest\n(pulling [0-9a-f]{12}\n)+verifying sha256 digest\nwriting manifest\nsuccess\n$/);
      // one line per status, however the layers' progress interleaves
      const lines = pull.stdout.trimEnd().split('\n');
      expect(new Set(lines).size).toBe(lines.length);
      const a = (await tags(src)).find((m) => m.name === remote)!;
      const b = (await tags(dst)).find((m) => m.name === remote)!;
      expect(b.digest).toBe(a.digest); // same manifest bytes: same model ID
      expect(b.size).toBe(a.size);
      const pulled = await modelBlob(dst, remote);
      expect(pulled.startsWith(dst.home)).toBe(true);
      expect(readFileSync(pulled).equals(readFileSync(await modelBlob(src, 'kjv')))).toBe(true);
      // the pulled model can be pushed elsewhere and shown like any other
      expect((await kiln(['show', remote], dst.env)).stdout).toContain('architecture');
    } finally {
      await dst.stop();
      cleanup(dst.home);
    }
  });

  it('mounts a blob from another repository of the same registry instead of uploading it again', async () => {
    const first = `${spy.host}/library/kjv:latest`;
    const second = `${spy.host}/other/kjv-copy:v1`;
    expect((await kiln(['cp', 'kjv', first], src.env)).code).toBe(0);
    expect((await kiln(['push', first, '--insecure'], src.env)).code).toBe(0);
    expect((await kiln(['cp', 'kjv', second], src.env)).code).toBe(0);
    spy.seen.length = 0;
    const push = await kiln(['push', second, '--insecure'], src.env);
    expect(push.code, push.stderr).toBe(0);
    const mounts = spy.seen.filter((r) => r.method === 'POST' && r.path.includes('mount=sha256'));
    expect(mounts.length).toBe(4);
    expect(mounts.every((r) => r.path.includes('from=library%2Fkjv'))).toBe(true);
    expect(spy.seen.filter((r) => r.method === 'PATCH' || (r.method === 'PUT' && r.path.includes('/blobs/')))).toEqual([]);
    const got = await fetch(`${reg.url}/v2/other/kjv-copy/manifests/v1`, { headers: { accept: 'application/vnd.docker.distribution.manifest.v2+json' } });
    expect(got.status).toBe(200);
  });

  it('pulls a model pushed with plain HTTP calls, byte for byte, and tags it by the name asked for', async () => {
    const layer = randomBytes(3 << 20);
    const config = Buffer.from(JSON.stringify({ model_format: 'gguf', model_family: 'llama', rootfs: { type: 'layers', diff_ids: [sha(layer)] } }));
    await putBlob(reg.url, 'hand/made', layer, sha(layer), layer.length);
    await putBlob(reg.url, 'hand/made', config, sha(config), config.length);
    const manifest = manifestFor(config, [{ digest: sha(layer), size: layer.length }]);
    await putManifest(reg.url, 'hand/made', '8b-q4_K_M', manifest);

    const dst = await startDaemon(undefined, { ...FAST, KILN_DEMO_MODEL: '0' });
    try {
      // `:8b` names no quantization and is missing: the Q4_K_M tag is used
      const res = await fetch(`${dst.url}/api/pull`, { method: 'POST', body: JSON.stringify({ model: `${reg.host}/hand/made:8b`, insecure: true, stream: false }) });
      expect(await res.json()).toEqual({ status: 'success' });
      const entry = (await tags(dst)).find((m) => m.name === `${reg.host}/hand/made:8b-q4_K_M`)!;
      expect(entry.digest).toBe(sha(manifest).slice(7));
      expect(readFileSync(join(dst.home, 'models', 'blobs', sha(layer).replace(':', '-'))).equals(layer)).toBe(true);
      // without --insecure the registry is spoken to over https, which this one does not do
      const secure = await fetch(`${dst.url}/api/pull`, { method: 'POST', body: JSON.stringify({ model: `${reg.host}/hand/made:8b-q4_K_M`, stream: false }) });
      expect(secure.status).toBeGreaterThanOrEqual(400);
      expect(((await secure.json()) as { error: string }).error).toMatch(/127\.0\.0\.1/);
    } finally {
      await dst.stop();
      cleanup(dst.home);
    }
  });

  it('kiln pull of a plain-http registry without --insecure says to add it, not what OpenSSL said', async () => {
    const pull = await kiln(['pull', `${reg.host}/library/m`], src.env);
    expect(pull.code).toBe(1);
    expect(pull.stderr).toBe(`Error: ${reg.host} does not speak https (it answered the TLS handshake in plain http); if it is a plain-http registry, add --insecure\n`);
    expect(pull.stderr).not.toMatch(/wrong version number|SSL routines/);
  });

  it('kiln run of a model the registry does not have: not on this machine, and no such model there', async () => {
    const run = await kiln(['run', `${reg.host}/library/nosuch`, 'hi', '--insecure'], src.env);
    expect(run.code).toBe(1);
    expect(run.stderr).toBe(`Error: model '${reg.host}/library/nosuch' is not on this machine, and pulling it failed: the registry ${reg.host} has no such model\n`);
    expect(run.stdout).toBe('');
  });

  it('the ollama npm client pulls and pushes with streaming progress', async () => {
    const ollama = new Ollama({ host: src.url });
    const remote = `${reg.host}/client/kjv:stream`;
    await ollama.copy({ source: 'kjv', destination: remote });
    const pushed: string[] = [];
    for await (const p of await ollama.push({ model: remote, insecure: true, stream: true })) pushed.push(p.status);
    expect(pushed[0]).toBe('retrieving manifest');
    expect(pushed.at(-1)).toBe('success');
    expect(pushed).toContain('pushing manifest');

    const dst = await startDaemon(undefined, { ...FAST, KILN_DEMO_MODEL: '0' });
    try {
      const client = new Ollama({ host: dst.url });
      const events: { status: string; digest?: string; total?: number; completed?: number }[] = [];
      for await (const p of await client.pull({ model: remote, insecure: true, stream: true })) events.push(p);
      expect(events[0].status).toBe('pulling manifest');
      expect(events.slice(-3).map((e) => e.status)).toEqual(['verifying sha256 digest', 'writing manifest', 'success']);
      const layer = events.filter((e) => e.digest && e.total === e.completed && e.total! > 1_000_000);
      expect(layer.length).toBeGreaterThan(0);
      expect(layer[0].status).toBe(`pulling ${layer[0].digest!.slice(7, 19)}`);
      expect((await client.list()).models.map((m) => m.name)).toContain(remote);
      // a name the registry does not have: Ollama's error
      await expect(client.pull({ model: `${reg.host}/client/nope:x`, insecure: true })).rejects.toThrow(/file does not exist/);
    } finally {
      await dst.stop();
      cleanup(dst.home);
    }
  });
});

describe.skipIf(!registryAvailable())('registry auth against the real registry', () => {
  for (const mode of ['htpasswd', 'token'] as const) {
    it(`pushes and pulls with ${mode === 'token' ? 'Bearer token' : 'Basic'} auth, credentials from $KILN_HOME/auth.json`, async () => {
      const reg = await startRegistry({ auth: mode });
      const home = tempHome();
      const auth = { auths: { [reg.host]: { auth: Buffer.from(`${reg.user!.username}:${reg.user!.password}`).toString('base64') } } };
      writeFileSync(join(home, 'auth.json'), JSON.stringify(auth));
      const d = await startDaemon(home, { ...FAST, DOCKER_CONFIG: join(home, 'no-docker') });
      try {
        const remote = `${reg.host}/secure/kjv:latest`;
        expect((await kiln(['cp', 'kjv', remote], d.env)).code).toBe(0);
        const push = await kiln(['push', remote, '--insecure'], d.env);
        expect(push.stderr).toBe('');
        expect(push.code).toBe(0);
        if (reg.token) {
          expect(reg.token.requests.length).toBeGreaterThan(0);
          expect(reg.token.requests.every((r) => r.authorized)).toBe(true);
          // a push asks for both actions on the repository (in whichever order the challenge named them)
          const actions = (s: string) => new Set(s.split(':').pop()!.split(','));
          expect(reg.token.requests.some((r) => r.scopes.some((s) => actions(s).has('pull') && actions(s).has('push'))), JSON.stringify(reg.token.requests)).toBe(true);
        }
        expect((await kiln(['rm', remote], d.env)).code).toBe(0);
        const pull = await kiln(['pull', remote, '--insecure'], d.env);
        expect(pull.stderr).toBe('');
        expect(pull.code).toBe(0);

        // without credentials: a clear error, not a hang or a crash
        writeFileSync(join(home, 'auth.json'), '{}');
        const anon = await kiln(['pull', remote, '--insecure'], d.env);
        expect(anon.code).toBe(1);
        expect(anon.stderr).toMatch(mode === 'token' ? /denied|unauthorized|UNAUTHORIZED/i : /requires a login/);
        // kiln run says first that the model is not here, then that the registry wants a login
        expect((await kiln(['rm', remote], d.env)).code).toBe(0);
        const run = await kiln(['run', remote, 'hi', '--insecure'], d.env);
        expect(run.code).toBe(1);
        expect(run.stderr).toMatch(new RegExp(`^Error: model '${remote.replace(/[.]/g, '\\.')}' is not on this machine, and pulling it failed: `));
        expect(run.stderr).toMatch(mode === 'token' ? /refused access|denied|unauthorized/i : /requires a login/);
      } finally {
        await d.stop();
        cleanup(home);
        await reg.stop();
      }
    });
  }
});
