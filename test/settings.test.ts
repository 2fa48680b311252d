/**
 * The settings table as a user meets it, through the real `kiln` binary:
 * `kiln serve --help` lists every setting with its default, a bad value
 * stops `kiln serve` with one line naming the variable and the accepted
 * form, and KILN_DEBUG=1 logs every request.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { SETTINGS, type Setting } from '../settings/settings.js';
import { cleanup, kiln, kilnEnv, startDaemon, tempHome, type RunningDaemon } from './helpers/daemon.js';

const home = tempHome();
afterAll(() => cleanup(home));

describe('kiln serve --help', () => {
  it('lists every setting of the table with its default', async () => {
    const r = await kiln(['serve', '--help'], kilnEnv(home));
    expect(r.code).toBe(0);
    const lines = r.stdout.split('\n');
    for (const s of Object.values(SETTINGS) as Setting<unknown>[]) {
      const line = lines.find((l) => l.startsWith(`  ${s.env} `));
      expect(line, s.env).toBeDefined();
      expect(line!.endsWith(`(default: ${s.shown})`), line).toBe(true);
    }
    expect(r.stdout).toContain('KILN_KERNELS');
    expect(r.stdout).toContain('OLLAMA_MODELS');
    expect(r.stdout).toMatch(/KILN_NUM_PARALLEL .*\(default: auto\)/);
    expect(r.stdout).toMatch(/KILN_PROMPT_CACHE .*\(default: 10% of available memory, at most 4GiB\)/);
  });

  it('works even when a setting is bad (help never reads them)', async () => {
    expect((await kiln(['serve', '--help'], kilnEnv(home, { KILN_NUM_PARALLEL: 'x' }))).code).toBe(0);
  });
});

describe('kiln serve with a bad setting', () => {
  it.each([
    ['KILN_NUM_PARALLEL', 'two', 'an integer ≥ 1 or "auto"'],
    ['KILN_HOST', '127.0.0.1:70000', 'an address host[:port] with a port in 0-65535'],
    ['KILN_MAX_MEMORY', 'lots', 'a size (bytes, or a number with KB, MB, GB, KiB, MiB or GiB)'],
    ['KILN_DEBUG', 'maybe', 'a boolean (1, true, yes, on, or 0, false, no, off)'],
    ['KILN_KERNELS', 'sse9', 'one of scalar, avx2, avx512'],
    ['KILN_KV_CACHE_TYPE', 'q5_1', 'one of f16, q8_0, q4_0'],
    ['KILN_KV_CACHE_TYPE_V', 'f32', 'one of f16, q8_0, q4_0'],
    ['KILN_KEEP_ALIVE', 'soon', 'a duration ("5m", "1h30m", seconds, 0, or negative for never)'],
  ])('%s=%s exits 1 with one line naming it and the accepted form', async (env, raw, form) => {
    const r = await kiln(['serve'], kilnEnv(home, { [env]: raw }));
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`Error: ${env}=${raw} is not ${form}\n`);
    expect(r.stdout).toBe('');
  });
});

describe('KILN_DEBUG', () => {
  let d: RunningDaemon | undefined;
  afterAll(async () => {
    await d?.stop();
  });

  it('=1 logs each request with its status and time, and the settings at start', async () => {
    d = await startDaemon(tempHome(), { KILN_DEBUG: '1', KILN_DEMO_MODEL: '0' });
    expect((await fetch(`${d.url}/api/tags`)).status).toBe(200);
    expect((await fetch(`${d.url}/api/nothing-here`)).status).toBe(404);
    expect((await fetch(`${d.url}/api/show`, { method: 'POST', body: '{"model":"absent"}' })).status).toBe(404);
    await new Promise((r) => setTimeout(r, 100));
    const log = d.log();
    expect(log).toMatch(/debug: settings: .*KILN_DEBUG=1/);
    expect(log).toMatch(/debug: tcp GET \/api\/tags 200 \d+\.\dms/);
    expect(log).toMatch(/debug: tcp GET \/api\/nothing-here 404 \d+\.\dms/);
    expect(log).toMatch(/debug: tcp POST \/api\/show 404 \d+\.\dms/);
    const home = d.home;
    await d.stop();
    d = undefined;
    cleanup(home);
  });

  it('unset, logs no debug lines', async () => {
    d = await startDaemon(tempHome(), { KILN_DEMO_MODEL: '0' });
    expect((await fetch(`${d.url}/api/tags`)).status).toBe(200);
    await new Promise((r) => setTimeout(r, 100));
    expect(d.log()).not.toContain('debug:');
    const home = d.home;
    await d.stop();
    d = undefined;
    cleanup(home);
  });
});
