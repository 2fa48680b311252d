import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { vocabSize, writeRandomModel } from '../../bench/random-model.js';
import { decoderSpec } from '../../bench/arch-specs.js';
import { gv } from '../gguf/types.js';
import { Model } from '../model/model.js';

/**
 * Context shift on a model whose sliding-window layers rotate with their own
 * RoPE base (gemma3: 10000 locally, here 1e6 × linear 1/8 globally). As in
 * shift.test.ts, a one-layer model makes the check exact: after dropping
 * positions and re-rotating the keys that move, the next token's logits must
 * be what evaluating the kept tokens afresh gives. With pattern 6 the layer
 * is a sliding-window one, with pattern 1 a global one; re-rotating either
 * with the other's base fails.
 */
const dir = mkdtempSync(join(tmpdir(), 'kiln-shift-swa-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const D = 64, H = 2, HD = 32, FF = 128;

async function oneLayerGemma3(pattern: number): Promise<string> {
  const spec = decoderSpec('gemma3', { nEmbd: D, nHead: H, nHeadKv: 1, headDim: HD, nFf: FF, nLayer: 1 }, await vocabSize(), {
    kv: {
      'attention.sliding_window': gv.u32(16),
      'attention.sliding_window_pattern': gv.u32(pattern),
      'rope.freq_base': gv.f32(1e6),
      'rope.scaling.type': gv.str('linear'),
      'rope.scaling.factor': gv.f32(8),
    },
    qkGain: 3,
    qkNormSpread: 0.1,
    embdSigma: 0.1,
  });
  return writeRandomModel(join(dir, `gemma3-${pattern}.gguf`), spec);
}

describe('NativeLlama.shift with per-layer RoPE (gemma3)', () => {
  it.each([
    [6, 'sliding-window'],
    [1, 'global'],
  ])('re-rotates the moved keys with the layer’s own base (pattern %i: a %s layer)', async (pattern) => {
    const m = await Model.load(await oneLayerGemma3(pattern), { nCtx: 128, kvF16: false });
    try {
      const toks = Array.from({ length: 48 }, (_, i) => (i * 37 + 5) % m.hp.nVocab);
      const [bos, ...rest] = toks;
      const dropped = rest.slice(0, 20);
      const kept = rest.slice(20, 40);
      const next = rest[40];
      m.native.truncate(0);
      m.native.eval([bos, ...dropped, ...kept], 0);
      expect(m.native.shift(1, dropped.length)).toBe(1 + kept.length);
      const shifted = m.native.eval([next], 1 + kept.length).slice();
      m.native.truncate(0);
      const fresh = m.native.eval([bos, ...kept, next], 0).slice();
      let diff = 0, scale = 0;
      for (let i = 0; i < fresh.length; i++) {
        diff = Math.max(diff, Math.abs(shifted[i] - fresh[i]));
        scale = Math.max(scale, Math.abs(fresh[i]));
      }
      expect(diff / scale).toBeLessThan(2e-6);
    } finally {
      m.close();
    }
  });
});
