import { createHash, randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { cleanup, kiln, startDaemon, tempHome } from './helpers/daemon.js';

describe('a daemon killed with SIGKILL in the middle of a create', () => {
  it('restarts with a consistent store: no half blob visible, no manifest pointing at a missing blob', async () => {
    const home = tempHome();
    const d = await startDaemon(home);
    // A 64 MiB "model" uploaded slowly, so the kill lands mid-blob.
    const chunk = randomBytes(1 << 20);
    const total = 64;
    const h = createHash('sha256');
    for (let i = 0; i < total; i++) h.update(chunk);
    const digest = `sha256:${h.digest('hex')}`;
    let sent = 0;
    const req = request({ host: '127.0.0.1', port: d.port, method: 'POST', path: `/api/blobs/${digest}`, headers: { 'content-length': String(total << 20) } });
    req.on('error', () => {});
    await new Promise<void>((resolve) => {
      const tick = () => {
        if (sent === 8) return resolve();
        req.write(chunk);
        sent++;
        setTimeout(tick, 20);
      };
      tick();
    });
    // the partial upload exists on disk as a temp file, invisible as a blob
    await new Promise((r) => setTimeout(r, 200));
    const blobsDir = join(home, 'models', 'blobs');
    expect(readdirSync(blobsDir).some((f) => f.startsWith('.tmp-'))).toBe(true);
    expect((await fetch(`${d.url}/api/blobs/${digest}`, { method: 'HEAD' })).status).toBe(404);

    // ... and a create running at the same moment
    const creating = fetch(`${d.url}/api/create`, { method: 'POST', body: JSON.stringify({ model: 'half', from: 'kjv', system: 'x'.repeat(1000) }) }).catch(() => null);
    await new Promise((r) => setTimeout(r, 5));
    d.proc.kill('SIGKILL');
    await new Promise((r) => d.proc.once('exit', r));
    await creating;
    req.destroy();

    const again = await startDaemon(home);
    try {
      expect(again.log()).toMatch(/removed \d+ unfinished blob file/);
      expect(readdirSync(blobsDir).some((f) => f.startsWith('.tmp-'))).toBe(false);
      expect((await fetch(`${again.url}/api/blobs/${digest}`, { method: 'HEAD' })).status).toBe(404);
      const list = await kiln(['list'], again.env);
      expect(list.code).toBe(0);
      expect(list.stdout).toContain('kjv:latest');

      // every manifest's blobs exist on disk and in the blobs table
      const db = new Database(join(home, 'kiln.db'), { readonly: true });
      const rows = db.prepare('SELECT model, digest FROM model_blobs').all() as { model: string; digest: string }[];
      const files = new Set(readdirSync(blobsDir));
      for (const r of rows) expect(files.has(r.digest.replace(':', '-')), `${r.model} → ${r.digest}`).toBe(true);
      const blobRows = db.prepare('SELECT digest FROM blobs').all() as { digest: string }[];
      for (const b of blobRows) expect(files.has(b.digest.replace(':', '-'))).toBe(true);
      db.close();
      // a create after the restart works
      const r = await fetch(`${again.url}/api/create`, { method: 'POST', body: JSON.stringify({ model: 'after', from: 'kjv', stream: false }) });
      expect(await r.json()).toEqual({ status: 'success' });
    } finally {
      await again.stop();
      cleanup(home);
    }
  });
});
