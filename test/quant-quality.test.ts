/**
 * Quantization quality against llama.cpp's own quantizer (issue 17): kjv-f32
 * quantized by kiln and by llama_model_quantize (node-llama-cpp's libllama,
 * default parameters), both files evaluated by llama.cpp over the held-out
 * text (bench/quality.ts: 128-token windows, second halves scored, mean
 * KL(F32 ‖ quant)). kiln's file must be at least as good. The full table:
 * `node dist/bench/quant-quality.js`.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { llamaQuantizeAsync } from '../bench/llama-quantizer.js';
import { readGGUFFileSync } from '../engine/gguf/reader.js';
import { ggmlTypeName } from '../engine/gguf/types.js';
import { disposeOracle, meanKl, reference, type Reference } from '../bench/quality.js';
import { importance, readImatrix, writeImatrix } from '../engine/quantize/imatrix.js';
import { computeImatrix } from '../engine/quantize/imatrix-run.js';
import { MIXES, type MixName } from '../engine/quantize/policy.js';
import { quantizeFile } from '../engine/quantize/quantize.js';
import { cleanup, tempHome } from './helpers/daemon.js';
import { KJV_F32, KJV_HELDOUT } from './helpers/fixtures.js';

const SAMPLED = new URL('./fixtures/kjv-sampled.txt', import.meta.url);

let dir: string;
let full: Reference;
/**
 * The held-out text plus test/fixtures/kjv-sampled.txt (91 windows against
 * 18): kjv-f32's own continuations of 20 short prompts, 230 tokens each, made
 * by llama.cpp (node-llama-cpp LlamaCompletion, temperature 1, no top-k/p/min-p
 * truncation, seeds 1000..1019). KL over the model's own distribution; the
 * near-parity types are compared on it, where 18 windows' noise (~1-2%) would
 * decide them.
 */
let wide: Reference;
const report: string[] = [];

beforeAll(async () => {
  dir = tempHome('kiln-quality-');
  full = await reference(KJV_F32, readFileSync(KJV_HELDOUT, 'utf8'));
  wide = await reference(KJV_F32, `${readFileSync(KJV_HELDOUT, 'utf8')}\n${readFileSync(SAMPLED, 'utf8')}`);
}, 300_000);

afterAll(async () => {
  if (report.length) console.log(`\nmean KL(F32 ‖ quant) on kjv, kiln vs llama.cpp:\n${report.join('\n')}`);
  cleanup(dir);
  await disposeOracle();
});

/** Each tensor's type, by name. */
const tensorTypes = (path: string): Record<string, string> =>
  Object.fromEntries(readGGUFFileSync(path).tensors.map((t) => [t.name, ggmlTypeName(t.type)]));

async function both(mix: MixName, ref: Reference, imatrix?: Map<string, Float32Array>): Promise<{ kiln: number; llama: number }> {
  const tag = imatrix ? `${mix}-im` : mix;
  const k = join(dir, `kiln-${tag}.gguf`);
  const l = join(dir, `llama-${tag}.gguf`);
  await quantizeFile(KJV_F32, k, mix, undefined, { imatrix });
  await llamaQuantizeAsync(KJV_F32, l, MIXES[mix].fileType, { imatrix });
  // the same mix: every tensor has the type llama.cpp's quantizer gives it
  expect(tensorTypes(k)).toEqual(tensorTypes(l));
  return { kiln: await meanKl(k, ref), llama: await meanKl(l, ref) };
}

describe('kiln quantizes at least as well as llama.cpp (no imatrix)', () => {
  it.each(['q4_K_M', 'q4_0', 'q2_K', 'q8_0', 'iq4_xs', 'iq4_nl'] as MixName[])('%s', async (mix) => {
    const r = await both(mix, full);
    report.push(`  ${mix.padEnd(7)} kiln ${r.kiln.toFixed(6)}  llama.cpp ${r.llama.toFixed(6)}  ${(r.kiln / r.llama).toFixed(3)}x`);
    expect(r.kiln).toBeLessThanOrEqual(r.llama);
  }, 120_000);

  // issue 17 §1: these were 1.05x with the weighted search on every tensor
  it.each(['q3_K_M', 'q3_K_L', 'q4_K_S'] as MixName[])('%s (held-out + sampled text, 91 windows)', async (mix) => {
    const r = await both(mix, wide);
    report.push(`  ${mix.padEnd(7)} kiln ${r.kiln.toFixed(6)}  llama.cpp ${r.llama.toFixed(6)}  ${(r.kiln / r.llama).toFixed(3)}x (91 windows)`);
    expect(r.kiln).toBeLessThanOrEqual(r.llama);
  }, 300_000);

  // Without an imatrix the embedding table and attn_q/attn_k/ffn_gate/ffn_up
  // take the plain Q3_K quantizer, llama.cpp's own algorithm: its very bytes
  // (engine/quantize/quantize.ts usePlain); the other Q3_K/Q4_K tensors keep
  // the weighted search, which measured better there.
  it('q3_K_M: the plain tensors have the bytes llama.cpp writes', async () => {
    const k = join(dir, 'plain-kiln.gguf');
    const l = join(dir, 'plain-llama.gguf');
    await quantizeFile(KJV_F32, k, 'q3_K_M');
    await llamaQuantizeAsync(KJV_F32, l, MIXES.q3_K_M.fileType);
    const kb = readFileSync(k);
    const lb = readFileSync(l);
    const lt = new Map(readGGUFFileSync(l).tensors.map((t) => [t.name, t]));
    const same: string[] = [];
    for (const t of readGGUFFileSync(k).tensors) {
      const u = lt.get(t.name)!;
      if (kb.subarray(t.absOffset, t.absOffset + t.byteSize).equals(lb.subarray(u.absOffset, u.absOffset + u.byteSize)) && ggmlTypeName(t.type) === 'Q3_K')
        same.push(t.name.replace(/^blk\.\d+\./, ''));
    }
    expect(new Set(same)).toEqual(new Set(['token_embd.weight', 'attn_q.weight', 'attn_k.weight', 'ffn_gate.weight', 'ffn_up.weight']));
    expect(same).toHaveLength(1 + 4 * 6);
  }, 60_000);
});

describe('with an importance matrix from text disjoint from the evaluation text', () => {
  it('q4_K_M: better than without, and at least as good as llama.cpp with the same imatrix', async () => {
    const lines = readFileSync(KJV_HELDOUT, 'utf8').split('\n');
    const half = Math.floor(lines.length / 2);
    const path = join(dir, 'calib.imatrix');
    await writeImatrix(path, await computeImatrix(KJV_F32, lines.slice(0, half).join('\n'), { chunk: 128 }));
    const imatrix = importance(readImatrix(path));
    const evalRef = await reference(KJV_F32, lines.slice(half).join('\n'));
    const plain = await both('q4_K_M', evalRef);
    const withIm = await both('q4_K_M', evalRef, imatrix);
    report.push(
      `  q4_K_M on the second half, imatrix from the first: kiln ${plain.kiln.toFixed(6)} → ${withIm.kiln.toFixed(6)}; llama.cpp ${plain.llama.toFixed(6)} → ${withIm.llama.toFixed(6)}`,
    );
    expect(withIm.kiln).toBeLessThan(plain.kiln);
    expect(withIm.kiln).toBeLessThanOrEqual(withIm.llama);
    expect(withIm.kiln).toBeLessThan(plain.llama);
  }, 240_000);
});
