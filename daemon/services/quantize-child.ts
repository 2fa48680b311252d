import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { KilnError } from '../../common/errors.js';
import type { ProgressResponse, QualityReport } from '../api/types.js';
import { packageRoot } from '../../common/paths.js';

/**
 * Runs `kiln quantize --json` in a child process: a hostile GGUF or a kernel
 * fault there ends that process, not the daemon, and the event loop stays free
 * while the native code works. With `report`, the child then measures the
 * quantized file against the source (`--report`, over `report.textFile` or the
 * built-in sample) and the report it puts on its success line is answered.
 */
export function quantizeInChild(
  inPath: string,
  outPath: string,
  type: string,
  emit: (p: ProgressResponse) => void,
  signal?: AbortSignal,
  report?: { textFile?: string },
  imatrixPath?: string,
): Promise<QualityReport | undefined> {
  const extra = report ? ['--report', ...(report.textFile ? ['--text', report.textFile] : [])] : [];
  if (imatrixPath !== undefined) extra.push('--imatrix', imatrixPath);
  return new Promise((resolve, reject) => {
    let result: QualityReport | undefined;
    const child = spawn(process.execPath, [join(packageRoot(), 'dist', 'cli', 'main.js'), 'quantize', inPath, outPath, type, '--json', ...extra], {
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
          const p = JSON.parse(line) as ProgressResponse & { report?: QualityReport };
          if (p.status !== 'success') emit(p);
          else if (p.report) result = p.report;
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
      if (code === 0) return resolve(result);
      const msg = err.replace(/^Error: /, '').trim();
      reject(new KilnError(sig ? 'E_INTERNAL' : 'E_BAD_REQUEST', sig ? `quantization process ended by ${sig}${msg ? `: ${msg}` : ''}` : msg || `quantization failed (exit ${code})`));
    });
  });
}
