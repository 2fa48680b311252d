import { KilnError } from '../../common/errors.js';
import type { RerankRequest, RerankResponse } from '../api/types.js';
import { holdSlot, prepare, type ServeDeps } from './inference.js';
import { requestName } from './resolve.js';

/**
 * POST /v1/rerank, /api/rerank: a reranker model (an encoder with a
 * classification head) scores each document against the query through the
 * scheduler like any other request; results best first, `top_n` of them.
 */
export async function rerank(deps: ServeDeps, req: RerankRequest, signal: AbortSignal): Promise<RerankResponse> {
  const name = requestName(req);
  const p = await prepare(deps, name, req);
  if (!p.model.facts.reranker) {
    throw new KilnError('E_BAD_REQUEST', `${JSON.stringify(name)} does not support rerank: it is not a reranker model (a classification head, pooling type rank)`);
  }
  const { lease } = await holdSlot(deps, p, signal);
  try {
    const r = req.documents.length ? await lease.runner.rank(lease.slot, req.query, req.documents, true, signal) : { scores: [], promptEvalCount: 0 };
    const results = r.scores
      .map((relevance_score, index) => ({ index, relevance_score, ...(req.return_documents ? { document: { text: req.documents[index] } } : {}) }))
      .sort((a, b) => b.relevance_score - a.relevance_score || a.index - b.index)
      .slice(0, req.top_n ?? r.scores.length);
    return { model: name, object: 'list', results, usage: { prompt_tokens: r.promptEvalCount, total_tokens: r.promptEvalCount } };
  } finally {
    lease.release();
  }
}
