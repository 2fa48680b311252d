/**
 * The quality ladder (`kiln quantize IN --ladder`, `kiln create --quantize
 * TYPE --report`): the source model is quantized to each type and every
 * result is measured against the source over the same text: size, bits per
 * weight, mean KL divergence of its next-token distributions from the
 * source's, how often the most likely token is the same, perplexity, and
 * speed. The source is scored once (engine/eval/reference.ts); each
 * quantized file is made, measured, and deleted unless asked to be kept.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { KilnError } from '../../common/errors.js';
import { decodeSpeed, Reference, type Comparison } from '../eval/reference.js';
import { summarizeModel } from '../gguf/metadata.js';
import { readGGUFFile, type GGUFFile } from '../gguf/reader.js';
import { llamaLayout } from '../model/hparams.js';
import { Model } from '../model/model.js';
import { mixNeedsImatrix, planQuantization, type MixName } from './policy.js';
import { assertFloatSource, quantizeFile } from './quantize.js';

/** The types `--ladder` measures when none are named: from the smallest usable to near-lossless. */
export const DEFAULT_LADDER: MixName[] = ['q2_K', 'q3_K_M', 'iq4_xs', 'q4_0', 'q4_K_M', 'q5_K_M', 'q6_K', 'q8_0'];

/** The window when none is asked for: llama.cpp's perplexity default, or the model's context if shorter. */
export const DEFAULT_WINDOW = 512;

/** One line of the table. Saved with a model as JSON (a layer), so its field names are the wire's. */
export interface QualityRow {
  /** `Q4_K_M`, or the source's file type (`F16`) on the reference row. */
  type: string;
  /** The reference row: the source itself. */
  source?: boolean;
  /** Bytes on disk. */
  size: number;
  /** Bits per weight: the tensors' bytes × 8 over their element count. */
  bits_per_weight: number;
  /** Mean KL(source ‖ this) over the scored tokens, in nats. */
  kld: number;
  /** The 99th percentile of the per-token KL divergence. */
  kld_p99: number;
  /** Share (0..1) of scored tokens where this model's most likely next token is the source's. */
  same_top: number;
  perplexity: number;
  /** Generation speed (one token per step, greedy). */
  tokens_per_second: number;
  /** Scoring speed (windows of the text in batches, as prompt processing). */
  prompt_tokens_per_second: number;
}

export interface QualityReport {
  /** The source file's name. */
  source: string;
  /** The text scored: a file's name, or `built-in sample`. */
  text: string;
  text_tokens: number;
  scored_tokens: number;
  /** Window size in tokens. */
  window: number;
  /** The reference row first, then the types from the most bits to the fewest. */
  rows: QualityRow[];
  created_at: string;
  /** The digest of the model layer measured, when the report is saved with a model. */
  model?: string;
}

export type LadderEvent =
  | { step: 'reference'; window: number; windows: number }
  | { step: 'quantize'; type: string; bytesDone: number; bytesTotal: number }
  | { step: 'score'; type: string; window: number; windows: number }
  | { step: 'speed'; type: string };

export interface LadderTarget {
  mix: MixName;
  /** Where the quantized file goes and stays; without it, a temporary file deleted after measuring. */
  path?: string;
  /** The file at `path` is already made (`kiln quantize IN OUT TYPE --report`): measure it only. */
  made?: boolean;
}

export interface LadderOptions {
  source: string;
  targets: LadderTarget[];
  text: string;
  textName: string;
  /** Window size in tokens (default DEFAULT_WINDOW, or the model's context if shorter). */
  nCtx?: number;
  /** Where temporary files go (the reference's logits and the quantized files not kept). */
  tmpDir: string;
  onEvent?: (e: LadderEvent) => void;
}

/** The tensors' bits over their elements. */
export function bitsPerWeight(file: GGUFFile): number {
  let bytes = 0;
  let n = 0;
  for (const t of file.tensors) {
    bytes += t.byteSize;
    n += t.dims.reduce((a, b) => a * b, 1);
  }
  return n ? (bytes * 8) / n : 0;
}

/** Checks a ladder's source before any work: a float GGUF whose architecture kiln runs. Returns it parsed. */
export async function checkLadderSource(path: string): Promise<GGUFFile> {
  const file = await readGGUFFile(path);
  assertFloatSource(file, planQuantization(file, 'q8_0'), path);
  llamaLayout(file);
  return file;
}

function row(type: string, file: GGUFFile, path: string, c: Comparison, tps: number, source = false): QualityRow {
  return {
    type,
    ...(source ? { source: true } : {}),
    size: statSync(path).size,
    bits_per_weight: bitsPerWeight(file),
    kld: c.meanKl,
    kld_p99: c.p99Kl,
    same_top: c.top1Agreement,
    perplexity: c.perplexity,
    tokens_per_second: tps,
    prompt_tokens_per_second: c.promptTokensPerSecond,
  };
}

export async function qualityLadder(opts: LadderOptions): Promise<QualityReport> {
  if (!opts.targets.length) throw new KilnError('E_BAD_REQUEST', 'the ladder needs at least one type');
  const emit = opts.onEvent ?? (() => {});
  const srcFile = await checkLadderSource(opts.source);
  // the ladder makes its files without an importance matrix: the mixes that need one are refused before any work
  const bare = opts.targets.find((t) => !t.made && mixNeedsImatrix(srcFile, t.mix));
  if (bare) {
    const type = bare.mix.toUpperCase();
    throw new KilnError(
      'E_BAD_REQUEST',
      `${type} needs an importance matrix, and the ladder quantizes without one: make one with \`kiln imatrix MODEL TEXT -o FILE\`, then \`kiln quantize IN OUT ${type} --imatrix FILE --report\``,
    );
  }
  const nCtx = opts.nCtx ?? Math.min(DEFAULT_WINDOW, llamaLayout(srcFile).hp.trainCtx);
  if (!Number.isInteger(nCtx) || nCtx < 2) throw new KilnError('E_BAD_REQUEST', `the window must be an integer of at least 2 tokens, not ${nCtx}`);

  const work = mkdtempSync(join(opts.tmpDir, 'kiln-ladder-'));
  let ref: Reference | undefined;
  try {
    const source = await Model.load(opts.source, { nCtx });
    let srcRow: QualityRow;
    try {
      ref = await Reference.record(source, opts.text, nCtx, work, (p) => emit({ step: 'reference', ...p }));
      emit({ step: 'speed', type: 'source' });
      srcRow = row(summarizeModel(srcFile).fileType, srcFile, opts.source, ref.self, decodeSpeed(source, ref.tokens), true);
    } finally {
      source.close();
    }

    const rows: QualityRow[] = [];
    for (const t of opts.targets) {
      const type = t.mix.toUpperCase();
      const path = t.path ?? join(work, `${t.mix}.gguf`);
      try {
        if (!t.made) {
          await quantizeFile(opts.source, path, t.mix, (p) => emit({ step: 'quantize', type, bytesDone: p.bytesDone, bytesTotal: p.bytesTotal }));
        }
        const file = await readGGUFFile(path);
        const model = await Model.load(path, { nCtx });
        try {
          const c = await ref.compare(model, (p) => emit({ step: 'score', type, ...p }));
          emit({ step: 'speed', type });
          rows.push(row(type, file, path, c, decodeSpeed(model, ref.tokens)));
        } finally {
          model.close();
        }
      } finally {
        if (!t.path) rmSync(path, { force: true });
      }
    }
    rows.sort((a, b) => b.bits_per_weight - a.bits_per_weight);
    return {
      source: opts.source.split(/[\\/]/).pop() ?? opts.source,
      text: opts.textName,
      text_tokens: ref.tokens.length,
      scored_tokens: ref.scored,
      window: nCtx,
      rows: [srcRow, ...rows],
      created_at: new Date().toISOString(),
    };
  } finally {
    ref?.close();
    rmSync(work, { recursive: true, force: true });
  }
}
