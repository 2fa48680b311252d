/**
 * `kiln perplexity MODEL FILE.txt` and `kiln kl BASE OTHER FILE.txt`: local
 * quality measures (engine/eval), no daemon. MODEL is a GGUF path or a model
 * name from the store (local-model.ts). The window defaults to 512 tokens, as
 * llama.cpp's perplexity tool uses, or the model's trained context if that is
 * shorter. Progress goes to stderr; the figures to stdout (JSON with --json).
 */
import { readFileSync } from 'node:fs';
import type { Config } from '../../daemon/config.js';
import { KilnError } from '../../common/errors.js';
import { klDivergence } from '../../engine/eval/kl.js';
import { perplexity } from '../../engine/eval/perplexity.js';
import { Model } from '../../engine/model/model.js';
import { readGGUFFile } from '../../engine/gguf/reader.js';
import { llamaLayout } from '../../engine/model/hparams.js';
import { localModelPath } from './local-model.js';

export interface EvalFlags {
  ctx?: string;
  json: boolean;
}

const DEFAULT_WINDOW = 512;

async function windowFor(path: string, ctx: string | undefined): Promise<number> {
  if (ctx !== undefined) {
    const n = Number(ctx);
    if (!Number.isInteger(n) || n < 2) throw new KilnError('E_BAD_REQUEST', `--ctx must be an integer of at least 2, not '${ctx}'`);
    return n;
  }
  const { hp } = llamaLayout(await readGGUFFile(path));
  return Math.min(DEFAULT_WINDOW, hp.trainCtx);
}

function progress(line: string, json: boolean): void {
  if (!json && process.stderr.isTTY) process.stderr.write(`\r${line}\x1b[K`);
}

export async function perplexityCommand(config: Config, modelArg: string, textFile: string, flags: EvalFlags): Promise<void> {
  const path = localModelPath(config, modelArg);
  const text = readFileSync(textFile, 'utf8');
  const nCtx = await windowFor(path, flags.ctx);
  const model = await Model.load(path, { nCtx });
  try {
    const r = await perplexity(model, text, {
      onProgress: (p) => progress(`[${p.window}/${p.windows}] perplexity so far ${Math.exp(p.meanNll).toFixed(4)}`, flags.json),
    });
    progress('', flags.json);
    if (flags.json) {
      process.stdout.write(`${JSON.stringify({ model: path, ...r })}\n`);
      return;
    }
    process.stdout.write(
      `model       ${path}\n` +
        `tokens      ${r.tokens} (${r.chunks.length} windows of ${r.nCtx}, ${r.scored} scored)\n` +
        `mean NLL    ${r.meanNll.toFixed(5)}\n` +
        `perplexity  ${r.perplexity.toFixed(4)}\n`,
    );
  } finally {
    model.close();
  }
}

export async function klCommand(config: Config, baseArg: string, otherArg: string, textFile: string, flags: EvalFlags): Promise<void> {
  const basePath = localModelPath(config, baseArg);
  const otherPath = localModelPath(config, otherArg);
  const text = readFileSync(textFile, 'utf8');
  const nCtx = Math.min(await windowFor(basePath, flags.ctx), await windowFor(otherPath, flags.ctx));
  const base = await Model.load(basePath, { nCtx });
  try {
    const other = await Model.load(otherPath, { nCtx });
    try {
      const r = await klDivergence(base, other, text, {
        onProgress: (p) => progress(`[${p.window}/${p.windows}] mean KL so far ${p.meanKl.toExponential(3)}`, flags.json),
      });
      progress('', flags.json);
      if (flags.json) {
        process.stdout.write(`${JSON.stringify({ basePath, otherPath, ...r })}\n`);
        return;
      }
      process.stdout.write(
        `base        ${basePath}\n` +
          `other       ${otherPath}\n` +
          `tokens      ${r.tokens} (windows of ${r.nCtx}, ${r.scored} scored)\n` +
          `KL (nats)   mean ${r.meanKl.toExponential(4)}  median ${r.medianKl.toExponential(4)}  p99 ${r.p99Kl.toExponential(4)}  max ${r.maxKl.toExponential(4)}\n` +
          `top-1 same  ${(r.top1Agreement * 100).toFixed(2)}%\n` +
          `max |Δp|    ${r.maxAbsDp.toExponential(3)}\n` +
          `perplexity  base ${r.base.perplexity.toFixed(4)}  other ${r.other.perplexity.toFixed(4)}\n`,
      );
    } finally {
      other.close();
    }
  } finally {
    base.close();
  }
}
