import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, type Config } from '../../daemon/config.js';
import { importDemoModel } from '../../daemon/services/demo.js';
import { Store } from '../../store/index.js';
import { isKilnError } from '../../common/errors.js';
import { KJV_F32 } from '../../test/helpers/fixtures.js';
import { localModelPath } from './local-model.js';

function failure(f: () => unknown): unknown {
  try {
    f();
  } catch (e) {
    return e;
  }
  return undefined;
}

describe('localModelPath', () => {
  let home: string;
  let config: Config;
  beforeAll(async () => {
    home = mkdtempSync(join(tmpdir(), 'kiln-local-model-'));
    config = loadConfig({ KILN_HOME: home });
    const store = new Store(config.dbPath, config.models);
    await importDemoModel(store, () => {});
    store.close();
  });
  afterAll(() => rmSync(home, { recursive: true, force: true }));

  it('passes a GGUF path through', () => {
    expect(localModelPath(config, KJV_F32)).toBe(KJV_F32);
  });

  it("resolves a model name to its model blob in the store, with the daemon's default-tag rule", () => {
    const p = localModelPath(config, 'kjv');
    expect(p.startsWith(join(config.models, 'blobs'))).toBe(true);
    expect(statSync(p).size).toBe(10972064); // kjv-f16.gguf
    expect(localModelPath(config, 'kjv:latest')).toBe(p);
  });

  it('says which is missing: a file path or a model name', () => {
    expect(isKilnError(failure(() => localModelPath(config, '/nowhere/x.gguf')), 'E_NOT_FOUND')).toBe(true);
    expect(isKilnError(failure(() => localModelPath(config, 'llama3')), 'E_MODEL_NOT_FOUND')).toBe(true);
    const empty = loadConfig({ KILN_HOME: join(home, 'none') });
    expect(isKilnError(failure(() => localModelPath(empty, 'kjv')), 'E_MODEL_NOT_FOUND')).toBe(true);
  });
});
