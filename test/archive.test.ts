/**
 * The archive and maintenance commands through the real daemon and binary:
 * export → import into a fresh home, verify, prune.
 */
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cleanup, kiln, startDaemon } from './helpers/daemon.js';

describe('kiln export / import / verify / prune', () => {
  it('moves a model between two stores as an OCI archive, then verifies and prunes', async () => {
    const a = await startDaemon();
    const b = await startDaemon(undefined, { KILN_DEMO_MODEL: '0' });
    try {
      const tar = join(a.home, 'kjv.tar');
      const ex = await kiln(['export', 'kjv', '-o', tar], a.env);
      expect(ex.stderr).toBe('');
      expect(ex.stdout).toMatch(/exported 'kjv' to .*kjv\.tar \(\d+ MB\)/);
      expect(statSync(tar).size).toBeGreaterThan(10_000_000);

      // a damaged archive is refused (into a store that lacks the damaged blob)
      const bad = Buffer.from(readFileSync(tar));
      bad[bad.length >> 1] ^= 0xff;
      writeFileSync(join(b.home, 'bad.tar'), bad);
      const refused = await kiln(['import', join(b.home, 'bad.tar'), 'broken'], b.env);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(/digest mismatch|invalid model archive/);
      expect((await kiln(['list'], b.env)).stdout).not.toContain('broken');

      const im = await kiln(['import', tar, 'bible:v1'], b.env);
      expect(im.stderr).toBe('');
      expect(im.stdout).toMatch(/importing [0-9a-f]{12}\n(.*\n)*writing manifest\nsuccess/);
      const idA = (await kiln(['list'], a.env)).stdout.match(/kjv:latest\s+([0-9a-f]{12})/)![1];
      expect((await kiln(['list'], b.env)).stdout).toMatch(new RegExp(`bible:v1\\s+${idA}`));

      const ok = await kiln(['verify'], b.env);
      expect(ok.code).toBe(0);
      expect(ok.stdout).toMatch(/\d+ blob\(s\) verified, 0 corrupt/);

      expect((await kiln(['rm', 'bible:v1'], b.env)).code).toBe(0);
      const pr = await kiln(['prune'], b.env);
      expect(pr.code).toBe(0);
      expect(pr.stdout).toMatch(/^removed \d+ unused blob\(s\) and 0 partial download\(s\)/);
    } finally {
      await a.stop();
      await b.stop();
      cleanup(a.home);
      cleanup(b.home);
    }
  });
});
