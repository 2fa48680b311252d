/**
 * Router fidelity: on a one-layer random qwen3moe (8 experts, top 2) the
 * experts kiln chooses for every token of a prompt are the ones llama.cpp
 * chooses. With one layer, a position's logits depend on its own routing
 * (through its FFN) and on nothing routed elsewhere, and the experts' outputs
 * are made large (down projections of gain 4, no residual-dominated FFN), so
 * a different choice at any position moves that position's next-token
 * distribution by far more than float rounding: teacher-forced over the
 * prompt, kiln's distributions must equal llama.cpp's (node-llama-cpp's
 * controlledEvaluate probabilities) within 1e-4 at every position, where
 * they differ by ~1e-6 when the routing agrees. kiln's own routing trace
 * shows the choices were varied and not near-ties (so the comparison can tell
 * them apart).
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decoderSpec } from '../bench/arch-specs.js';
import { writeRandomModel, vocabSize } from '../bench/random-model.js';
import { Model } from '../engine/model/model.js';
import { cleanup, tempHome } from './helpers/daemon.js';
import { heldoutPrompts, withSequence } from './helpers/decoder-oracle.js';
import { distributions, load, oracle, type Loaded } from './helpers/llama-cpp.js';

const K = 2, NE = 8;
let dir: string;
let model: Model;
let theirs: Loaded;

beforeAll(async () => {
  dir = tempHome('kiln-moe-router-');
  const path = join(dir, 'router.gguf');
  const spec = decoderSpec('qwen3moe', { nEmbd: 256, nHead: 4, nHeadKv: 2, headDim: 64, nFf: 512, nFfExp: 256, nExpert: NE, nExpertUsed: K, nLayer: 1 }, await vocabSize(), { routerGain: 1, seed: Number(process.env.SEED ?? 1) });
  // the experts' down projections loud, so each expert's output dominates the residual stream
  for (const t of spec.tensors) if (t.name.includes('ffn_down_exps')) t.fill = { kind: 'matrix', gain: 4 };
  await writeRandomModel(path, spec);
  model = await Model.load(path, { nCtx: 128 });
  theirs = await load(path, 128);
}, 60_000);

afterAll(async () => {
  model?.close();
  await theirs?.dispose();
  await (await oracle()).dispose();
  if (dir) cleanup(dir);
});

function softmax(l: Float32Array): Float64Array {
  let mx = -Infinity;
  for (const v of l) mx = Math.max(mx, v);
  const p = new Float64Array(l.length);
  let s = 0;
  for (let i = 0; i < p.length; i++) s += p[i] = Math.exp(l[i] - mx);
  for (let i = 0; i < p.length; i++) p[i] /= s;
  return p;
}

describe('MoE routing', () => {
  it("chooses, for every token of a prompt, the experts llama.cpp chooses (one layer: each position's logits show its choice)", async () => {
    const prompt = heldoutPrompts(model, 1, 64)[0];
    const V = model.hp.nVocab;
    model.native.traceRoutes(true);
    model.native.truncate(0);
    const logits = model.native.eval(prompt, 0, true);
    const { experts, margins } = model.native.routes();
    model.native.traceRoutes(false);
    const ref = await withSequence(() => distributions(theirs, prompt, V));

    let worst = 0;
    for (let t = 0; t < prompt.length; t++) {
      const p = softmax(logits.subarray(t * V, (t + 1) * V));
      let d = 0;
      for (let i = 0; i < V; i++) d = Math.max(d, Math.abs(p[i] - ref[t][i]));
      expect(d, `position ${t} (experts ${[...experts.subarray(t * K, t * K + K)]})`).toBeLessThan(1e-4);
      worst = Math.max(worst, d);
    }
    // the routing is varied (every expert used, many different pairs) and every choice clear of a near-tie
    const pairs = new Set<string>();
    const used = new Set<number>();
    for (let t = 0; t < prompt.length; t++) {
      const sel = [...experts.subarray(t * K, t * K + K)];
      expect(new Set(sel).size, `token ${t} has ${K} distinct experts`).toBe(K);
      for (const e of sel) {
        expect(e).toBeGreaterThanOrEqual(0);
        expect(e).toBeLessThan(NE);
        used.add(e);
      }
      pairs.add(sel.join(','));
    }
    expect(used.size).toBe(NE);
    expect(pairs.size).toBeGreaterThanOrEqual(10);
    expect(Math.min(...margins), 'smallest router margin').toBeGreaterThan(1e-4);

    console.log(`router fidelity: ${prompt.length} positions, ${pairs.size} expert pairs, largest probability difference ${worst.toExponential(2)}`);
  });
});
