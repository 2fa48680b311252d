import { readFileSync, readdirSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../daemon/config.js';
import { isKilnError } from '../common/errors.js';
import { readSetting, readSettings, SETTINGS, settingsHelp, type Setting, type SettingName } from './settings.js';

const ROOT = join(import.meta.dirname, '..');
const all = Object.entries(SETTINGS) as [SettingName, Setting<unknown>][];

function configError(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    expect(isKilnError(e, 'E_CONFIG')).toBe(true);
    return (e as Error).message;
  }
  throw new Error('expected E_CONFIG');
}

describe('the settings table', () => {
  it('gives each setting its typed default when unset or blank', () => {
    for (const [name, s] of all) {
      expect(readSetting(name, {})).toEqual(s.def);
      expect(readSetting(name, { [s.env]: '  ' })).toEqual(s.def);
    }
  });

  it('builds the Config from those defaults', () => {
    const c = loadConfig({});
    expect(c.home).toBe(join(homedir(), '.kiln'));
    expect(c.models).toBe(join(homedir(), '.kiln', 'models'));
    expect(c.host).toEqual({ hostname: '127.0.0.1', port: 11434 });
    expect(c.numParallel).toBe(SETTINGS.numParallel.def);
    expect(c.maxBodyBytes).toBe(32 * 1024 * 1024);
    expect(c.registry.stallMs).toBe(SETTINGS.pullStallSeconds.def * 1000);
    expect(c.registry.authFiles[1]).toBe(join(homedir(), '.docker', 'config.json'));
    expect(c.ollamaModels).toBe(join(homedir(), '.ollama', 'models'));
    expect(c.kernels).toBeUndefined();
    expect(c.debug).toBe(false);
    expect(c.demoModel).toBe(true);
  });

  it('parses set values into their types', () => {
    const c = loadConfig({
      KILN_HOME: '~/k', KILN_HOST: 'http://0.0.0.0:8080/', KILN_ORIGINS: 'a, b,,', KILN_ALLOWED_HOSTS: 'Example.COM',
      KILN_MAX_MEMORY: '8GiB', KILN_NUM_PARALLEL: '3', KILN_DEMO_MODEL: 'off', KILN_DEBUG: 'TRUE', KILN_KERNELS: 'AVX2',
      KILN_KEEP_ALIVE: '1h30m', OLLAMA_MODELS: '/o/models', KILN_PULL_STALL_TIMEOUT: '5',
    });
    expect(c.home).toBe(join(homedir(), 'k'));
    expect(c.host).toEqual({ hostname: '0.0.0.0', port: 8080 });
    expect(c.origins).toEqual(['a', 'b']);
    expect(c.allowedHosts).toEqual(['example.com']);
    expect(c.maxMemory).toBe(8 * 1024 ** 3);
    expect(c.numParallel).toBe(3);
    expect(loadConfig({ KILN_NUM_PARALLEL: 'auto' }).numParallel).toBe(0);
    expect(loadConfig({ KILN_PROMPT_CACHE: '256MiB' }).promptCache).toBe(256 * 1024 ** 2);
    expect(loadConfig({}).promptCache).toBe(-1);
    expect(c.demoModel).toBe(false);
    expect(c.debug).toBe(true);
    expect(c.kernels).toBe('avx2');
    expect(c.keepAlive).toBe('1h30m');
    expect(c.ollamaModels).toBe('/o/models');
    expect(c.registry.stallMs).toBe(5000);
  });

  it.each([
    ['KILN_NUM_PARALLEL', 'abc', 'an integer ≥ 1'],
    ['KILN_NUM_PARALLEL', '0', 'an integer ≥ 1'],
    ['KILN_MAX_BODY', '1.5', 'an integer ≥ 1024'],
    ['KILN_MAX_MEMORY', 'lots', 'a size'],
    ['KILN_HOST', 'localhost:99999', 'an address host[:port]'],
    ['KILN_DEBUG', 'maybe', 'a boolean'],
    ['KILN_DEMO_MODEL', 'nope', 'a boolean'],
    ['KILN_KERNELS', 'sse9', 'one of scalar, avx2, avx512'],
    ['KILN_KEEP_ALIVE', 'soon', 'a duration'],
  ])('%s=%s is a configuration error naming the variable and the form', (env, raw, form) => {
    const msg = configError(() => loadConfig({ [env]: raw }));
    expect(msg.startsWith(`${env}=${raw} is not ${form}`)).toBe(true);
  });

  it('readSettings reads every entry of the table', () => {
    expect(Object.keys(readSettings({})).sort()).toEqual(Object.keys(SETTINGS).sort());
  });

  it('settingsHelp has one line per setting, with its default', () => {
    const lines = settingsHelp().split('\n');
    expect(lines).toHaveLength(all.length);
    all.forEach(([, s], i) => {
      expect(lines[i]).toMatch(new RegExp(`^  ${s.env} +\\S`));
      expect(lines[i].endsWith(`(default: ${s.shown})`)).toBe(true);
    });
  });

  it('is the only place that reads a KILN_* or OLLAMA_* variable', () => {
    const read = /\??\.(KILN|OLLAMA)_[A-Z_]+\b|\[['"](KILN|OLLAMA)_[A-Z_]+['"]\]/;
    const offenders: string[] = [];
    const walk = (dir: string, deep: boolean) => {
      for (const name of readdirSync(dir)) {
        const p = join(dir, name);
        if (statSync(p).isDirectory()) {
          if (deep) walk(p, deep);
        } else if (/\.tsx?$/.test(name) && !/\.test\.tsx?$/.test(name) && read.test(readFileSync(p, 'utf8'))) offenders.push(relative(ROOT, p));
      }
    };
    for (const d of ['daemon', 'cli', 'engine', 'registry']) walk(join(ROOT, d), true);
    walk(join(ROOT, 'kernels'), false);
    expect(offenders).toEqual([]);
  });
});
