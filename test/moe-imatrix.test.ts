/**
 * `kiln imatrix` on a mixture of experts: the forward pass observes each
 * expert's slice as its own weight, and the importance matrix keeps, for each
 * 3-D expert tensor, one vector and one token count per expert (llama.cpp's
 * in_sum2 [ncols, n_expert] and counts [1, n_expert]): every token counts
 * once for each of the k experts it used, gate and up see the same inputs,
 * and kiln's quantizer takes the result.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decoderSpec } from '../bench/arch-specs.js';
import { writeRandomModel, vocabSize } from '../bench/random-model.js';
import { readGGUFFileSync } from '../engine/gguf/reader.js';
import { importance, readImatrix, writeImatrix } from '../engine/quantize/imatrix.js';
import { computeImatrix } from '../engine/quantize/imatrix-run.js';
import { quantizeFile } from '../engine/quantize/quantize.js';
import { cleanup, tempHome } from './helpers/daemon.js';
import { KJV_HELDOUT } from './helpers/fixtures.js';

const NE = 8, K = 2, D = 256, FE = 256;
let dir: string;
let model: string;

beforeAll(async () => {
  dir = tempHome('kiln-moe-imatrix-');
  model = join(dir, 'moe.gguf');
  await writeRandomModel(model, decoderSpec('qwen3moe', { nEmbd: D, nHead: 4, nHeadKv: 2, headDim: 64, nFf: 512, nFfExp: FE, nExpert: NE, nExpertUsed: K, nLayer: 2 }, await vocabSize()));
}, 60_000);

afterAll(() => {
  if (dir) cleanup(dir);
});

describe('imatrix of a mixture of experts', () => {
  it('keeps one importance vector and count per expert, and the quantizer takes it', async () => {
    const text = readFileSync(KJV_HELDOUT, 'utf8').split('\n').slice(0, 40).join('\n');
    const path = join(dir, 'moe.imatrix');
    await writeImatrix(path, await computeImatrix(model, text, { chunk: 64 }));
    const m = readImatrix(path);
    const router = m.entries.get('blk.1.ffn_gate_inp.weight')!;
    expect(router.counts.length).toBe(1);
    const tokens = router.counts[0];
    expect(tokens).toBeGreaterThan(64);
    for (const name of ['ffn_gate_exps', 'ffn_up_exps', 'ffn_down_exps']) {
      const e = m.entries.get(`blk.1.${name}.weight`);
      expect(e, name).toBeDefined();
      expect(e!.counts.length).toBe(NE);
      expect(e!.ncols).toBe(name === 'ffn_down_exps' ? FE : D);
      // every token used K experts
      expect(e!.counts.reduce((a, b) => a + b, 0)).toBe(tokens * K);
      expect(e!.counts.filter((c) => c > 0).length).toBeGreaterThan(1);
    }
    const gate = m.entries.get('blk.1.ffn_gate_exps.weight')!, up = m.entries.get('blk.1.ffn_up_exps.weight')!;
    expect([...up.counts]).toEqual([...gate.counts]);
    expect([...up.sum2]).toEqual([...gate.sum2]);
    const out = join(dir, 'moe-q4_K_M.gguf');
    await quantizeFile(model, out, 'q4_K_M', () => {}, { imatrix: importance(m) });
    expect(readGGUFFileSync(out).tensors.find((t) => t.name === 'blk.1.ffn_up_exps.weight')!.dims).toEqual([D, FE, NE]);
  }, 60_000);
});
