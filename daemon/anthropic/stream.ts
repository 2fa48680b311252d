import type { AnthropicStreamEvent, ChatResponse } from '../api/types.js';
import type { Framing } from '../stream.js';
import { anthropicError } from './errors.js';
import { anthropicId, stopReason, usageOf } from './messages.js';

/** Anthropic's server-sent events: `event: <type>` and `data: <json>`, an error as an `error` event. */
export const ANTHROPIC_SSE: Framing = {
  contentType: 'text/event-stream',
  frame: (o) => `event: ${(o as { type: string }).type}\ndata: ${JSON.stringify(o)}\n\n`,
  error: (e) => anthropicError(e).body,
};

/**
 * Native chat lines as Anthropic's event sequence: message_start, ping, then
 * per block content_block_start, its deltas (thinking_delta then a
 * signature_delta, text_delta, or one input_json_delta for a tool_use) and
 * content_block_stop; message_delta with the stop reason and usage; message_stop.
 */
export async function* toMessageEvents(lines: AsyncGenerator<ChatResponse>, model: string): AsyncGenerator<AnthropicStreamEvent> {
  let index = -1;
  let open: 'text' | 'thinking' | undefined;
  let sawToolUse = false;
  function* close(): Generator<AnthropicStreamEvent> {
    if (!open) return;
    if (open === 'thinking') yield { type: 'content_block_delta', index, delta: { type: 'signature_delta', signature: '' } };
    yield { type: 'content_block_stop', index };
    open = undefined;
  }
  function* text(kind: 'text' | 'thinking', piece: string): Generator<AnthropicStreamEvent> {
    if (open !== kind) {
      yield* close();
      open = kind;
      index++;
      yield { type: 'content_block_start', index, content_block: kind === 'text' ? { type: 'text', text: '' } : { type: 'thinking', thinking: '', signature: '' } };
    }
    yield { type: 'content_block_delta', index, delta: kind === 'text' ? { type: 'text_delta', text: piece } : { type: 'thinking_delta', thinking: piece } };
  }

  yield {
    type: 'message_start',
    message: { id: anthropicId('msg'), type: 'message', role: 'assistant', model, content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: 0, output_tokens: 0, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 } },
  };
  yield { type: 'ping' };
  for await (const r of lines) {
    if (!r.done) {
      if (r.message.thinking) yield* text('thinking', r.message.thinking);
      if (r.message.content) yield* text('text', r.message.content);
      for (const c of r.message.tool_calls ?? []) {
        yield* close();
        sawToolUse = true;
        index++;
        yield { type: 'content_block_start', index, content_block: { type: 'tool_use', id: c.id ?? anthropicId('toolu'), name: c.function.name, input: {} } };
        yield { type: 'content_block_delta', index, delta: { type: 'input_json_delta', partial_json: JSON.stringify(c.function.arguments ?? {}) } };
        yield { type: 'content_block_stop', index };
      }
      continue;
    }
    // an answer with nothing in it is still one (empty) text block, as when not streamed
    if (index < 0) yield* text('text', '');
    yield* close();
    yield { type: 'message_delta', delta: { stop_reason: stopReason(r, sawToolUse), stop_sequence: r.stop_sequence ?? null }, usage: usageOf(r) };
    yield { type: 'message_stop' };
  }
}
