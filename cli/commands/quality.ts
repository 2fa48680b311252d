/**
 * The quality table of `kiln quantize --ladder`, `kiln quantize --report` and
 * `kiln show NAME --quality`, and the progress lines of the work behind it.
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { KilnError } from '../../common/errors.js';
import type { ProgressResponse, QualityReport } from '../../daemon/api/types.js';
import { SAMPLE_TEXT, SAMPLE_TEXT_NAME } from '../../engine/eval/sample-text.js';
import type { LadderEvent } from '../../engine/quantize/ladder.js';
import { humanBytes, table } from '../format.js';

/** The text a report scores: the user's file, or the built-in sample. */
export function reportText(file: string | undefined): { text: string; name: string } {
  if (file === undefined) return { text: SAMPLE_TEXT, name: SAMPLE_TEXT_NAME };
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new KilnError('E_BAD_REQUEST', `cannot read the text file ${file}: ${err.code === 'ENOENT' ? 'no such file' : err.message}`);
  }
  if (!text.trim()) throw new KilnError('E_BAD_REQUEST', `the text file ${file} is empty`);
  return { text, name: basename(file) };
}

/** A mean KL divergence as the table shows it: four decimals, or three figures when below 0.001. */
export function formatKld(v: number): string {
  if (v === 0) return '0';
  return v < 0.001 ? v.toExponential(2) : v.toFixed(4);
}

/**
 *     quality of kjv-f32.gguf over the built-in sample: 1042 tokens in windows of 256
 *     TYPE     SIZE    BITS/W   KLD      SAME TOP   PPL     TOK/S
 *     F32      21 MB   32.00    -        100.0%     9.183   812.4
 *     Q8_0     5.9 MB  8.50     8.1e-5   99.6%      9.185   1830.1
 */
export function qualityTable(r: QualityReport): string {
  const head = `quality of ${r.source} over ${r.text === 'built-in sample' ? 'the built-in sample' : r.text}: ${r.text_tokens} tokens in windows of ${r.window}`;
  const rows = r.rows.map((x) => [
    x.source ? `${x.type} (source)` : x.type,
    humanBytes(x.size),
    x.bits_per_weight.toFixed(2),
    x.source ? '-' : formatKld(x.kld),
    `${(x.same_top * 100).toFixed(1)}%`,
    x.perplexity.toFixed(3),
    x.tokens_per_second.toFixed(1),
  ]);
  return `${head}\n${table(['TYPE', 'SIZE', 'BITS/W', 'KLD', 'SAME TOP', 'PPL', 'TOK/S'], rows)}`;
}

/** A ladder event as a create/pull-style progress event (what `--json` writes and the daemon relays). */
export function ladderStatus(e: LadderEvent): ProgressResponse {
  switch (e.step) {
    case 'reference':
      return { status: 'scoring the source', total: e.windows, completed: e.window };
    case 'score':
      return { status: `scoring ${e.type}`, total: e.windows, completed: e.window };
    case 'quantize':
      return { status: `quantizing to ${e.type}`, total: e.bytesTotal, completed: e.bytesDone };
    case 'speed':
      return { status: e.type === 'source' ? 'measuring the speed of the source' : `measuring the speed of ${e.type}` };
  }
}

/**
 * Progress on stderr as the ladder works: on a terminal one line rewritten in
 * place; otherwise a line per step and per scored window.
 */
export function ladderProgress(out: NodeJS.WriteStream = process.stderr): { event: (e: LadderEvent) => void; done: () => void } {
  const tty = Boolean(out.isTTY);
  let lastStatus = '';
  const event = (e: LadderEvent) => {
    const p = ladderStatus(e);
    const count = e.step === 'quantize' ? ` ${Math.floor(((p.completed ?? 0) / Math.max(1, p.total ?? 1)) * 100)}%` : p.total ? ` window ${p.completed}/${p.total}` : '';
    if (tty) out.write(`\r${p.status}${count}\x1b[K`);
    else if (e.step !== 'quantize' || p.status !== lastStatus) out.write(`${p.status}${e.step === 'quantize' ? '' : count}\n`);
    lastStatus = p.status;
  };
  return { event, done: () => tty && out.write('\r\x1b[K') };
}
