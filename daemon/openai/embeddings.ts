import { KilnError } from '../../common/errors.js';
import type { EmbedRequest, EmbedResponse, OpenAIEmbeddingRequest, OpenAIEmbeddingResponse } from '../api/types.js';

/** POST /v1/embeddings as a native /api/embed request (text inputs; token-array inputs are refused). */
export function toNativeEmbed(req: OpenAIEmbeddingRequest): EmbedRequest {
  const input = req.input;
  if (Array.isArray(input) && input.length === 0) throw new KilnError('E_BAD_REQUEST', 'input must not be empty', { param: 'input' });
  return { model: req.model, input, dimensions: req.dimensions };
}

/** base64 of little-endian float32s, as OpenAI encodes embeddings. */
function base64Floats(v: number[]): string {
  const f = Float32Array.from(v);
  return Buffer.from(f.buffer, f.byteOffset, f.byteLength).toString('base64');
}

export function toEmbeddingResponse(r: EmbedResponse, encoding: 'float' | 'base64' | undefined): OpenAIEmbeddingResponse {
  return {
    object: 'list',
    data: r.embeddings.map((e, index) => ({ object: 'embedding', index, embedding: encoding === 'base64' ? base64Floats(e) : e })),
    model: r.model,
    usage: { prompt_tokens: r.prompt_eval_count, total_tokens: r.prompt_eval_count },
  };
}
