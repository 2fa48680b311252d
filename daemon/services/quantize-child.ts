import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { KilnError } from '../../common/errors.js';
import type { ProgressResponse } from '../api/types.js';
import { packageRoot } from '../../common/paths.js';

/**
 * Runs `kiln quantize --json` in a child process: a hostile GGUF or a kernel
 * fault there ends that process, not the daemon, and the event loop stays free
 * while the native code works.
 */
export function quantizeInChild(
  inPath: string,
  outPath: string,
  type: string,
  emit: (p: ProgressResponse) => void,
  signal?: AbortSignal,
  imatrixPath?: string,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const args = [join(packageRoot(), 'dist', 'cli', 'main.js'), 'quantize', inPath, outPath, type, '--json'];
    if (imatrixPath !== undefined) args.push('--imatrix', imatrixPath);
    const child = spawn(process.execPath, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const onAbort = () => child.kill('SIGKILL');
    signal?.addEventListener('abort', onAbort, { once: true });
    let buf = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        try {
          const p = JSON.parse(line) as ProgressResponse;
          if (p.status !== 'success') emit(p);
        } catch {
          /* not a progress line */
        }
      }
    });
    child.stderr.on('data', (d: Buffer) => {
      if (err.length < 8192) err += d.toString();
    });
    child.on('error', reject);
    child.on('close', (code, sig) => {
      signal?.removeEventListener('abort', onAbort);
      if (code === 0) return resolve();
      const msg = err.replace(/^Error: /, '').trim();
      reject(new KilnError(sig ? 'E_INTERNAL' : 'E_BAD_REQUEST', sig ? `quantization process ended by ${sig}${msg ? `: ${msg}` : ''}` : msg || `quantization failed (exit ${code})`));
    });
  });
}
