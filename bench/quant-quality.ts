/**
 * Quantization quality, kiln against llama.cpp's own quantizer (issue 17):
 * kjv-f32 (or --model) quantized to each type by both, each file evaluated by
 * llama.cpp on the same held-out text (bench/quality.ts: 128-token windows
 * scored on their second halves, mean KL(F32 ‖ quant) in nats).
 *
 *     npx tsc -p tsconfig.json && node dist/bench/quant-quality.js [--mix q4_K_M,q3_K_M] [--text FILE]
 *         [--imatrix FILE] [--model F32.gguf]
 *
 * With --imatrix (an imatrix GGUF, kiln's or llama.cpp's) both quantizers
 * also run with it, and the table gains those columns: make the imatrix from
 * text disjoint from --text (e.g. `kiln imatrix MODEL CALIB -o FILE`).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { importance, readImatrix } from '../engine/quantize/imatrix.js';
import { MIXES, mixNeedsImatrix, parseMix, type MixName } from '../engine/quantize/policy.js';
import { readGGUFFileSync } from '../engine/gguf/reader.js';
import { quantizeFile } from '../engine/quantize/quantize.js';
import { llamaQuantize } from './llama-quantizer.js';
import { disposeOracle, meanKl, reference } from './quality.js';

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && i + 1 < process.argv.length ? process.argv[i + 1] : def;
}

const KJV = fileURLToPath(new URL('../../models/kjv/', import.meta.url));
const QUANTIZED = (Object.keys(MIXES) as MixName[]).filter((m) => !['f32', 'f16', 'bf16'].includes(m));

async function main(): Promise<void> {
  const model = arg('model', join(KJV, 'kjv-f32.gguf'));
  const text = readFileSync(arg('text', join(KJV, 'heldout.txt')), 'utf8');
  const mixes = arg('mix', QUANTIZED.join(',')).split(',').map(parseMix);
  const imPath = arg('imatrix', '');
  const imatrix = imPath ? importance(readImatrix(imPath)) : undefined;
  const dir = mkdtempSync(join(tmpdir(), 'kiln-quality-'));
  try {
    const ref = await reference(model, text);
    console.log(`${model}: ${ref.windows.length} windows, ${ref.windows.length * 64} scored positions; mean KL(F32 ‖ quant), nats`);
    const head = imatrix
      ? 'type      kiln       llama.cpp  kiln/llama | kiln+im    llama+im   kiln+im/llama  kiln+im/llama+im'
      : 'type      kiln       llama.cpp  kiln/llama';
    console.log(head);
    for (const mix of mixes) {
      const ft = MIXES[mix].fileType;
      const k = join(dir, `kiln-${mix}.gguf`);
      const l = join(dir, `llama-${mix}.gguf`);
      // the lowest-bit mixes exist only with an imatrix (both tools refuse them without one)
      const bare = !mixNeedsImatrix(readGGUFFileSync(model), mix);
      if (!bare && !imatrix) {
        console.log(`${mix.padEnd(8)}  needs --imatrix`);
        continue;
      }
      let kk = NaN;
      let lk = NaN;
      if (bare) {
        await quantizeFile(model, k, mix);
        llamaQuantize(model, l, ft);
        kk = await meanKl(k, ref);
        lk = await meanKl(l, ref);
      }
      const f = (v: number, w = 8): string => (Number.isNaN(v) ? '-'.padEnd(w) : v.toFixed(6));
      let line = `${mix.padEnd(8)}  ${f(kk)}   ${f(lk)}   ${bare ? `${(kk / lk).toFixed(3)}x` : '-     '}`;
      if (imatrix) {
        await quantizeFile(model, k, mix, undefined, { imatrix });
        llamaQuantize(model, l, ft, { imatrix });
        const ki = await meanKl(k, ref);
        const li = await meanKl(l, ref);
        line += `     | ${ki.toFixed(6)}   ${li.toFixed(6)}   ${bare ? `${(ki / lk).toFixed(3)}x` : '-     '}         ${(ki / li).toFixed(3)}x`;
      }
      console.log(line);
      rmSync(k, { force: true });
      rmSync(l, { force: true });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await disposeOracle();
  }
}

await main();
