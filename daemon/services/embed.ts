import type { EmbeddingsRequest, EmbeddingsResponse, EmbedRequest, EmbedResponse } from '../api/types.js';
import { l2normalize } from '../runner/tokens.js';
import { holdSlot, prepare, type ServeDeps } from './inference.js';
import { requestName } from './resolve.js';

/** POST /api/embed: L2-normalized embeddings, one per input; `truncate: false` makes an over-long input an error. */
export async function embed(deps: ServeDeps, req: EmbedRequest, signal: AbortSignal): Promise<EmbedResponse> {
  const name = requestName(req);
  // the request was validated at the edge (api/parse.ts)
  const inputs = typeof req.input === 'string' ? [req.input] : req.input ?? [];
  const p = await prepare(deps, name, req);
  const { lease, loadDurationNs } = await holdSlot(deps, p, signal);
  try {
    const r = inputs.length ? await lease.runner.embed(lease.slot, inputs, req.truncate !== false, signal) : { embeddings: [], promptEvalCount: 0 };
    const embeddings = r.embeddings.map((e) => {
      const v = req.dimensions && req.dimensions < e.length ? l2normalize(e.slice(0, req.dimensions)) : e;
      return Array.from(v);
    });
    return {
      model: name, // as the request named it, as Ollama echoes it
      embeddings,
      total_duration: Number(process.hrtime.bigint() - p.t0),
      load_duration: loadDurationNs,
      prompt_eval_count: r.promptEvalCount,
    };
  } finally {
    lease.release();
  }
}

/** POST /api/embeddings (legacy): one prompt, one embedding; an empty prompt only loads the model. */
export async function embeddings(deps: ServeDeps, req: EmbeddingsRequest, signal: AbortSignal): Promise<EmbeddingsResponse> {
  const r = await embed(deps, { model: requestName(req), input: req.prompt ? [req.prompt] : [], keep_alive: req.keep_alive, options: req.options }, signal);
  return { embedding: r.embeddings[0] ?? [] };
}
