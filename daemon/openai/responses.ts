import { randomBytes } from 'node:crypto';
import { KilnError } from '../../common/errors.js';
import type {
  ChatRequest,
  ChatResponse,
  ChatToolChoice,
  Message,
  Options,
  ResponsesInputItem,
  ResponsesOutputItem,
  ResponsesRequest,
  ResponsesResponse,
  Tool,
  ToolCall,
} from '../api/types.js';
import type { Store } from '../../store/index.js';
import { samplingFromOpenAI } from './options.js';

/** OpenAI-style ids: a prefix and random hex (resp_, msg_, fc_, rs_, call_). */
export function itemId(prefix: string): string {
  return `${prefix}_${randomBytes(12).toString('hex')}`;
}

/** The conversation a request continues: the stored chain of previous_response_id, then its own input. */
export function conversationOf(store: Store, req: ResponsesRequest, now = Date.now()): ResponsesInputItem[] {
  if (!req.previous_response_id) {
    if (req.input.length === 0) throw new KilnError('E_BAD_REQUEST', 'input: must not be empty', { param: 'input' });
    return req.input;
  }
  const prev = store.responses.get(req.previous_response_id, now);
  if (!prev) throw new KilnError('E_BAD_REQUEST', `Previous response with id '${req.previous_response_id}' not found.`, { param: 'previous_response_id' });
  const before = JSON.parse(prev.input) as ResponsesInputItem[];
  const answered = (JSON.parse(prev.response) as ResponsesResponse).output.flatMap(outputAsInput);
  return [...before, ...answered, ...req.input];
}

/** An output item as the input item that repeats it in a later turn. */
export function outputAsInput(o: ResponsesOutputItem): ResponsesInputItem[] {
  if (o.type === 'message') return [{ type: 'message', role: 'assistant', content: o.content.map((c) => c.text).join('') }];
  if (o.type === 'function_call') return [{ type: 'function_call', call_id: o.call_id, name: o.name, arguments: o.arguments }];
  return [{ type: 'reasoning', text: o.content.map((c) => c.text).join('') }];
}

function partsOf(content: string | { type: string; text?: string; image_url?: string }[], at: string): { text: string; images: string[] } {
  if (typeof content === 'string') return { text: content, images: [] };
  const text: string[] = [];
  const images: string[] = [];
  for (const p of content) {
    if (p.type === 'input_image') {
      const data = /^data:image\/[a-z0-9.+-]+;base64,(.*)$/i.exec(p.image_url ?? '');
      if (!data) throw new KilnError('E_BAD_REQUEST', `${at}: only base64 data: URLs are accepted as images`, { param: at });
      images.push(data[1]);
    } else text.push(p.text ?? '');
  }
  return { text: text.join('\n'), images };
}

function argsObject(call: { name: string; arguments: string }, at: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = call.arguments ? JSON.parse(call.arguments) : {};
  } catch {
    throw new KilnError('E_BAD_REQUEST', `${at}: arguments of ${call.name} are not JSON`, { param: at });
  }
  if (v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v)) throw new KilnError('E_BAD_REQUEST', `${at}: arguments of ${call.name} are not a JSON object`, { param: at });
  return v as Record<string, unknown>;
}

/** Input items as native chat messages: reasoning and function calls join the assistant turn they belong to. */
export function nativeMessages(items: ResponsesInputItem[], instructions?: string): Message[] {
  const out: Message[] = instructions ? [{ role: 'system', content: instructions }] : [];
  const names = new Map<string, string>();
  let thinking = '';
  /** The assistant turn the next function_call joins (the one just before it). */
  let turn: Message | undefined;
  items.forEach((it, i) => {
    const at = `input[${i}]`;
    if (it.type === 'reasoning') {
      thinking += it.text;
      return;
    }
    if (it.type === 'message') {
      const { text, images } = partsOf(it.content, `${at}.content`);
      const role = it.role === 'developer' ? 'system' : it.role;
      const m: Message = { role, content: text, ...(images.length ? { images } : {}) };
      if (role === 'assistant' && thinking) m.thinking = thinking;
      if (role === 'assistant') thinking = '';
      out.push(m);
      turn = role === 'assistant' ? m : undefined;
      return;
    }
    if (it.type === 'function_call') {
      names.set(it.call_id, it.name);
      const call: ToolCall = { id: it.call_id, function: { name: it.name, arguments: argsObject(it, at) } };
      if (!turn) {
        turn = { role: 'assistant', content: '', ...(thinking ? { thinking } : {}) };
        thinking = '';
        out.push(turn);
      }
      turn.tool_calls = [...(turn.tool_calls ?? []), call];
      return;
    }
    const name = names.get(it.call_id);
    out.push({ role: 'tool', content: it.output, tool_call_id: it.call_id, ...(name ? { tool_name: name } : {}) });
    turn = undefined;
  });
  return out;
}

function toolChoiceOf(req: ResponsesRequest): ChatToolChoice | undefined {
  const c = req.tool_choice;
  if (c === undefined) return undefined;
  return typeof c === 'string' ? c : { name: c.name };
}

/** A Responses request (with its conversation resolved) as the native /api/chat request it means. */
export function toNativeChat(req: ResponsesRequest, conversation: ResponsesInputItem[]): ChatRequest {
  const options: Options = samplingFromOpenAI(req, req.max_output_tokens);
  if (req.top_k != null) options.top_k = req.top_k;
  const fmt = req.text?.format;
  const tools: Tool[] | undefined = req.tools?.map((t) => ({
    type: 'function',
    function: { name: t.name, ...(t.description ? { description: t.description } : {}), ...(t.parameters ? { parameters: t.parameters as Tool['function']['parameters'] } : {}) },
  }));
  const choice = toolChoiceOf(req);
  const effort = req.reasoning?.effort;
  return {
    model: req.model,
    messages: nativeMessages(conversation, req.instructions),
    // tool_choice "none": the model is not shown the tools at all (as /v1/chat/completions)
    tools: choice === 'none' ? undefined : tools,
    ...(choice !== undefined ? { tool_choice: choice } : {}),
    ...(req.parallel_tool_calls !== undefined ? { parallel_tool_calls: req.parallel_tool_calls } : {}),
    stream: req.stream === true,
    format: fmt?.type === 'json_object' ? 'json' : fmt?.type === 'json_schema' ? fmt.schema : undefined,
    ...(effort ? { think: effort === 'none' ? false : effort } : {}),
    options,
  };
}

/** The response object before any output: what response.created carries. */
export function responseShell(req: ResponsesRequest, id = itemId('resp'), createdAt = Math.floor(Date.now() / 1000)): ResponsesResponse {
  return {
    id,
    object: 'response',
    created_at: createdAt,
    status: 'in_progress',
    error: null,
    incomplete_details: null,
    instructions: req.instructions ?? null,
    max_output_tokens: req.max_output_tokens ?? null,
    model: req.model,
    output: [],
    parallel_tool_calls: req.parallel_tool_calls ?? true,
    previous_response_id: req.previous_response_id ?? null,
    reasoning: { effort: req.reasoning?.effort ?? null, summary: null },
    store: req.store !== false,
    temperature: req.temperature ?? null,
    text: { format: req.text?.format ?? { type: 'text' } },
    tool_choice: req.tool_choice ?? 'auto',
    tools: req.tools ?? [],
    top_p: req.top_p ?? null,
    truncation: 'disabled',
    usage: null,
    metadata: req.metadata ?? {},
  };
}

/** The finished response: its output, status (incomplete when max_output_tokens ran out) and usage. */
export function finishResponse(shell: ResponsesResponse, output: ResponsesOutputItem[], last: ChatResponse): ResponsesResponse {
  const cached = last.prompt_cached ?? 0;
  const input = (last.prompt_eval_count ?? 0) + cached;
  const produced = last.eval_count ?? 0;
  const incomplete = last.done_reason === 'length';
  return {
    ...shell,
    status: incomplete ? 'incomplete' : 'completed',
    incomplete_details: incomplete ? { reason: 'max_output_tokens' } : null,
    output,
    usage: { input_tokens: input, input_tokens_details: { cached_tokens: cached }, output_tokens: produced, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: input + produced },
  };
}

export function functionCallItem(c: ToolCall, status: 'in_progress' | 'completed' = 'completed', args = JSON.stringify(c.function.arguments ?? {})): ResponsesOutputItem {
  return { type: 'function_call', id: itemId('fc'), call_id: c.id ?? itemId('call'), name: c.function.name, arguments: args, status };
}

/** The output items of a merged (non-streamed) answer: reasoning, the message, then the calls. */
export function outputItems(r: ChatResponse): ResponsesOutputItem[] {
  const out: ResponsesOutputItem[] = [];
  const status = r.done_reason === 'length' ? 'incomplete' : 'completed';
  if (r.message.thinking) out.push({ type: 'reasoning', id: itemId('rs'), summary: [], content: [{ type: 'reasoning_text', text: r.message.thinking }], status });
  const calls = r.message.tool_calls ?? [];
  if (r.message.content || calls.length === 0) {
    out.push({ type: 'message', id: itemId('msg'), status, role: 'assistant', content: [{ type: 'output_text', text: r.message.content, annotations: [] }] });
  }
  for (const c of calls) out.push(functionCallItem(c));
  return out;
}

/** Keeps a finished response (unless the request said store: false) for GET and previous_response_id. */
export function keepResponse(store: Store, ttlMs: number, r: ResponsesResponse, conversation: ResponsesInputItem[]): void {
  if (!r.store || ttlMs === 0) return;
  const now = Date.now();
  store.responses.put({ id: r.id, response: JSON.stringify(r), input: JSON.stringify(conversation) }, now, ttlMs < 0 ? Number.MAX_SAFE_INTEGER : now + ttlMs);
}

/** A stored response, or 404 in OpenAI's words. */
export function storedResponse(store: Store, id: string): ResponsesResponse {
  const r = store.responses.get(id, Date.now());
  if (!r) throw new KilnError('E_NOT_FOUND', `Response with id '${id}' not found.`);
  return JSON.parse(r.response) as ResponsesResponse;
}
