import { randomBytes } from 'node:crypto';
import type {
  AnthropicContentBlock,
  AnthropicCountTokensRequest,
  AnthropicMessageResponse,
  AnthropicMessagesRequest,
  AnthropicStopReason,
  ChatRequest,
  ChatResponse,
  ChatToolChoice,
  Message,
  Options,
  Tool,
} from '../api/types.js';

/** Anthropic-style ids: msg_… and toolu_…. */
export function anthropicId(prefix: 'msg' | 'toolu'): string {
  return `${prefix}_${randomBytes(12).toString('base64url')}`;
}

/** A user turn's blocks: tool results become tool messages (in order), text and images the user message. */
function userMessages(blocks: AnthropicContentBlock[], names: Map<string, string>): Message[] {
  const out: Message[] = [];
  const text: string[] = [];
  const images: string[] = [];
  for (const b of blocks) {
    if (b.type === 'tool_result') {
      const name = names.get(b.tool_use_id);
      out.push({ role: 'tool', content: b.is_error ? `Error: ${b.content}` : b.content, tool_call_id: b.tool_use_id, ...(name ? { tool_name: name } : {}) });
    } else if (b.type === 'text') text.push(b.text);
    else if (b.type === 'image') images.push(b.source.data);
  }
  if (text.length || images.length) out.push({ role: 'user', content: text.join('\n'), ...(images.length ? { images } : {}) });
  return out;
}

function assistantMessage(blocks: AnthropicContentBlock[], names: Map<string, string>): Message {
  const m: Message = { role: 'assistant', content: '' };
  const text: string[] = [];
  const thinking: string[] = [];
  for (const b of blocks) {
    if (b.type === 'text') text.push(b.text);
    else if (b.type === 'thinking') thinking.push(b.thinking);
    else if (b.type === 'tool_use') {
      names.set(b.id, b.name);
      m.tool_calls = [...(m.tool_calls ?? []), { id: b.id, function: { name: b.name, arguments: b.input } }];
    }
  }
  m.content = text.join('');
  if (thinking.length) m.thinking = thinking.join('');
  return m;
}

function toolChoiceOf(req: AnthropicCountTokensRequest): { tool_choice?: ChatToolChoice; parallel_tool_calls?: boolean } {
  const c = req.tool_choice;
  if (!c) return {};
  const choice: ChatToolChoice = c.type === 'auto' ? 'auto' : c.type === 'any' ? 'required' : c.type === 'none' ? 'none' : { name: c.name };
  return { tool_choice: choice, ...(c.type !== 'none' && c.disable_parallel_tool_use ? { parallel_tool_calls: false } : {}) };
}

/**
 * An Anthropic Messages request as the native /api/chat request it means:
 * `system` first, blocks into content, images, thinking and tool calls,
 * tool results into tool messages; `thinking` enabled/disabled into `think`
 * (absent: the model's default); sampling fields and stop_sequences into options.
 */
export function toNativeChat(req: AnthropicCountTokensRequest & Partial<AnthropicMessagesRequest>): ChatRequest {
  const names = new Map<string, string>();
  const messages: Message[] = req.system ? [{ role: 'system', content: req.system }] : [];
  for (const m of req.messages) {
    if (typeof m.content === 'string') messages.push({ role: m.role, content: m.content });
    else if (m.role === 'user') messages.push(...userMessages(m.content, names));
    else messages.push(assistantMessage(m.content, names));
  }
  const options: Options = {};
  if (req.max_tokens != null) options.num_predict = req.max_tokens;
  if (req.temperature != null) options.temperature = req.temperature;
  if (req.top_p != null) options.top_p = req.top_p;
  if (req.top_k != null) options.top_k = req.top_k;
  if (req.stop_sequences?.length) options.stop = req.stop_sequences;
  const tools: Tool[] | undefined = req.tools?.map((t) => ({
    type: 'function',
    function: { name: t.name, ...(t.description ? { description: t.description } : {}), parameters: t.input_schema as Tool['function']['parameters'] },
  }));
  const choice = toolChoiceOf(req);
  return {
    model: req.model,
    messages,
    tools: choice.tool_choice === 'none' ? undefined : tools,
    ...choice,
    stream: req.stream === true,
    ...(req.thinking ? { think: req.thinking.type === 'enabled' } : {}),
    options,
  };
}

export function stopReason(r: ChatResponse, sawToolUse: boolean): AnthropicStopReason {
  if (sawToolUse) return 'tool_use';
  if (r.stop_sequence !== undefined) return 'stop_sequence';
  return r.done_reason === 'length' ? 'max_tokens' : 'end_turn';
}

export function usageOf(r: ChatResponse) {
  // the whole prompt: kiln's cache is automatic, not the cache_control kind the cache_* fields count
  return { input_tokens: (r.prompt_eval_count ?? 0) + (r.prompt_cached ?? 0), output_tokens: r.eval_count ?? 0, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 };
}

/** The non-streamed answer: thinking, text, then tool_use blocks. */
export function toMessage(r: ChatResponse, id = anthropicId('msg')): AnthropicMessageResponse {
  const content: AnthropicContentBlock[] = [];
  if (r.message.thinking) content.push({ type: 'thinking', thinking: r.message.thinking, signature: '' });
  const calls = r.message.tool_calls ?? [];
  if (r.message.content || calls.length === 0) content.push({ type: 'text', text: r.message.content });
  for (const c of calls) content.push({ type: 'tool_use', id: c.id ?? anthropicId('toolu'), name: c.function.name, input: c.function.arguments ?? {} });
  return { id, type: 'message', role: 'assistant', model: r.model, content, stop_reason: stopReason(r, calls.length > 0), stop_sequence: r.stop_sequence ?? null, usage: usageOf(r) };
}
