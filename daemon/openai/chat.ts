import { randomBytes } from 'node:crypto';
import { KilnError } from '../../common/errors.js';
import type {
  ChatRequest,
  ChatResponse,
  Message,
  OpenAIChatChunk,
  OpenAIChatCompletion,
  OpenAIChatLogprobs,
  OpenAIChatMessage,
  OpenAIChatRequest,
  OpenAIToolCall,
  Options,
  TokenLogprob,
  ToolCall,
} from '../api/types.js';
import { formatFromResponseFormat, samplingFromOpenAI } from './options.js';

const FINGERPRINT = 'fp_kiln';

export function newId(prefix: string): string {
  return `${prefix}-${randomBytes(12).toString('base64url')}`;
}

function textAndImages(m: OpenAIChatMessage, i: number): { content: string; images: string[] } {
  if (m.content === undefined || m.content === null) return { content: '', images: [] };
  if (typeof m.content === 'string') return { content: m.content, images: [] };
  const text: string[] = [];
  const images: string[] = [];
  for (const part of m.content) {
    if (part.type === 'text') text.push(part.text ?? '');
    else if (part.type === 'image_url') {
      const url = typeof part.image_url === 'string' ? part.image_url : part.image_url?.url ?? '';
      const data = /^data:image\/[a-z0-9.+-]+;base64,(.*)$/i.exec(url);
      if (!data) throw new KilnError('E_BAD_REQUEST', `messages[${i}]: only base64 data: URLs are accepted as images`);
      images.push(data[1]);
    } else throw new KilnError('E_BAD_REQUEST', `messages[${i}]: content part type '${part.type}' is not supported`);
  }
  return { content: text.join('\n'), images };
}

function nativeToolCall(c: OpenAIToolCall, i: number): ToolCall {
  let args: unknown = {};
  try {
    args = c.function.arguments ? JSON.parse(c.function.arguments) : {};
  } catch {
    throw new KilnError('E_BAD_REQUEST', `messages[${i}].tool_calls: arguments of ${c.function.name} are not JSON`);
  }
  if (args === null) args = {};
  if (typeof args !== 'object' || Array.isArray(args)) throw new KilnError('E_BAD_REQUEST', `messages[${i}].tool_calls: arguments of ${c.function.name} are not a JSON object`);
  return { id: c.id, function: { name: c.function.name, arguments: args as Record<string, unknown> } };
}

/** An OpenAI chat request as the native /api/chat request it means. */
export function toNativeChat(req: OpenAIChatRequest, toolNames = new Map<string, string>()): ChatRequest {
  const messages: Message[] = req.messages.map((m, i) => {
    const { content, images } = textAndImages(m, i);
    const role = m.role === 'developer' ? 'system' : m.role;
    const out: Message = { role, content };
    if (m.reasoning) out.thinking = m.reasoning;
    if (images.length) out.images = images;
    if (m.tool_calls?.length) {
      out.tool_calls = m.tool_calls.map((c) => nativeToolCall(c, i));
      for (const c of m.tool_calls) toolNames.set(c.id, c.function.name);
    }
    if (role === 'tool') {
      out.tool_call_id = m.tool_call_id;
      const name = m.name ?? (m.tool_call_id ? toolNames.get(m.tool_call_id) : undefined);
      if (name) out.tool_name = name;
    }
    return out;
  });
  if (req.n != null && req.n !== 1) throw new KilnError('E_BAD_REQUEST', 'n: kiln generates one choice per request');
  const options: Options = samplingFromOpenAI(req, req.max_completion_tokens ?? req.max_tokens);
  return {
    model: req.model,
    messages,
    tools: req.tools,
    // "none" hides the tools from the model; "required" and a named function are enforced by a grammar
    ...(req.tool_choice !== undefined ? { tool_choice: req.tool_choice } : {}),
    ...(req.parallel_tool_calls !== undefined ? { parallel_tool_calls: req.parallel_tool_calls } : {}),
    ...(req.logprobs ? { logprobs: true, top_logprobs: req.top_logprobs ?? 0 } : {}),
    stream: req.stream === true,
    format: formatFromResponseFormat(req.response_format),
    ...(req.reasoning_effort ? { think: req.reasoning_effort === 'none' ? false : req.reasoning_effort } : {}),
    options,
  };
}

function openaiToolCalls(calls: ToolCall[] | undefined, withIndex: boolean): OpenAIToolCall[] | undefined {
  if (!calls?.length) return undefined;
  return calls.map((c, i) => ({
    // a stream hands calls on one by one: each keeps its place among all of the answer's calls
    ...(withIndex ? { index: c.function.index ?? i } : {}),
    id: c.id ?? `call_${randomBytes(6).toString('hex')}`,
    type: 'function' as const,
    function: { name: c.function.name, arguments: JSON.stringify(c.function.arguments ?? {}) },
  }));
}

/** Native logprob entries as OpenAI's `choices[i].logprobs` (null when the request did not ask for them). */
export function chatLogprobs(lps: TokenLogprob[] | undefined): OpenAIChatLogprobs | null {
  if (!lps) return null;
  return {
    content: lps.map((l) => ({ token: l.token, logprob: l.logprob, bytes: l.bytes, top_logprobs: (l.top_logprobs ?? []).map((t) => ({ token: t.token, logprob: t.logprob, bytes: t.bytes })) })),
    refusal: null,
  };
}

function finishReason(r: ChatResponse, sawToolCalls: boolean): string {
  if (sawToolCalls) return 'tool_calls';
  return r.done_reason === 'length' ? 'length' : 'stop';
}

function usage(r: ChatResponse) {
  // the whole prompt, cached prefix included, as OpenAI counts it
  const prompt = (r.prompt_eval_count ?? 0) + (r.prompt_cached ?? 0);
  const completion = r.eval_count ?? 0;
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
}

/** The non-streaming answer, from the merged native response. */
export function toChatCompletion(r: ChatResponse, id = newId('chatcmpl')): OpenAIChatCompletion {
  const toolCalls = openaiToolCalls(r.message.tool_calls, false);
  return {
    id,
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model: r.model,
    system_fingerprint: FINGERPRINT,
    choices: [
      {
        index: 0,
        message: {
          role: 'assistant',
          content: r.message.content,
          ...(r.message.thinking ? { reasoning: r.message.thinking } : {}),
          ...(toolCalls ? { tool_calls: toolCalls } : {}),
        },
        finish_reason: finishReason(r, toolCalls !== undefined),
        logprobs: chatLogprobs(r.logprobs),
      },
    ],
    usage: usage(r),
  };
}

/**
 * Native chat lines as OpenAI chunks: content deltas (a thinking model's
 * reasoning in `delta.reasoning`, as Ollama's OpenAI layer sends it),
 * tool-call deltas, a finishing chunk, and usage when asked.
 */
export async function* toChatChunks(lines: AsyncGenerator<ChatResponse>, includeUsage: boolean): AsyncGenerator<OpenAIChatChunk> {
  const id = newId('chatcmpl');
  const created = Math.floor(Date.now() / 1000);
  let sawToolCalls = false;
  let first = true;
  const chunk = (delta: OpenAIChatChunk['choices'][0]['delta'], model: string, finish: string | null = null, lps: TokenLogprob[] | undefined = undefined): OpenAIChatChunk => ({
    id,
    object: 'chat.completion.chunk',
    created,
    model,
    system_fingerprint: FINGERPRINT,
    choices: [{ index: 0, delta, finish_reason: finish, logprobs: lps?.length ? chatLogprobs(lps) : null }],
  });
  for await (const r of lines) {
    if (!r.done) {
      const toolCalls = openaiToolCalls(r.message.tool_calls, true);
      if (toolCalls) sawToolCalls = true;
      yield chunk(
        {
          ...(first ? { role: 'assistant' as const } : {}),
          ...(r.message.content ? { content: r.message.content } : {}),
          ...(r.message.thinking ? { reasoning: r.message.thinking } : {}),
          ...(toolCalls ? { tool_calls: toolCalls } : {}),
        },
        r.model,
        null,
        r.logprobs,
      );
      first = false;
      continue;
    }
    yield chunk(first ? { role: 'assistant', content: '' } : {}, r.model, finishReason(r, sawToolCalls), r.logprobs);
    if (includeUsage) yield { ...chunk({}, r.model), choices: [], usage: usage(r) };
  }
}
