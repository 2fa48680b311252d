import { mkdirSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { KilnError } from '../../common/errors.js';
import type { ProgressResponse, QualityReport } from '../../daemon/api/types.js';
import { importance, readImatrix } from '../../engine/quantize/imatrix.js';
import { checkLadderSource, DEFAULT_LADDER, qualityLadder, type LadderEvent, type LadderTarget } from '../../engine/quantize/ladder.js';
import { parseMix, describePlan, type MixName } from '../../engine/quantize/policy.js';
import { quantizeFile, type QuantizeProgress } from '../../engine/quantize/quantize.js';
import { humanBytes } from '../format.js';
import { showProgress } from '../ui/progress.js';
import { ladderProgress, ladderStatus, qualityTable, reportText } from './quality.js';

export interface QualityFlags {
  /** The text to score (default: the built-in sample). */
  text?: string;
  /** Window size in tokens. */
  ctx?: string;
  json: boolean;
}

function windowFlag(ctx: string | undefined): number | undefined {
  if (ctx === undefined) return undefined;
  const n = Number(ctx);
  if (!Number.isInteger(n) || n < 2) throw new KilnError('E_BAD_REQUEST', `--ctx must be an integer of at least 2, not '${ctx}'`);
  return n;
}

/** Runs the ladder with progress on stderr (or NDJSON on stdout with --json). */
async function measure(source: string, targets: LadderTarget[], flags: QualityFlags): Promise<QualityReport> {
  const { text, name } = reportText(flags.text);
  const nCtx = windowFlag(flags.ctx);
  const progress = flags.json ? undefined : ladderProgress();
  const onEvent = flags.json ? (e: LadderEvent) => process.stdout.write(`${JSON.stringify(ladderStatus(e))}\n`) : progress!.event;
  // The work (the source's logits, the quantized files not kept) goes in a folder of its own, removed
  // at the end, and also on Ctrl-C or SIGTERM: an 8 B model's leftovers would be gigabytes.
  const work = mkdtempSync(join(tmpdir(), 'kiln-quality-'));
  const onSignal = (sig: NodeJS.Signals) => {
    rmSync(work, { recursive: true, force: true });
    progress?.done();
    process.exit(sig === 'SIGINT' ? 130 : 143);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    return await qualityLadder({ source, targets, text, textName: name, nCtx, tmpDir: work, onEvent });
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    rmSync(work, { recursive: true, force: true });
    progress?.done();
  }
}

/**
 * `kiln quantize IN --ladder [TYPES]`: IN quantized to each type (a comma
 * list; default DEFAULT_LADDER) and each result measured against IN, then the
 * table. The quantized files are temporary unless --keep DIR names where to
 * keep them. Everything is checked before the long work starts.
 */
export async function ladderCommand(inPath: string, types: string | undefined, flags: QualityFlags & { keep?: string }): Promise<void> {
  const mixes: MixName[] = types === undefined ? DEFAULT_LADDER : types.split(',').filter((t) => t.trim()).map(parseMix);
  if (!mixes.length) throw new KilnError('E_BAD_REQUEST', '--ladder needs at least one type');
  reportText(flags.text);
  windowFlag(flags.ctx);
  await checkLadderSource(inPath);
  if (flags.keep) {
    try {
      mkdirSync(flags.keep, { recursive: true });
    } catch (e) {
      throw new KilnError('E_BAD_REQUEST', `cannot make the --keep folder ${flags.keep}: ${(e as Error).message}`);
    }
  }
  const stem = basename(inPath).replace(/\.gguf$/i, '');
  const targets = [...new Set(mixes)].map((mix) => ({ mix, ...(flags.keep ? { path: join(flags.keep, `${stem}-${mix}.gguf`) } : {}) }));
  const report = await measure(inPath, targets, flags);
  if (flags.json) process.stdout.write(`${JSON.stringify({ status: 'success', report })}\n`);
  else process.stdout.write(`${qualityTable(report)}\n`);
}

/**
 * `kiln quantize IN.gguf OUT.gguf TYPE [--imatrix FILE]`: a local file-to-file
 * tool (no daemon); the imatrix (kiln's or llama.cpp's) weights the error.
 * OUT appears only when complete. With --json, progress goes to stdout as
 * NDJSON (the daemon runs this as a child process for /api/create quantize).
 */
export async function quantizeCommand(inPath: string, outPath: string, type: string, json: boolean, report?: QualityFlags, imatrixPath?: string): Promise<void> {
  const mix = parseMix(type);
  if (report) {
    reportText(report.text);
    windowFlag(report.ctx);
  }
  // With --report, the quantized file is measured against IN and the table (or, with --json, the report on the success line) follows.
  const quality = () => (report ? measure(inPath, [{ mix, path: outPath, made: true }], { ...report, json }) : undefined);
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
    const q = await quality();
    process.stdout.write(`${JSON.stringify({ status: 'success', total: r.outputBytes, completed: r.outputBytes, ...(q ? { report: q } : {}) })}\n`);
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
    const q = await quality();
    if (q) process.stdout.write(`${qualityTable(q)}\n`);
  }
}
