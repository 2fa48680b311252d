import { KilnError } from '../../engine/errors.js';
import type { EmbeddingsRequest, EmbeddingsResponse, EmbedRequest, EmbedResponse } from '../api/types.js';
import { l2normalize } from '../runner/tokens.js';
import { holdSlot, prepare, type ServeDeps } from './inference.js';
import { requestName } from './resolve.js';

function inputsOf(v: unknown): string[] {
  if (v === undefined || v === null) return [];
  if (typeof v === 'string') return [v];
  if (Array.isArray(v) && v.every((s) => typeof s === 'string')) return v;
  throw new KilnError('E_BAD_REQUEST', 'input must be a string or an array of strings');
}

/** POST /api/embed: L2-normalized embeddings, one per input; `truncate: false` makes an over-long input an error. */
export async function embed(deps: ServeDeps, req: EmbedRequest, signal: AbortSignal): Promise<EmbedResponse> {
  const name = requestName(req);
  const inputs = inputsOf(req.input);
  if (req.dimensions !== undefined && (!Number.isInteger(req.dimensions) || req.dimensions < 1)) throw new KilnError('E_BAD_REQUEST', 'dimensions must be a positive integer');
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
  if (req.prompt !== undefined && typeof req.prompt !== 'string') throw new KilnError('E_BAD_REQUEST', 'prompt must be a string');
  const r = await embed(deps, { model: requestName(req), input: req.prompt ? [req.prompt] : [], keep_alive: req.keep_alive, options: req.options }, signal);
  return { embedding: r.embeddings[0] ?? [] };
}
