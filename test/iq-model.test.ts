/**
 * GGUF files whose weights are in the IQ and TQ types, made by llama.cpp's own
 * quantizer (llama_model_quantize from node-llama-cpp's libllama, through
 * bench/tools/llama-quantize.c; the IQ2/IQ1 file types with an importance
 * matrix of ones, since llama.cpp refuses them without one), run in kiln:
 * greedy continuations of kjv equal llama.cpp's on the same file, parting only
 * at near-ties (kiln's Model, the native forward pass over the IQ kernels); and the daemon imports them, `kiln show` names the type,
 * `kiln list` gives the file's size, and a generation runs.
 */
import { statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ollama } from 'ollama';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { humanBytes } from '../cli/format.js';
import { readGGUFFileSync } from '../engine/gguf/reader.js';
import { ggmlTypeName } from '../engine/gguf/types.js';
import { Model } from '../engine/model/model.js';
import { cleanup, kiln, startDaemon, tempHome, type RunningDaemon } from './helpers/daemon.js';
import { describeReport, expectGreedyParity, heldoutPrompts } from './helpers/decoder-oracle.js';
import { KJV_F32 } from './helpers/fixtures.js';
import { load, oracle } from './helpers/llama-cpp.js';
import { llamaQuantizeAsync } from '../bench/llama-quantizer.js';

/**
 * llama.cpp file type, the tensor type it must mostly hold, and whether it
 * needs an imatrix. The other IQ file types (IQ3_XXS 23, IQ2_XS 20, IQ2_M 29,
 * IQ1_S 24, IQ1_M 31) pass the same check, but llama.cpp's searches for them
 * take 5-10 s each on this small model: their blocks are proven against
 * gguf-py and the reference in kernels/iq.test.ts instead. IQ2_XXS (with the
 * unit imatrix) also puts IQ4_NL and Q2_K tensors in the file.
 */
const FILES: [name: string, ftype: number, main: string, imatrix: boolean][] = [
  ['IQ4_XS', 30, 'IQ4_XS', false],
  ['IQ4_NL', 25, 'IQ4_NL', false],
  ['IQ3_S', 26, 'IQ3_S', false],
  ['IQ2_XXS', 19, 'IQ2_XXS', true],
  ['TQ2_0', 37, 'TQ2_0', false],
  ['TQ1_0', 36, 'TQ1_0', false],
];

let dir: string;
const report: string[] = [];
const path = (name: string): string => join(dir, `kjv-${name}.gguf`);

beforeAll(async () => {
  dir = tempHome('kiln-iq-model-');
  for (const [name, ftype, , imatrix] of FILES) await llamaQuantizeAsync(KJV_F32, path(name), ftype, { threads: 2, unitImatrix: imatrix });
}, 180_000);

afterAll(async () => {
  if (report.length) console.log(`\nkiln vs llama.cpp on llama.cpp-quantized kjv (greedy tokens):\n${report.join('\n')}`);
  if (dir) cleanup(dir);
  await (await oracle()).dispose();
});

describe('llama.cpp-quantized kjv runs in kiln as in llama.cpp', () => {
  it.each(FILES)('%s: the file holds its type, and 4 prompts × 24 tokens equal llama.cpp\'s, parting only at near-ties', async (name, _ftype, main) => {
    const counts = new Map<string, number>();
    for (const t of readGGUFFileSync(path(name)).tensors) counts.set(ggmlTypeName(t.type), (counts.get(ggmlTypeName(t.type)) ?? 0) + 1);
    const top = [...counts].sort((a, b) => b[1] - a[1])[0][0];
    expect(top, JSON.stringify([...counts])).toBe(main);
    const model = await Model.load(path(name), { nCtx: 64 });
    const theirs = await load(path(name), 64);
    try {
      const prompts = heldoutPrompts(model, 4, 16);
      const r = await expectGreedyParity(model, theirs, prompts, 24);
      report.push(describeReport(name, r));
      expect(r.whole, 'continuations equal to the last token').toBeGreaterThanOrEqual(2);
    } finally {
      model.close();
      await theirs.dispose();
    }
  });
});

describe('the daemon and the kiln binary', () => {
  let d: RunningDaemon;
  beforeAll(async () => {
    d = await startDaemon();
  });
  afterAll(async () => {
    await d?.stop();
    if (d) cleanup(d.home);
  });

  it('imports IQ4_XS and IQ2_XXS files: kiln show names the type, kiln list gives the size, and they generate', async () => {
    for (const name of ['IQ4_XS', 'IQ2_XXS']) {
      const mf = join(dir, `Modelfile.${name}`);
      writeFileSync(mf, `FROM ${path(name)}\n`);
      const tag = `kjv-${name.toLowerCase()}`;
      const c = await kiln(['create', tag, '-f', mf], d.env);
      expect(c.code, c.stderr).toBe(0);
      const show = await kiln(['show', tag], d.env);
      expect(show.stdout).toMatch(new RegExp(`^\\s+quantization\\s+${name}$`, 'm'));
      const list = await kiln(['list'], d.env);
      const row = list.stdout.split('\n').find((l) => l.startsWith(`${tag}:latest`));
      expect(row, list.stdout).toContain(humanBytes(statSync(path(name)).size));
      const ollama = new Ollama({ host: d.url });
      const g = await ollama.generate({ model: tag, prompt: 'In the beginning', options: { num_predict: 4, temperature: 0 } });
      expect(g.eval_count).toBe(4);
    }
  });
});
