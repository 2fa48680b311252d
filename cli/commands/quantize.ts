import { renameSync, rmSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { ProgressResponse } from '../../daemon/api/types.js';
import { importance, readImatrix } from '../../engine/quantize/imatrix.js';
import { parseMix, describePlan } from '../../engine/quantize/policy.js';
import { quantizeFile, type QuantizeProgress } from '../../engine/quantize/quantize.js';
import { humanBytes } from '../format.js';
import { showProgress } from '../ui/progress.js';

/**
 * `kiln quantize IN.gguf OUT.gguf TYPE [--imatrix FILE]`: a local file-to-file
 * tool (no daemon); the imatrix (kiln's or llama.cpp's) weights the error.
 * OUT appears only when complete. With --json, progress goes to stdout as
 * NDJSON (the daemon runs this as a child process for /api/create quantize).
 */
export async function quantizeCommand(inPath: string, outPath: string, type: string, json: boolean, imatrixPath?: string): Promise<void> {
  const mix = parseMix(type);
  const imatrix = imatrixPath !== undefined ? importance(readImatrix(imatrixPath)) : undefined;
  const tmp = join(dirname(outPath), `.${basename(outPath)}.partial`);
  const status = `quantizing to ${mix.toUpperCase()}`;
  const toEvent = (p: QuantizeProgress): ProgressResponse => ({ status, total: p.bytesTotal, completed: p.bytesDone });
  const run = async (emit: (p: ProgressResponse) => void) => {
    try {
      const r = await quantizeFile(inPath, tmp, mix, (p) => emit(toEvent(p)), { imatrix });
      renameSync(tmp, outPath);
      return r;
    } catch (e) {
      rmSync(tmp, { force: true });
      throw e;
    }
  };
  if (json) {
    const r = await run((p) => process.stdout.write(`${JSON.stringify(p)}\n`));
    process.stdout.write(`${JSON.stringify({ status: 'success', total: r.outputBytes, completed: r.outputBytes })}\n`);
    return;
  }
  let result: Awaited<ReturnType<typeof run>> | undefined;
  async function* events(): AsyncGenerator<ProgressResponse> {
    const queue: ProgressResponse[] = [];
    let done = false;
    let failure: unknown;
    let wake = () => {};
    run((p) => {
      queue.push(p);
      wake();
    }).then(
      (r) => {
        result = r;
        done = true;
        wake();
      },
      (e) => {
        failure = e;
        done = true;
        wake();
      },
    );
    for (;;) {
      if (queue.length) {
        const last = queue.splice(0).pop()!;
        yield last;
        continue;
      }
      if (done) break;
      await new Promise<void>((r) => (wake = r));
    }
    if (failure) throw failure;
  }
  await showProgress(events());
  if (result) {
    process.stdout.write(
      `${outPath}: ${humanBytes(result.inputBytes)} → ${humanBytes(result.outputBytes)} in ${result.seconds.toFixed(1)} s (${describePlan(result.plan)})\n`,
    );
  }
}
