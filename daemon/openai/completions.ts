import { KilnError } from '../../common/errors.js';
import type { GenerateRequest, GenerateResponse, OpenAICompletion, OpenAICompletionRequest } from '../api/types.js';
import { newId } from './chat.js';
import { samplingFromOpenAI } from './options.js';

/** POST /v1/completions as a native /api/generate request (one prompt per request). */
export function toNativeGenerate(req: OpenAICompletionRequest): GenerateRequest {
  let prompt = req.prompt;
  if (Array.isArray(prompt)) {
    if (prompt.length !== 1 || typeof prompt[0] !== 'string') throw new KilnError('E_BAD_REQUEST', 'prompt: kiln completes one prompt per request');
    prompt = prompt[0];
  }
  if (typeof prompt !== 'string') throw new KilnError('E_BAD_REQUEST', 'prompt must be a string');
  return {
    model: req.model,
    prompt,
    suffix: req.suffix ?? undefined,
    stream: req.stream === true,
    options: samplingFromOpenAI(req, req.max_tokens),
  };
}

function finish(r: GenerateResponse): string {
  return r.done_reason === 'length' ? 'length' : 'stop';
}

function usage(r: GenerateResponse) {
  const p = (r.prompt_eval_count ?? 0) + (r.prompt_cached ?? 0); // the whole prompt, cached prefix included
  const c = r.eval_count ?? 0;
  return { prompt_tokens: p, completion_tokens: c, total_tokens: p + c };
}

export function toCompletion(r: GenerateResponse, echo: string | undefined): OpenAICompletion {
  return {
    id: newId('cmpl'),
    object: 'text_completion',
    created: Math.floor(Date.now() / 1000),
    model: r.model,
    system_fingerprint: 'fp_kiln',
    choices: [{ index: 0, text: (echo ?? '') + r.response, finish_reason: finish(r), logprobs: null }],
    usage: usage(r),
  };
}

export async function* toCompletionChunks(lines: AsyncGenerator<GenerateResponse>, includeUsage: boolean, echo: string | undefined): AsyncGenerator<OpenAICompletion> {
  const id = newId('cmpl');
  const created = Math.floor(Date.now() / 1000);
  const base = (model: string) => ({ id, object: 'text_completion' as const, created, model, system_fingerprint: 'fp_kiln' });
  let pending = echo;
  for await (const r of lines) {
    const text = (pending ?? '') + r.response;
    pending = undefined;
    if (!r.done) {
      yield { ...base(r.model), choices: [{ index: 0, text, finish_reason: null, logprobs: null }] };
      continue;
    }
    yield { ...base(r.model), choices: [{ index: 0, text, finish_reason: finish(r), logprobs: null }] };
    if (includeUsage) yield { ...base(r.model), choices: [], usage: usage(r) };
  }
}
