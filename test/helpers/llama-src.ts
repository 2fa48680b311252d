import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

/**
 * node-llama-cpp's llama.cpp bundle, found through module resolution (from
 * test/ under vitest and from dist/ under node alike; vitest's module runner
 * has no import.meta.resolve, so through createRequire).
 */
const BUNDLE = join(dirname(dirname(createRequire(import.meta.url).resolve('node-llama-cpp'))), 'llama', 'gitRelease.bundle');

/** What the oracle tests read from the llama.cpp source. */
const PATHS = ['models', 'tests/test-tokenizer-0.cpp', 'gguf-py', 'src/unicode-data.cpp', 'tools/server/server-common.cpp', 'include', 'ggml/include'];

/**
 * The llama.cpp source that node-llama-cpp ships as a git bundle (only the
 * parts the tests read), checked out once into the OS temp dir and reused
 * while the bundle and PATHS are unchanged (keyed by its size and mtime and
 * a hash of PATHS, so that a longer list gets a fresh checkout). A missing
 * bundle or git is an error: oracle checks must never skip silently.
 */
export function llamaSource(): string {
  const st = statSync(BUNDLE);
  const paths = createHash('sha256').update(PATHS.join('\n')).digest('hex').slice(0, 8);
  const dir = join(tmpdir(), `kiln-llama-src-${st.size}-${Math.trunc(st.mtimeMs)}-${paths}`);
  const marker = join(dir, '.kiln-complete');
  if (existsSync(marker)) return dir;
  const work = mkdtempSync(join(tmpdir(), 'kiln-llama-src-clone-'));
  try {
    execFileSync('git', ['clone', '--quiet', '--no-checkout', BUNDLE, work], { stdio: 'pipe' });
    execFileSync('git', ['-C', work, 'checkout', '--quiet', 'HEAD', '--', ...PATHS], { stdio: 'pipe' });
    writeFileSync(join(work, '.kiln-complete'), '');
    if (existsSync(dir) && !existsSync(marker)) rmSync(dir, { recursive: true, force: true }); // an interrupted older copy
    renameSync(work, dir);
  } catch (e) {
    rmSync(work, { recursive: true, force: true });
    // another worker may have finished the same checkout first
    if (existsSync(marker)) return dir;
    throw new Error(`cannot check out llama.cpp from ${BUNDLE}: ${(e as Error).message}`);
  }
  return dir;
}

/**
 * A python3 that has numpy: Debian's (python3-numpy, installed by .ci/run)
 * first, then whatever python3 is on PATH.
 */
export function pythonWithNumpy(): string {
  for (const py of ['/usr/bin/python3', 'python3']) {
    const r = spawnSync(py, ['-c', 'import numpy'], { stdio: 'ignore' });
    if (r.status === 0) return py;
  }
  throw new Error("no python3 with numpy: install Debian's python3-numpy (apt-get install python3-numpy)");
}
