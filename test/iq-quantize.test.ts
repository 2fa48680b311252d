/**
 * kjv quantized by kiln to the IQ types it writes (IQ4_NL, IQ4_XS: issue 17
 * §3) runs in kiln as in llama.cpp: the file holds the type, and greedy
 * continuations of kjv in kiln's Model equal llama.cpp's on the same file,
 * parting only at near-ties. (That the files load in llama.cpp, follow the
 * mix and decode as gguf-py decodes them: test/quantize-oracle.test.ts; their
 * quality against llama.cpp's quantizer: test/quant-quality.test.ts.)
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { readGGUFFileSync } from '../engine/gguf/reader.js';
import { ggmlTypeName } from '../engine/gguf/types.js';
import { Model } from '../engine/model/model.js';
import type { MixName } from '../engine/quantize/policy.js';
import { quantizeFile } from '../engine/quantize/quantize.js';
import { cleanup, tempHome } from './helpers/daemon.js';
import { describeReport, expectGreedyParity, heldoutPrompts } from './helpers/decoder-oracle.js';
import { KJV_F32 } from './helpers/fixtures.js';
import { load, oracle } from './helpers/llama-cpp.js';

const MIXES: [MixName, string][] = [
  ['iq4_xs', 'IQ4_XS'],
  ['iq4_nl', 'IQ4_NL'],
];

let dir: string;
const report: string[] = [];
const path = (mix: string): string => join(dir, `kjv-${mix}.gguf`);

beforeAll(async () => {
  dir = tempHome('kiln-iq-quantize-');
  for (const [mix] of MIXES) await quantizeFile(KJV_F32, path(mix), mix);
}, 120_000);

afterAll(async () => {
  if (report.length) console.log(`\nkiln vs llama.cpp on kiln-quantized kjv (greedy tokens):\n${report.join('\n')}`);
  if (dir) cleanup(dir);
  await (await oracle()).dispose();
});

describe('kiln-quantized IQ files run in kiln as in llama.cpp', () => {
  it.each(MIXES)('%s: the file holds its type, and 4 prompts × 24 tokens equal llama.cpp\'s, parting only at near-ties', async (mix, main) => {
    const counts = new Map<string, number>();
    for (const t of readGGUFFileSync(path(mix)).tensors) counts.set(ggmlTypeName(t.type), (counts.get(ggmlTypeName(t.type)) ?? 0) + 1);
    const top = [...counts].sort((a, b) => b[1] - a[1])[0][0];
    expect(top, JSON.stringify([...counts])).toBe(main);
    const model = await Model.load(path(mix), { nCtx: 64 });
    const theirs = await load(path(mix), 64);
    try {
      const r = await expectGreedyParity(model, theirs, heldoutPrompts(model, 4, 16), 24);
      report.push(describeReport(main, r));
      expect(r.whole, 'continuations equal to the last token').toBeGreaterThanOrEqual(2);
    } finally {
      model.close();
      await theirs.dispose();
    }
  });
});
