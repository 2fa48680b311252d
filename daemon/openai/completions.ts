import { KilnError } from '../../common/errors.js';
import type { GenerateRequest, GenerateResponse, OpenAICompletion, OpenAICompletionLogprobs, OpenAICompletionRequest, TokenLogprob } from '../api/types.js';
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
    ...(req.logprobs !== undefined ? { logprobs: true, top_logprobs: req.logprobs } : {}),
  };
}

/**
 * Native logprob entries in the legacy completions shape; `offset` is where
 * the first token's text starts in the choice's text (after an echoed
 * prompt, or the text streamed before). Null when none were asked for.
 */
export function completionLogprobs(lps: TokenLogprob[] | undefined, top: number, offset: number): OpenAICompletionLogprobs | null {
  if (!lps) return null;
  const text_offset: number[] = [];
  let at = offset;
  for (const l of lps) {
    text_offset.push(at);
    at += l.token.length;
  }
  return {
    tokens: lps.map((l) => l.token),
    token_logprobs: lps.map((l) => l.logprob),
    top_logprobs: top > 0 ? lps.map((l) => Object.fromEntries((l.top_logprobs ?? []).map((t) => [t.token, t.logprob]))) : null,
    text_offset,
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

export function toCompletion(r: GenerateResponse, echo: string | undefined, top = 0): OpenAICompletion {
  return {
    id: newId('cmpl'),
    object: 'text_completion',
    created: Math.floor(Date.now() / 1000),
    model: r.model,
    system_fingerprint: 'fp_kiln',
    choices: [{ index: 0, text: (echo ?? '') + r.response, finish_reason: finish(r), logprobs: completionLogprobs(r.logprobs, top, echo?.length ?? 0) }],
    usage: usage(r),
  };
}

export async function* toCompletionChunks(lines: AsyncGenerator<GenerateResponse>, includeUsage: boolean, echo: string | undefined, top = 0): AsyncGenerator<OpenAICompletion> {
  const id = newId('cmpl');
  const created = Math.floor(Date.now() / 1000);
  const base = (model: string) => ({ id, object: 'text_completion' as const, created, model, system_fingerprint: 'fp_kiln' });
  let pending = echo;
  let offset = 0;
  for await (const r of lines) {
    const before = pending?.length ?? 0;
    const text = (pending ?? '') + r.response;
    pending = undefined;
    const logprobs = completionLogprobs(r.logprobs, top, offset + before);
    offset += text.length;
    if (!r.done) {
      yield { ...base(r.model), choices: [{ index: 0, text, finish_reason: null, logprobs }] };
      continue;
    }
    yield { ...base(r.model), choices: [{ index: 0, text, finish_reason: finish(r), logprobs }] };
    if (includeUsage) yield { ...base(r.model), choices: [], usage: usage(r) };
  }
}
