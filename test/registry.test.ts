/**
 * Pull and push against the real CNCF Distribution registry (Debian's
 * docker-registry), through the real daemon and CLI.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ollama } from 'ollama';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanup, kiln, startDaemon, type RunningDaemon } from './helpers/daemon.js';
import { registryAvailable, startRegistry, type Registry } from './helpers/registry.js';

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

interface Tags {
  models: { name: string; digest: string; size: number }[];
}

async function tags(d: RunningDaemon): Promise<Tags> {
  return (await (await fetch(`${d.url}/api/tags`)).json()) as Tags;
}

async function ndjson(res: Response): Promise<Record<string, unknown>[]> {
  const text = await res.text();
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));
}

const FAST = { KILN_PULL_RETRY_DELAY: '20', KILN_DEMO_MODEL: '1' };

describe.skipIf(!registryAvailable())('registry: push and pull through a real docker-registry', () => {
  let reg: Registry;
  let src: RunningDaemon;
  beforeAll(async () => {
    [reg, src] = await Promise.all([startRegistry(), startDaemon(undefined, FAST)]);
  });
  afterAll(async () => {
    await src?.stop();
    await reg?.stop();
    if (src) cleanup(src.home);
  });

  it('kiln push then kiln pull into a fresh home gives back the same manifest and blobs', async () => {
    const remote = `${reg.host}/library/kjv:latest`;
    expect(kiln(['cp', 'kjv', remote], src.env).code).toBe(0);
    const push = kiln(['push', remote, '--insecure'], src.env);
    expect(push.stderr, src.log()).toBe("");
    expect(push.code).toBe(0);
    expect(push.stdout).toContain('success');

    const dst = await startDaemon(undefined, { ...FAST, KILN_DEMO_MODEL: '0' });
    try {
      const pull = kiln(['pull', remote, '--insecure'], dst.env);
      expect(pull.stderr).toBe('');
      expect(pull.code).toBe(0);
      expect(pull.stdout).toMatch(/pulling manifest\n(pulling [0-9a-f]{12}\n)+verifying sha256 digest\nwriting manifest\nsuccess/);
      const a = (await tags(src)).models.find((m) => m.name === remote)!;
      const b = (await tags(dst)).models.find((m) => m.name === remote)!;
      expect(b.digest).toBe(a.digest);
      expect(b.size).toBe(a.size);
      // byte for byte: the GGUF blob in both stores
      const show = (await (await fetch(`${dst.url}/api/show`, { method: 'POST', body: JSON.stringify({ model: remote }) })).json()) as { modelfile: string };
      const path = /^FROM (.+)$/m.exec(show.modelfile)![1];
      const orig = readFileSync(join(src.home, 'models', 'blobs', path.slice(path.lastIndexOf('/') + 1)));
      const pulled = readFileSync(path);
      expect(sha(pulled)).toBe(sha(orig));
      expect(path.startsWith(dst.home)).toBe(true);
    } finally {
      await dst.stop();
      cleanup(dst.home);
    }
  });
});
