/**
 * `kiln imatrix MODEL TEXT -o FILE`: an importance matrix from a calibration
 * text (engine/quantize/imatrix-run.ts), written in llama.cpp's imatrix GGUF
 * format. Local, no daemon; MODEL is a GGUF path or a model name from the
 * store. A progress bar with the tokens per second goes to stderr.
 */
import { readFileSync, renameSync, rmSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { Config } from '../../daemon/config.js';
import { KilnError } from '../../common/errors.js';
import { writeImatrix } from '../../engine/quantize/imatrix.js';
import { computeImatrix, type ImatrixProgress } from '../../engine/quantize/imatrix-run.js';
import { localModelPath } from './local-model.js';

export function imatrixLine(p: ImatrixProgress, width = 30): string {
  const f = p.total > 0 ? Math.min(1, p.tokens / p.total) : 0;
  const full = Math.round(f * width);
  return `computing importance matrix: ${String(Math.floor(f * 100)).padStart(3)}% ▕${'█'.repeat(full)}${' '.repeat(width - full)}▏ ${p.tokens}/${p.total} tokens  ${p.tokensPerSecond.toFixed(0)} tokens/s`;
}

export async function imatrixCommand(config: Config, modelArg: string, textFile: string, out: string | undefined, chunk: string | undefined): Promise<void> {
  if (!out) throw new KilnError('E_BAD_REQUEST', 'kiln imatrix needs -o FILE');
  const n = chunk === undefined ? undefined : Number(chunk);
  if (n !== undefined && (!Number.isInteger(n) || n < 2)) throw new KilnError('E_BAD_REQUEST', `--chunk must be an integer of at least 2, not '${chunk}'`);
  const path = localModelPath(config, modelArg);
  let text: string;
  try {
    text = readFileSync(textFile, 'utf8');
  } catch (e) {
    throw new KilnError('E_BAD_REQUEST', `cannot read ${textFile}: ${(e as Error).message}`);
  }
  const tty = process.stderr.isTTY;
  let last = 0;
  const m = await computeImatrix(path, text, {
    chunk: n,
    dataset: basename(textFile),
    onProgress: (p) => {
      const now = Date.now();
      if (p.tokens < p.total && now - last < 100) return;
      last = now;
      process.stderr.write(tty ? `\r${imatrixLine(p)}\x1b[K` : `${imatrixLine(p)}\n`);
    },
  });
  if (tty) process.stderr.write('\n');
  const tmp = join(dirname(out), `.${basename(out)}.partial`);
  try {
    await writeImatrix(tmp, m);
    renameSync(tmp, out);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
  const tokens = Math.max(0, ...[...m.entries.values()].map((e) => e.counts[0]));
  process.stdout.write(`${out}: ${m.entries.size} weights, ${tokens} tokens in ${m.chunkCount} chunks of ${m.chunkSize}\n`);
}
