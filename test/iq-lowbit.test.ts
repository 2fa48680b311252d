/**
 * The lattice IQ types kiln writes (IQ3_XXS, IQ3_S, IQ2_XXS, IQ2_XS, IQ2_S, IQ1_S:
 * issue 17 §3), on kjv with an importance matrix made by kiln from text
 * disjoint from the prompts: the files run in kiln as in llama.cpp (greedy
 * tokens equal, parting only at near-ties), every tensor decodes as gguf-py
 * decodes it, and the types llama.cpp will not write without an imatrix are
 * refused the same way, with a message that says how to make one. (Their
 * quality against llama.cpp's quantizer with the same imatrix:
 * bench/quant-quality.ts --imatrix.)
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { isKilnError } from '../common/errors.js';
import { readGGUFFileSync } from '../engine/gguf/reader.js';
import { ggmlTypeName } from '../engine/gguf/types.js';
import { Model } from '../engine/model/model.js';
import { importance } from '../engine/quantize/imatrix.js';
import { computeImatrix } from '../engine/quantize/imatrix-run.js';
import { mixNeedsImatrix, type MixName } from '../engine/quantize/policy.js';
import { quantizeFile } from '../engine/quantize/quantize.js';
import { dequantize } from '../kernels/index.js';
import { cleanup, kiln, kilnEnv, startDaemon, tempHome } from './helpers/daemon.js';
import { describeReport, expectGreedyParity, heldoutPrompts } from './helpers/decoder-oracle.js';
import { KJV_F32, KJV_HELDOUT } from './helpers/fixtures.js';
import { load, oracle } from './helpers/llama-cpp.js';
import { llamaSource, pythonWithNumpy } from './helpers/llama-src.js';

/** Each mix with the lattice types its kjv file holds (kjv's ffn_down rows fall back to IQ4_NL). */
const MIXES: [MixName, string[]][] = [
  ['iq3_xxs', ['IQ3_XXS', 'IQ3_S', 'IQ2_S']],
  ['iq2_xs', ['IQ2_XS']],
  ['iq1_s', ['IQ1_S', 'IQ2_XXS']],
];

let dir: string;
const report: string[] = [];
const path = (mix: string): string => join(dir, `kjv-${mix}.gguf`);

beforeAll(async () => {
  dir = tempHome('kiln-iq-lowbit-');
  // calibration: the second half of the held-out text (the prompts come from its start)
  const lines = readFileSync(KJV_HELDOUT, 'utf8').split('\n');
  const im = await computeImatrix(KJV_F32, lines.slice(Math.trunc(lines.length / 2)).join('\n'), { chunk: 128 });
  const imp = importance(im);
  for (const [mix] of MIXES) await quantizeFile(KJV_F32, path(mix), mix, undefined, { imatrix: imp });
}, 120_000);

afterAll(async () => {
  if (report.length) console.log(`\nkiln vs llama.cpp on kiln-quantized kjv (greedy tokens):\n${report.join('\n')}`);
  if (dir) cleanup(dir);
  await (await oracle()).dispose();
});

describe('kiln-quantized lattice IQ files', () => {
  it.each(MIXES)('%s: holds its types and runs in kiln as in llama.cpp (4 prompts × 24 tokens, parting only at near-ties)', async (mix, types) => {
    const held = new Set(readGGUFFileSync(path(mix)).tensors.map((t) => ggmlTypeName(t.type)));
    for (const t of types) expect(held.has(t), `${mix} holds ${t}: ${[...held]}`).toBe(true);
    const model = await Model.load(path(mix), { nCtx: 64 });
    const theirs = await load(path(mix), 64);
    try {
      const r = await expectGreedyParity(model, theirs, heldoutPrompts(model, 4, 16), 24);
      report.push(describeReport(mix, r));
      expect(r.whole, 'continuations equal to the last token').toBeGreaterThanOrEqual(2);
    } finally {
      model.close();
      await theirs.dispose();
    }
  });

  it.each(MIXES)("%s: every tensor decodes as gguf-py's decoder decodes it", (mix) => {
    const bin = join(dir, `${mix}.f32`);
    const index = JSON.parse(
      execFileSync(pythonWithNumpy(), [join(import.meta.dirname, 'oracle', 'gguf_dequant.py'), join(llamaSource(), 'gguf-py'), path(mix), bin], { maxBuffer: 1 << 24 }).toString(),
    ) as { name: string; count: number; offset: number }[];
    const theirs = readFileSync(bin);
    const bytes = readFileSync(path(mix));
    const file = readGGUFFileSync(path(mix));
    expect(index.map((t) => t.name)).toEqual(file.tensors.map((t) => t.name));
    for (const t of file.tensors) {
      const e = index.find((x) => x.name === t.name)!;
      const ours = dequantize(t.type, bytes.subarray(t.absOffset, t.absOffset + t.byteSize), e.count);
      const ref = new Float32Array(theirs.buffer.slice(theirs.byteOffset + e.offset, theirs.byteOffset + e.offset + e.count * 4));
      let maxDiff = 0;
      let maxAbs = 0;
      for (let i = 0; i < ref.length; i++) {
        maxDiff = Math.max(maxDiff, Math.abs(ours[i] - ref[i]));
        maxAbs = Math.max(maxAbs, Math.abs(ref[i]));
      }
      expect(maxDiff, `${t.name} (${ggmlTypeName(t.type)})`).toBeLessThanOrEqual(maxAbs * 1e-6);
    }
  });
});

describe('the types that need an importance matrix', () => {
  it("are the mixes llama.cpp refuses without one: IQ3_XXS, IQ3_XS and the IQ2/IQ1 ones, not IQ3_S/IQ3_M", () => {
    const f = readGGUFFileSync(KJV_F32);
    const needs = (['iq3_m', 'iq3_s', 'iq3_xs', 'iq3_xxs', 'iq2_m', 'iq2_s', 'iq2_xs', 'iq2_xxs', 'iq1_s'] as MixName[]).filter((m) => mixNeedsImatrix(f, m));
    expect(needs).toEqual(['iq3_xs', 'iq3_xxs', 'iq2_m', 'iq2_s', 'iq2_xs', 'iq2_xxs', 'iq1_s']);
  });

  it('are refused without one, with a typed error that names --imatrix and kiln imatrix', async () => {
    let err: unknown;
    try {
      await quantizeFile(KJV_F32, join(dir, 'refused.gguf'), 'iq2_xs');
    } catch (e) {
      err = e;
    }
    expect(isKilnError(err, 'E_BAD_REQUEST')).toBe(true);
    expect((err as Error).message).toMatch(/IQ2_XS needs an importance matrix: blk\.0\.\w+\.weight would be IQ2_XS/);
    expect((err as Error).message).toMatch(/kiln imatrix MODEL TEXT -o FILE.*--imatrix FILE/);
  });

  it('the ladder (which quantizes without one) refuses them before any work', async () => {
    const r = await kiln(['quantize', KJV_F32, '--ladder', 'iq3_s,iq2_m'], kilnEnv(dir));
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/IQ2_M needs an importance matrix, and the ladder quantizes without one.*kiln imatrix/);
    expect(r.stderr).not.toMatch(/IQ3_S/);
  });

  it('kiln create --quantize and POST /api/create refuse them without an imatrix with a 400, before quantizing', async () => {
    const d = await startDaemon();
    try {
      const mf = join(dir, 'Modelfile');
      writeFileSync(mf, `FROM ${KJV_F32}\n`);
      const bad = await kiln(['create', 'kjv:iq2', '-f', mf, '--quantize', 'IQ2_XS'], d.env);
      expect(bad.code).not.toBe(0);
      expect(bad.stderr).toMatch(/IQ2_XS needs an importance matrix.*--imatrix FILE/);
      expect((await kiln(['create', 'kjv', '-f', mf], d.env)).code).toBe(0);
      const res = await fetch(`${d.url}/api/create`, { method: 'POST', body: JSON.stringify({ model: 'kjv:iq2', from: 'kjv', quantize: 'iq2_xxs', stream: false }) });
      expect(res.status).toBe(400);
      expect(((await res.json()) as { error: string }).error).toMatch(/IQ2_XXS needs an importance matrix/);
    } finally {
      await d.stop();
      cleanup(d.home);
    }
  }, 60_000);

  it('kiln quantize refuses IQ2_XXS without --imatrix, before writing anything', async () => {
    const out = join(dir, 'cli.gguf');
    const bare = await kiln(['quantize', KJV_F32, out, 'IQ2_XXS'], kilnEnv(dir));
    expect(bare.code).not.toBe(0);
    expect(bare.stderr).toMatch(/IQ2_XXS needs an importance matrix.*--imatrix FILE/);
    expect(existsSync(out)).toBe(false);
  });
});
