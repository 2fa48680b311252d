/**
 * The real CNCF Distribution registry (Debian's `docker-registry`) for tests:
 * started on 127.0.0.1 and a free port with filesystem storage in a temp dir,
 * `redirect: disable` (blobs are served by the registry itself), and optionally
 * htpasswd (bcrypt, made with apache2-utils' `htpasswd`) or token auth (JWTs
 * from the small token server in token-server.ts, checked against a
 * certificate made with `openssl`).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { cleanup, tempHome } from './daemon.js';
import { startTokenServer, type TokenServer } from './token-server.js';

export const REGISTRY_BIN = process.env.KILN_TEST_REGISTRY_BIN ?? '/usr/bin/docker-registry';

/** True when the registry binary is installed (.ci/run installs it; a bare dev machine may not have it). */
export function registryAvailable(): boolean {
  return existsSync(REGISTRY_BIN);
}

export interface Registry {
  /** `127.0.0.1:PORT`: the host part of model names (`127.0.0.1:PORT/ns/model:tag`). */
  host: string;
  /** `http://127.0.0.1:PORT` */
  url: string;
  port: number;
  dir: string;
  /** Credentials that the registry (or its token server) accepts. */
  user?: { username: string; password: string };
  token?: TokenServer;
  log: () => string;
  stop(): Promise<void>;
}

export interface RegistryOptions {
  auth?: 'none' | 'htpasswd' | 'token';
}

/** A port that was free a moment ago (the registry binds it itself). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

function yaml(lines: (string | false)[]): string {
  return lines.filter((l): l is string => l !== false).join('\n') + '\n';
}

export async function startRegistry(opts: RegistryOptions = {}): Promise<Registry> {
  const auth = opts.auth ?? 'none';
  const dir = tempHome('kiln-registry-');
  mkdirSync(join(dir, 'data'));
  const port = await freePort();
  const user = auth === 'none' ? undefined : { username: 'kiln', password: randomBytes(9).toString('base64url') };
  let token: TokenServer | undefined;
  const authLines: string[] = [];
  if (auth === 'htpasswd') {
    // bcrypt is the only hash Distribution accepts.
    const line = execFileSync('htpasswd', ['-nbB', user!.username, user!.password], { encoding: 'utf8' }).trim();
    writeFileSync(join(dir, 'htpasswd'), line + '\n');
    authLines.push('auth:', '  htpasswd:', '    realm: kiln-test', `    path: ${join(dir, 'htpasswd')}`);
  } else if (auth === 'token') {
    token = await startTokenServer(dir, { users: { [user!.username]: user!.password } });
    authLines.push(
      'auth:',
      '  token:',
      `    realm: ${token.realm}`,
      `    service: ${token.service}`,
      `    issuer: ${token.issuer}`,
      `    rootcertbundle: ${token.certPath}`,
    );
  }
  const config = yaml([
    'version: 0.1',
    'log:',
    '  level: error',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${join(dir, 'data')}`,
    '  delete:',
    '    enabled: true',
    '  redirect:',
    '    disable: true',
    '  maintenance:',
    '    uploadpurging:',
    '      enabled: false',
    'http:',
    `  addr: 127.0.0.1:${port}`,
    `  secret: ${randomBytes(16).toString('hex')}`,
    ...authLines,
  ]);
  const configPath = join(dir, 'config.yml');
  writeFileSync(configPath, config);

  let out = '';
  const proc: ChildProcess = spawn(REGISTRY_BIN, ['serve', configPath], { stdio: ['ignore', 'pipe', 'pipe'] });
  proc.stdout!.on('data', (d) => (out += d));
  proc.stderr!.on('data', (d) => (out += d));
  let exited = false;
  // A test process that dies without its afterAll must not leave a registry behind.
  const reap = () => proc.kill('SIGKILL');
  process.once('exit', reap);
  proc.once('exit', () => {
    exited = true;
    process.off('exit', reap);
  });

  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (exited) throw new Error(`docker-registry exited:\n${out}`);
    try {
      const r = await fetch(`${url}/v2/`);
      await r.body?.cancel();
      if (r.status === 200 || r.status === 401) break;
    } catch {
      /* not listening yet */
    }
    if (Date.now() > deadline) {
      proc.kill('SIGKILL');
      throw new Error(`docker-registry did not start:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }

  return {
    host: `127.0.0.1:${port}`,
    url,
    port,
    dir,
    user,
    token,
    log: () => out,
    async stop() {
      if (!exited) {
        await new Promise<void>((resolve) => {
          proc.once('exit', () => resolve());
          proc.kill('SIGTERM');
          setTimeout(() => proc.kill('SIGKILL'), 3000).unref();
        });
      }
      await token?.stop();
      cleanup(dir);
    },
  };
}

const digestOf = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/**
 * Puts a one-layer model into the registry with plain HTTP calls (monolithic
 * uploads, then the manifest) and returns its layer's digest.
 */
export async function putModel(reg: Registry, repo: string, tag: string, layer: Buffer, mediaType = 'application/vnd.ollama.image.license'): Promise<string> {
  const config = Buffer.from('{"model_format":"gguf"}');
  for (const b of [layer, config]) {
    const start = await fetch(`${reg.url}/v2/${repo}/blobs/uploads/`, { method: 'POST' });
    const loc = new URL(start.headers.get('location')!, reg.url);
    loc.searchParams.set('digest', digestOf(b));
    const put = await fetch(loc, { method: 'PUT', body: b });
    if (put.status !== 201) throw new Error(`registry upload: ${put.status}`);
  }
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
    config: { mediaType: 'application/vnd.docker.container.image.v1+json', digest: digestOf(config), size: config.length },
    layers: [{ mediaType, digest: digestOf(layer), size: layer.length }],
  });
  const put = await fetch(`${reg.url}/v2/${repo}/manifests/${tag}`, {
    method: 'PUT',
    headers: { 'content-type': 'application/vnd.docker.distribution.manifest.v2+json' },
    body: manifest,
  });
  if (put.status !== 201) throw new Error(`registry manifest: ${put.status}`);
  return digestOf(layer);
}
