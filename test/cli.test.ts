import { existsSync, mkdirSync, statSync, writeFileSync, copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanup, kiln, kilnEnv, ROOT, startDaemon, tempHome, type RunningDaemon } from './helpers/daemon.js';

let d: RunningDaemon;

beforeAll(async () => {
  d = await startDaemon();
});

afterAll(async () => {
  await d?.stop();
  if (d) cleanup(d.home);
});

describe('the kiln binary', () => {
  it('prints its version and the daemon\'s', async () => {
    const r = await kiln(['--version'], d.env);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^kiln version is \d+\.\d+\.\d+/);
  });

  it('prints help, and help for a command', async () => {
    const r = await kiln(['help'], d.env);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Available Commands:');
    for (const c of ['serve', 'create', 'show', 'list', 'ps', 'cp', 'rm']) expect(r.stdout).toContain(`  ${c} `);
    const s = await kiln(['serve', '--help'], d.env);
    expect(s.stdout).toContain('KILN_HOST');
    expect((await kiln(['frobnicate'], d.env)).code).toBe(1);
  });

  it('lists models with NAME, ID, SIZE, MODIFIED and filters by prefix', async () => {
    const r = await kiln(['list'], d.env);
    expect(r.code).toBe(0);
    const [header, ...rows] = r.stdout.trimEnd().split('\n');
    expect(header).toMatch(/^NAME\s+ID\s+SIZE\s+MODIFIED$/);
    const row = rows.find((l) => l.startsWith('kjv:latest'));
    expect(row).toMatch(/^kjv:latest\s+[0-9a-f]{12}\s+10 MB\s+(Less than a second|\d+ seconds?|About a minute|\d+ minutes) ago$/);
    expect((await kiln(['ls', 'zzz'], d.env)).stdout.trim()).toMatch(/^NAME\s+ID\s+SIZE\s+MODIFIED$/);
  });

  it('shows a model and its parts', async () => {
    const r = await kiln(['show', 'kjv'], d.env);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/architecture\s+llama/);
    expect(r.stdout).toMatch(/parameters\s+5\.5M/);
    expect(r.stdout).toMatch(/context length\s+256/);
    expect(r.stdout).toMatch(/embedding length\s+256/);
    expect(r.stdout).toMatch(/quantization\s+F16/);
    expect((await kiln(['show', 'kjv', '--parameters'], d.env)).stdout).toMatch(/^num_ctx\s+256$/m);
    expect((await kiln(['show', 'kjv', '--license'], d.env)).stdout).toContain('King James');
    expect((await kiln(['show', 'kjv', '--modelfile'], d.env)).stdout).toMatch(/^FROM \/.*sha256-[0-9a-f]{64}$/m);
    const missing = await kiln(['show', 'nope'], d.env);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("Error: model 'nope' not found");
  });

  it('creates a model from a Modelfile with a local GGUF, copies and removes it', async () => {
    const dir = tempHome('kiln-mf-');
    copyFileSync(join(ROOT, 'models', 'kjv', 'kjv-f16.gguf'), join(dir, 'model.gguf'));
    writeFileSync(
      join(dir, 'Modelfile'),
      'FROM ./model.gguf\nTEMPLATE """{{ if .System }}{{ .System }} {{ end }}{{ .Prompt }}"""\nSYSTEM You are a scribe.\nPARAMETER temperature 0.2\nPARAMETER stop "<|eot_id|>"\nLICENSE """public domain"""\n',
    );
    const c = await kiln(['create', 'scribe:1', '-f', join(dir, 'Modelfile')], d.env);
    expect(c.stderr).toBe('');
    expect(c.code).toBe(0);
    expect(c.stdout).toContain('success');
    expect((await kiln(['show', 'scribe:1', '--system'], d.env)).stdout.trim()).toBe('You are a scribe.');
    expect((await kiln(['show', 'scribe:1', '--template'], d.env)).stdout.trim()).toBe('{{ if .System }}{{ .System }} {{ end }}{{ .Prompt }}');
    expect((await kiln(['cp', 'scribe:1', 'scribe:2'], d.env)).stdout).toContain("copied 'scribe:1' to 'scribe:2'");
    const rm = await kiln(['rm', 'scribe:1', 'scribe:2'], d.env);
    expect(rm.code).toBe(0);
    expect(rm.stdout).toContain("deleted 'scribe:1'");
    expect((await kiln(['list', 'scribe'], d.env)).stdout).not.toContain('scribe');
    cleanup(dir);
  });

  it('removes the blobs of a deleted model that nothing else references', async () => {
    const dir = tempHome('kiln-mf-');
    writeFileSync(join(dir, 'Modelfile'), 'FROM kjv\nSYSTEM only-in-this-model\n');
    expect((await kiln(['create', 'solo', '-f', join(dir, 'Modelfile')], d.env)).code).toBe(0);
    const show = JSON.parse(JSON.stringify((await kiln(['show', 'solo', '--modelfile'], d.env)).stdout));
    expect(show).toContain('only-in-this-model');
    const before = (await kiln(['list'], d.env)).stdout;
    expect(before).toContain('solo:latest');
    expect((await kiln(['rm', 'solo'], d.env)).code).toBe(0);
    cleanup(dir);
  });

  it('explains a bad Modelfile with its line number', async () => {
    const dir = tempHome('kiln-mf-');
    writeFileSync(join(dir, 'Modelfile'), 'FROM kjv\nPARAMETER temperature hot\n');
    const r = await kiln(['create', 'x', '-f', join(dir, 'Modelfile')], d.env);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/line 2/);
    cleanup(dir);
  });

  it('removes every model it can, says so for each, and fails if any name failed', async () => {
    expect((await kiln(['cp', 'kjv', 'rm-a'], d.env)).code).toBe(0);
    expect((await kiln(['cp', 'kjv', 'rm-b'], d.env)).code).toBe(0);
    const r = await kiln(['rm', 'rm-a', 'nosuch', 'rm-b'], d.env);
    expect(r.stdout).toBe("deleted 'rm-a'\ndeleted 'rm-b'\n");
    expect(r.stderr).toBe("Error: model 'nosuch' not found\n");
    expect(r.code).toBe(1);
    expect((await kiln(['list', 'rm-'], d.env)).stdout).not.toContain('rm-');
  });

  it('rejects an unknown flag with the command\'s usage', async () => {
    const r = await kiln(['list', '--bogus'], d.env);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe('Error: unknown flag: --bogus\n\nList models\n\nUsage:\n  kiln list [PREFIX]\n\nAliases:\n  list, ls\n');
    const s = await kiln(['show', 'kjv', '--templat'], d.env);
    expect(s.code).toBe(1);
    expect(s.stderr).toMatch(/^Error: unknown flag: --templat\n\nShow information for a model\n\nUsage:\n  kiln show MODEL \[flags\]/);
    // a flag of another command is still unknown here
    expect((await kiln(['rm', 'kjv', '--insecure'], d.env)).stderr).toMatch(/^Error: unknown flag: --insecure\n/);
    expect((await kiln(['list'], d.env)).stdout).toContain('kjv:latest');
    const missing = await kiln(['create', 'x', '-f'], d.env);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^Error: flag needs an argument: -f\n\nCreate a model from a Modelfile\n/);
  });

  it('lists running models with the ps columns', async () => {
    const r = await kiln(['ps'], d.env);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toMatch(/^NAME\s+ID\s+SIZE\s+PROCESSOR\s+CONTEXT\s+UNTIL$/);
  });

  it('says the daemon is not running, and how to start it', async () => {
    const home = tempHome();
    const r = await kiln(['list'], kilnEnv(home));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('kiln is not running');
    expect(r.stderr).toContain('kiln serve');
    cleanup(home);
  });
});

describe('kiln serve', () => {
  it('refuses a second daemon on the same home at once', async () => {
    const r = await kiln(['serve'], d.env);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/already running on this KILN_HOME \(pid \d+\)/);
  });

  it('makes the socket private to the user', () => {
    const sock = join(d.home, 'kiln.sock');
    expect(statSync(sock).isSocket()).toBe(true);
    expect(statSync(sock).mode & 0o777).toBe(0o600);
  });

  it('shuts down cleanly on SIGTERM and SIGINT, removing its socket and lock', async () => {
    for (const sig of ['SIGTERM', 'SIGINT'] as const) {
      const home = tempHome();
      mkdirSync(home, { recursive: true });
      const x = await startDaemon(home, { KILN_DEMO_MODEL: '0' });
      expect(await x.stop(sig)).toBe(0);
      expect(existsSync(join(home, 'kiln.sock'))).toBe(false);
      expect(existsSync(join(home, 'kiln.pid'))).toBe(false);
      expect(x.log()).toContain(`${sig}: shutting down`);
      // the store opens again without complaint
      const y = await startDaemon(home, { KILN_DEMO_MODEL: '0' });
      expect((await kiln(['list'], y.env)).code).toBe(0);
      await y.stop();
      cleanup(home);
    }
  });
});
