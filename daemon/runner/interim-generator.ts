/**
 * Stand-in for engine/generate until it lands (see engine.ts): greedy or
 * temperature/top-k sampling, stop strings, num_predict, the context limit,
 * cancellation, mean/last pooling. No prompt cache, no penalties.
 */
import type { Model } from '../../engine/model/model.js';
import type { GenerateChunk, GenerateOptions, GenerateStats, GeneratorLike } from './engine.js';

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class InterimGenerator implements GeneratorLike {
  constructor(private readonly model: Model) {}

  private sample(logits: Float32Array, temp: number, topK: number, rand: () => number): number {
    if (temp <= 0) {
      let best = 0;
      for (let i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
      return best;
    }
    const idx = Array.from(logits.keys()).sort((a, b) => logits[b] - logits[a]).slice(0, topK > 0 ? topK : logits.length);
    const max = logits[idx[0]];
    const w = idx.map((i) => Math.exp((logits[i] - max) / temp));
    let r = rand() * w.reduce((a, b) => a + b, 0);
    for (let k = 0; k < idx.length; k++) if ((r -= w[k]) <= 0) return idx[k];
    return idx[idx.length - 1];
  }

  async *generate(prompt: number[], opts: GenerateOptions): AsyncGenerator<GenerateChunk, GenerateStats> {
    const m = this.model;
    const nCtx = m.hp.nCtx;
    const tok = m.tokenizer;
    const stops = (opts.stop ?? []).filter(Boolean);
    const rand = mulberry32(opts.seed ?? Date.now());
    const limit = opts.num_predict !== undefined && opts.num_predict >= 0 ? opts.num_predict : Infinity;
    m.native.truncate(0);
    const t0 = process.hrtime.bigint();
    let logits = m.native.eval(prompt, 0);
    const t1 = process.hrtime.bigint();
    const context = [...prompt];
    const dec = tok.createStreamDecoder();
    let pending = '';
    let pendingTokens: number[] = [];
    let evalCount = 0;
    let reason: GenerateStats['doneReason'] = 'length';
    for (;;) {
      if (opts.signal?.aborted) {
        reason = 'cancel';
        break;
      }
      if (evalCount >= limit || context.length >= nCtx) break;
      opts.mask?.(logits);
      const id = this.sample(logits, opts.temperature ?? 0.8, opts.top_k ?? 40, rand);
      evalCount++;
      if (tok.isEog(id)) {
        reason = 'stop';
        break;
      }
      context.push(id);
      pending += dec.push(id);
      pendingTokens.push(id);
      const hit = stops.map((s) => pending.indexOf(s)).filter((i) => i >= 0);
      if (hit.length) {
        const text = pending.slice(0, Math.min(...hit));
        if (text) yield { text, tokens: pendingTokens };
        reason = 'stop';
        pending = '';
        break;
      }
      // Hold back a tail that could still become a stop string.
      let keep = 0;
      for (const s of stops) for (let k = Math.min(s.length - 1, pending.length); k > keep; k--) if (s.startsWith(pending.slice(-k))) keep = k;
      if (pending.length > keep) {
        yield { text: pending.slice(0, pending.length - keep), tokens: pendingTokens };
        pending = pending.slice(pending.length - keep);
        pendingTokens = [];
      }
      if (context.length >= nCtx) break;
      logits = m.native.eval([id], context.length - 1);
    }
    const rest = pending + dec.flush();
    if (rest && reason !== 'stop') yield { text: rest, tokens: pendingTokens };
    const t2 = process.hrtime.bigint();
    return {
      doneReason: reason,
      promptEvalCount: prompt.length,
      promptEvalDurationNs: Number(t1 - t0),
      evalCount,
      evalDurationNs: Number(t2 - t1),
      context,
    };
  }

  embed(tokens: number[], pooling: 'mean' | 'last' = 'mean'): Float32Array {
    const m = this.model;
    m.native.truncate(0);
    m.native.eval(tokens, 0);
    const h = m.native.hidden(tokens.length);
    const d = m.hp.nEmbd;
    const out = new Float32Array(d);
    if (pooling === 'last') {
      out.set(h.subarray((tokens.length - 1) * d, tokens.length * d));
      return out;
    }
    for (let t = 0; t < tokens.length; t++) for (let i = 0; i < d; i++) out[i] += h[t * d + i] / tokens.length;
    return out;
  }
}
