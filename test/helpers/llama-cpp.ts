import { getLlama, type Llama, type LlamaContext, type LlamaModel } from 'node-llama-cpp';

let llama: Promise<Llama> | undefined;

/**
 * llama.cpp as node-llama-cpp ships it prebuilt: CPU only, never a build or a
 * download. A new one after the last was disposed (a test file may run
 * several oracle suites, each disposing its own at the end).
 */
export async function oracle(): Promise<Llama> {
  if (llama && (await llama).disposed) llama = undefined;
  llama ??= getLlama({ gpu: false, build: 'never', logLevel: 'error' as never });
  return llama;
}

export interface Loaded {
  model: LlamaModel;
  context: LlamaContext;
  dispose(): Promise<void>;
}

/** KV cache types as node-llama-cpp names them (its GgmlType keys). */
export type LlamaKvType = 'F16' | 'Q8_0' | 'Q4_0';

export async function load(modelPath: string, contextSize = 256, kv?: { k: LlamaKvType; v: LlamaKvType }): Promise<Loaded> {
  const l = await oracle();
  const model = await l.loadModel({ modelPath });
  const context = await model.createContext({
    contextSize,
    batchSize: contextSize,
    threads: 1,
    ...(kv ? { experimentalKvCacheKeyType: kv.k, experimentalKvCacheValueType: kv.v } : {}),
  });
  return {
    model,
    context,
    async dispose() {
      await context.dispose();
      await model.dispose();
    },
  };
}

/** llama.cpp's greedy continuation of a token sequence (the tokens fed exactly as given). */
export async function greedy(m: Loaded, tokens: number[], n: number): Promise<number[]> {
  const seq = m.context.getSequence();
  try {
    const out: number[] = [];
    for await (const t of seq.evaluate(tokens as never, { temperature: 0 })) {
      out.push(t as number);
      if (out.length >= n) break;
    }
    return out;
  } finally {
    seq.dispose();
  }
}

/** Next-token distributions (softmax of the logits over the whole vocabulary) after each position of `tokens`. */
export async function distributions(m: Loaded, tokens: number[], vocab: number): Promise<Float64Array[]> {
  const seq = m.context.getSequence();
  try {
    const res = await seq.controlledEvaluate(
      tokens.map((t) => [t, { generateNext: { probabilities: true, options: { temperature: 1, topK: 0, topP: 1, minP: 0 } } }] as never),
    );
    return res.map((r) => {
      const p = new Float64Array(vocab);
      for (const [tok, prob] of (r as { next: { probabilities: Map<number, number> } }).next.probabilities) p[tok] = prob;
      return p;
    });
  } finally {
    seq.dispose();
  }
}

/**
 * Next-token distributions as a generation loop meets them: the prompt
 * evaluated as one batch, then each generated token alone (a batch and a
 * single token go through different matrix kernels, whose float sums differ
 * in the last bits). Entry i is the distribution that generated token i was
 * drawn from.
 */
export async function stepDistributions(m: Loaded, prompt: number[], generated: number[], vocab: number): Promise<Float64Array[]> {
  const seq = m.context.getSequence();
  const next = { generateNext: { probabilities: true, options: { temperature: 1, topK: 0, topP: 1, minP: 0 } } };
  const dist = (r: unknown) => {
    const p = new Float64Array(vocab);
    for (const [tok, prob] of (r as { next: { probabilities: Map<number, number> } }).next.probabilities) p[tok] = prob;
    return p;
  };
  try {
    const first = await seq.controlledEvaluate(prompt.map((t, i) => (i === prompt.length - 1 ? [t, next] : t)) as never);
    const out = [dist(first.at(-1))];
    for (const t of generated.slice(0, -1)) out.push(dist((await seq.controlledEvaluate([[t, next]] as never))[0]));
    return out;
  } finally {
    seq.dispose();
  }
}

/** KL(p || q) in nats, with q floored so a zero does not make it infinite. */
export function kl(p: Float64Array, q: Float64Array): number {
  let s = 0;
  for (let i = 0; i < p.length; i++) if (p[i] > 0) s += p[i] * Math.log(p[i] / Math.max(q[i], 1e-12));
  return s;
}
