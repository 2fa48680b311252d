/**
 * Proof of the quant formats against llama.cpp (issue #3): every type kiln
 * writes loads in llama.cpp (node-llama-cpp, pinned), has the tensor types of
 * the mix policy, keeps llama.cpp's greedy continuations and next-token
 * distributions close to the F32 model's, and dequantizes — tensor by tensor,
 * value by value — exactly as llama.cpp's own gguf-py decoder does. A wrong bit
 * anywhere in a block layout fails the last check.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readGGUFFileSync } from '../engine/gguf/reader.js';
import { ggmlTypeName } from '../engine/gguf/types.js';
import { planQuantization, type MixName } from '../engine/quantize/policy.js';
import { quantizeFile } from '../engine/quantize/quantize.js';
import { dequantize } from '../kernels/index.js';
import { cleanup, tempHome } from './helpers/daemon.js';
import { KJV_F32, KJV_GOLDEN, KJV_HELDOUT } from './helpers/fixtures.js';
import { distributions, greedy, kl, load, oracle } from './helpers/llama-cpp.js';
import { llamaSource, pythonWithNumpy } from './helpers/llama-src.js';

/**
 * Per type: the least share of the 8×16 golden greedy tokens that must match
 * the F32 model's, and the largest mean KL(F32 ‖ quantized) in nats over the
 * held-out text. Greedy agreement on this tiny model turns on near-ties (even
 * llama.cpp's own Q8_0 quantizer scores 115/128), so it is a loose bound; KL
 * is the tight one: bounds sit 2–10× above what kiln reaches and far below
 * what a broken layout gives (agreement near 0, KL > 1).
 */
const TYPES: Record<MixName, { agree: number; kl: number }> = {
  f16: { agree: 1, kl: 0.0001 },
  bf16: { agree: 0.9, kl: 0.0003 },
  q8_0: { agree: 0.75, kl: 0.0005 },
  q6_K: { agree: 0.75, kl: 0.001 },
  q5_K_M: { agree: 0.7, kl: 0.002 },
  q5_K_S: { agree: 0.7, kl: 0.002 },
  q5_1: { agree: 0.65, kl: 0.002 },
  q5_0: { agree: 0.65, kl: 0.003 },
  q4_K_M: { agree: 0.65, kl: 0.005 },
  q4_K_S: { agree: 0.65, kl: 0.005 },
  q4_1: { agree: 0.6, kl: 0.006 },
  q4_0: { agree: 0.6, kl: 0.008 },
  iq4_xs: { agree: 0.6, kl: 0.006 },
  iq4_nl: { agree: 0.6, kl: 0.006 },
  q3_K_L: { agree: 0.45, kl: 0.02 },
  q3_K_M: { agree: 0.45, kl: 0.02 },
  q3_K_S: { agree: 0.45, kl: 0.025 },
  q2_K: { agree: 0.4, kl: 0.08 },
  f32: { agree: 1, kl: 0.0001 },
};
const MIXES = Object.keys(TYPES).filter((m) => m !== 'f32') as MixName[];

interface Golden {
  prompts: { prompt_tokens: number[]; generated_tokens: number[] }[];
}
const golden = JSON.parse(readFileSync(KJV_GOLDEN, 'utf8')) as Golden;

let dir: string;
const files = new Map<MixName, string>();
let reference: Float64Array[] = [];
let heldoutTokens: number[] = [];
const report: string[] = [];

beforeAll(async () => {
  dir = tempHome('kiln-oracle-');
  for (const m of MIXES) {
    const out = join(dir, `kjv-${m}.gguf`);
    await quantizeFile(KJV_F32, out, m);
    files.set(m, out);
  }
  const f32 = await load(KJV_F32);
  const text = readFileSync(KJV_HELDOUT, 'utf8');
  heldoutTokens = [1995, ...(f32.model.tokenize(text) as number[]).slice(0, 127)];
  reference = await distributions(f32, heldoutTokens, 2000);
  await f32.dispose();
}, 180_000);

afterAll(async () => {
  if (report.length) console.log(`\nquantized kjv vs F32 in llama.cpp (type: greedy agreement, mean KL nats):\n${report.join('\n')}`);
  cleanup(dir);
  await (await oracle()).dispose();
});

describe('kiln-quantized files in llama.cpp', () => {
  it.each(MIXES)('%s loads, follows the policy and stays close to F32', async (mix) => {
    const path = files.get(mix)!;
    const file = readGGUFFileSync(path);
    const plan = planQuantization(readGGUFFileSync(KJV_F32), mix);
    expect(file.tensors.map((t) => `${t.name}:${ggmlTypeName(t.type)}`)).toEqual(plan.map((p) => `${p.name}:${ggmlTypeName(p.to)}`));

    const m = await load(path);
    try {
      let same = 0;
      for (const p of golden.prompts) {
        const got = await greedy(m, p.prompt_tokens, 16);
        let k = 0;
        while (k < 16 && got[k] === p.generated_tokens[k]) k++;
        same += k;
      }
      const agree = same / (golden.prompts.length * 16);
      const dists = await distributions(m, heldoutTokens, 2000);
      const meanKl = dists.reduce((s, q, i) => s + kl(reference[i], q), 0) / dists.length;
      report.push(`  ${mix.padEnd(7)} ${same}/${golden.prompts.length * 16}  KL ${meanKl.toFixed(5)}`);
      expect(agree).toBeGreaterThanOrEqual(TYPES[mix].agree);
      expect(meanKl).toBeLessThanOrEqual(TYPES[mix].kl);
    } finally {
      await m.dispose();
    }
  });
});

describe('kiln dequantization against llama.cpp\'s gguf-py decoder', () => {
  it.each(MIXES)('%s: every tensor decodes to the same values', (mix) => {
    const src = llamaSource();
    const py = pythonWithNumpy();
    const path = files.get(mix)!;
    const bin = join(dir, `${mix}.f32`);
    const index = JSON.parse(execFileSync(py, [join(import.meta.dirname, 'oracle', 'gguf_dequant.py'), join(src, 'gguf-py'), path, bin], { maxBuffer: 1 << 24 }).toString()) as {
      name: string;
      type: number;
      count: number;
      offset: number;
    }[];
    const theirs = readFileSync(bin);
    const file = readGGUFFileSync(path);
    const bytes = readFileSync(path);
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
      // float32 evaluation order differs between numpy and C: allow a few ulps of the tensor's scale
      expect(maxDiff, `${t.name} (${ggmlTypeName(t.type)})`).toBeLessThanOrEqual(maxAbs * 1e-6);
    }
  });
});
