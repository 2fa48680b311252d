/**
 * What a quantized KV cache costs in quality: KL(f16 cache ‖ quantized
 * cache) of kjv's next-token distributions over its held-out text
 * (engine/eval/kl.ts: windows of --ctx tokens from an empty cache, every
 * position scored), for q8_0 and q4_0 keys and values and two mixes, with
 * the top-1 agreement and the perplexity of each. The model is kjv-f32 so the
 * cache is the only thing quantized.
 *
 *     npx tsc -p tsconfig.json && node dist/bench/kv-cache-kl.js [--ctx 256] [--model F32.gguf] [--text FILE]
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { KvTypes } from '../common/kv-cache.js';
import { klDivergence } from '../engine/eval/kl.js';
import { Model } from '../engine/model/model.js';

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && i + 1 < process.argv.length ? process.argv[i + 1] : def;
}

const KJV = fileURLToPath(new URL('../../models/kjv/', import.meta.url));
const CASES: KvTypes[] = [
  { k: 'q8_0', v: 'q8_0' },
  { k: 'q4_0', v: 'q4_0' },
  { k: 'q8_0', v: 'q4_0' },
  { k: 'q4_0', v: 'q8_0' },
];

async function main(): Promise<void> {
  const path = arg('model', join(KJV, 'kjv-f32.gguf'));
  const text = readFileSync(arg('text', join(KJV, 'heldout.txt')), 'utf8');
  const nCtx = Number(arg('ctx', '256'));
  const base = await Model.load(path, { nCtx });
  console.log(`KL(f16 cache ‖ quantized cache) on ${path.split('/').pop()}, ${arg('text', 'heldout.txt').split('/').pop()}, windows of ${nCtx} tokens`);
  console.log('K/V         mean KL    median KL  p99 KL     max KL     top-1 agree  ppl f16   ppl quant');
  for (const kv of CASES) {
    const other = await Model.load(path, { nCtx, kvTypes: kv });
    try {
      const r = await klDivergence(base, other, text);
      const e = (x: number) => x.toExponential(2).padEnd(11);
      console.log(
        `${`${kv.k}/${kv.v}`.padEnd(12)}${e(r.meanKl)}${e(r.medianKl)}${e(r.p99Kl)}${e(r.maxKl)}${`${(100 * r.top1Agreement).toFixed(2)}%`.padEnd(13)}` +
          `${r.base.perplexity.toFixed(4).padEnd(10)}${r.other.perplexity.toFixed(4)}  (${r.scored} positions)`,
      );
    } finally {
      other.close();
    }
  }
  base.close();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
