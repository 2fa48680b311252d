import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from './helpers/daemon.js';

/**
 * The suite's closing line, from test/summary-reporter.ts: vitest runs in a
 * child process on test/fixtures/summary-reporter (its own config; the
 * *.fixture.ts files there are outside the main suite's include pattern):
 * one test passes, one fails, one is skipped, and one file throws on import.
 */
describe('the summary reporter', () => {
  it('ends with "1 passed, 1 failed, 1 skipped", names the file that broke outside any test, and the run fails', () => {
    const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1', CI: '1' };
    // This process is itself a vitest worker: none of its settings may leak into the child run.
    for (const k of Object.keys(env)) if (k.startsWith('VITEST') || k === 'TEST' || k === 'NODE_ENV') delete env[k];
    const r = spawnSync(process.execPath, [join(ROOT, 'node_modules', 'vitest', 'vitest.mjs'), 'run'], {
      cwd: join(ROOT, 'test', 'fixtures', 'summary-reporter'),
      env,
      encoding: 'utf8',
      timeout: 120_000,
    });
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines.at(-1), r.stdout + r.stderr).toBe('1 passed, 1 failed, 1 skipped');
    expect(lines.at(-2)).toBe('1 test file(s) failed outside any test: broken.fixture.ts');
    // vitest's own count agrees
    expect(r.stdout).toMatch(/Tests\s+1 failed \| 1 passed \| 1 skipped \(3\)/);
    expect(r.status).not.toBe(0);
    expect(r.status).not.toBeNull();
  });
});
