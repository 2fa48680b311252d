import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, renameSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const BUNDLE = fileURLToPath(new URL('../../node_modules/node-llama-cpp/llama/gitRelease.bundle', import.meta.url));

/**
 * The llama.cpp source that node-llama-cpp ships as a git bundle, cloned once
 * into the OS temp dir and reused while the bundle is unchanged. Missing git
 * or bundle is an error: oracle checks must never skip silently.
 */
export function llamaSource(): string {
  const st = statSync(BUNDLE);
  const dir = join(tmpdir(), `kiln-llama-src-${st.size}-${Math.trunc(st.mtimeMs)}`);
  if (existsSync(join(dir, 'gguf-py', 'gguf', 'quants.py'))) return dir;
  const work = mkdtempSync(join(tmpdir(), 'kiln-llama-src-clone-'));
  try {
    execFileSync('git', ['clone', '--quiet', BUNDLE, work], { stdio: 'pipe' });
    try {
      renameSync(work, dir);
    } catch {
      // another worker won the race; use its copy
      rmSync(work, { recursive: true, force: true });
    }
  } catch (e) {
    rmSync(work, { recursive: true, force: true });
    throw e;
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
  throw new Error('no python3 with numpy: install Debian\'s python3-numpy (apt-get install python3-numpy)');
}
