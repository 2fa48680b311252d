/**
 * The edge of POST /v1/messages and /v1/messages/count_tokens: the body
 * parsed into Anthropic's request types, with 400s that name the field.
 */
import { drop, Fields, fieldsOf, invalid, objectAt } from './parse.js';
import type { AnthropicContentBlock, AnthropicCountTokensRequest, AnthropicMessage, AnthropicMessagesRequest, AnthropicTool, AnthropicToolChoice } from './types.js';

function textBlocks(f: Fields, k: string): string {
  const v = f.o[k];
  if (typeof v === 'string') return v;
  const parts = f.list(k, (b, at) => {
    const bf = new Fields(objectAt(b, at), at);
    const type = bf.requiredStr('type');
    if (type !== 'text') throw invalid(bf.path('type'), `expected a text block, got '${type}'`);
    return bf.str('text') ?? '';
  });
  return (parts ?? []).join('\n');
}

function block(v: unknown, at: string): AnthropicContentBlock {
  const f = new Fields(objectAt(v, at), at);
  const type = f.requiredStr('type');
  switch (type) {
    case 'text':
      return { type, text: f.str('text') ?? '' };
    case 'image': {
      const src = f.fields('source');
      if (!src) throw invalid(f.path('source'), 'is required');
      if (src.str('type') !== 'base64') throw invalid(src.path('type'), 'only base64 image sources are supported');
      return { type, source: { type: 'base64', media_type: src.str('media_type') ?? '', data: src.requiredStr('data') } };
    }
    case 'tool_use':
      return { type, id: f.requiredStr('id'), name: f.requiredStr('name'), input: f.obj('input') ?? {} };
    case 'tool_result':
      return drop({ type, tool_use_id: f.requiredStr('tool_use_id'), content: textBlocks(f, 'content'), is_error: f.bool('is_error') });
    case 'thinking':
      return drop({ type, thinking: f.str('thinking') ?? '', signature: f.str('signature') });
    case 'redacted_thinking':
      return { type, data: f.str('data') ?? '' };
    default:
      throw invalid(f.path('type'), `content block type '${type}' is not supported`);
  }
}

function message(v: unknown, at: string): AnthropicMessage {
  const f = new Fields(objectAt(v, at), at);
  const role = f.requiredStr('role');
  if (role !== 'user' && role !== 'assistant') throw invalid(f.path('role'), `must be "user" or "assistant", got '${role}'`);
  const content = typeof f.o.content === 'string' ? f.o.content : f.list('content', block);
  if (content === undefined) throw invalid(f.path('content'), 'is required');
  return { role, content };
}

function tool(v: unknown, at: string): AnthropicTool {
  const f = new Fields(objectAt(v, at), at);
  const type = f.str('type') ?? 'custom';
  if (type !== 'custom') throw invalid(f.path('type'), `only custom (client) tools are supported, got '${type}'`);
  const schema = f.fields('input_schema');
  if (!schema) throw invalid(f.path('input_schema'), 'is required');
  schema.str('type');
  schema.strList('required');
  schema.obj('properties');
  return drop({ name: f.requiredStr('name'), description: f.str('description'), input_schema: schema.o });
}

function toolChoice(f: Fields): AnthropicToolChoice | undefined {
  const c = f.fields('tool_choice');
  if (!c) return undefined;
  const type = c.requiredStr('type');
  const noParallel = c.bool('disable_parallel_tool_use');
  if (type === 'auto' || type === 'any') return drop({ type: type as 'auto', disable_parallel_tool_use: noParallel });
  if (type === 'tool') return drop({ type: 'tool' as const, name: c.requiredStr('name'), disable_parallel_tool_use: noParallel });
  if (type === 'none') return { type };
  throw invalid(c.path('type'), `must be "auto", "any", "tool" or "none", got '${type}'`);
}

function thinking(f: Fields): AnthropicCountTokensRequest['thinking'] {
  const t = f.fields('thinking');
  if (!t) return undefined;
  const type = t.requiredStr('type');
  if (type === 'disabled') return { type };
  if (type !== 'enabled') throw invalid(t.path('type'), `must be "enabled" or "disabled", got '${type}'`);
  const budget = t.int('budget_tokens', 1);
  if (budget === undefined) throw invalid(t.path('budget_tokens'), 'is required');
  return { type, budget_tokens: budget };
}

export function parseAnthropicCountTokens(body: unknown): AnthropicCountTokensRequest {
  const f = fieldsOf(body);
  const model = f.requiredStr('model');
  const messages = f.list('messages', message);
  if (!messages) throw invalid('messages', 'is required');
  if (messages.length === 0) throw invalid('messages', 'must have at least one message');
  return drop({
    model,
    messages,
    system: f.has('system') ? textBlocks(f, 'system') : undefined,
    tools: f.list('tools', tool),
    tool_choice: toolChoice(f),
    thinking: thinking(f),
  });
}

export function parseAnthropicMessages(body: unknown): AnthropicMessagesRequest {
  const base = parseAnthropicCountTokens(body);
  const f = fieldsOf(body);
  const maxTokens = f.int('max_tokens', 1);
  if (maxTokens === undefined) throw invalid('max_tokens', 'is required');
  return drop({
    ...base,
    max_tokens: maxTokens,
    stop_sequences: f.strList('stop_sequences'),
    temperature: f.num('temperature'),
    top_p: f.num('top_p'),
    top_k: f.int('top_k'),
    stream: f.bool('stream'),
    metadata: f.obj('metadata'),
  });
}
