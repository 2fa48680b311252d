import type { ChatResponse, ResponsesOutputItem, ResponsesResponse, ResponsesStreamEvent } from '../api/types.js';
import type { Framing } from '../stream.js';
import { openaiError } from './errors.js';
import { finishResponse, functionCallItem, itemId } from './responses.js';

/** Responses streaming: each event is `event: <type>` and `data: <json>`; no [DONE] at the end. */
export const RESPONSES_SSE: Framing = {
  contentType: 'text/event-stream',
  frame: (o) => `event: ${(o as { type: string }).type}\ndata: ${JSON.stringify(o)}\n\n`,
  error: (e) => {
    const { error } = openaiError(e).body;
    return { type: 'error', code: error.code, message: error.message, param: error.param, sequence_number: 0 };
  },
};

type Open = { kind: 'message' | 'reasoning'; index: number; id: string; text: string };

/**
 * Native chat lines as the Responses event sequence: response.created and
 * response.in_progress; per output item output_item.added, then for text
 * content_part.added, output_text.delta (reasoning_text.delta for a thinking
 * model's reasoning), output_text.done and content_part.done, or for a call
 * function_call_arguments.delta and .done; output_item.done; and at the end
 * response.completed (response.incomplete when max_output_tokens ran out)
 * with the whole response, which `onDone` gets too (to store it).
 */
export async function* toResponseEvents(
  lines: AsyncGenerator<ChatResponse>,
  shell: ResponsesResponse,
  onDone: (r: ResponsesResponse) => void,
): AsyncGenerator<ResponsesStreamEvent> {
  let seq = 0;
  const ev = (type: string, body: Record<string, unknown>): ResponsesStreamEvent => ({ type, sequence_number: seq++, ...body });
  const output: ResponsesOutputItem[] = [];
  let open: Open | undefined;

  const partOf = (o: Open, text: string) => (o.kind === 'message' ? { type: 'output_text', text, annotations: [] } : { type: 'reasoning_text', text });
  const itemOf = (o: Open, status: 'in_progress' | 'completed' | 'incomplete'): ResponsesOutputItem =>
    o.kind === 'message'
      ? { type: 'message', id: o.id, status, role: 'assistant', content: o.text || status !== 'in_progress' ? [{ type: 'output_text', text: o.text, annotations: [] }] : [] }
      : { type: 'reasoning', id: o.id, summary: [], content: o.text || status !== 'in_progress' ? [{ type: 'reasoning_text', text: o.text }] : [], status };

  function* start(kind: Open['kind']): Generator<ResponsesStreamEvent> {
    open = { kind, index: output.length, id: itemId(kind === 'message' ? 'msg' : 'rs'), text: '' };
    output.push(itemOf(open, 'in_progress'));
    const where = { item_id: open.id, output_index: open.index, content_index: 0 };
    yield ev('response.output_item.added', { output_index: open.index, item: { ...itemOf(open, 'in_progress'), content: [] } });
    yield ev('response.content_part.added', { ...where, part: partOf(open, '') });
  }
  function* close(status: 'completed' | 'incomplete'): Generator<ResponsesStreamEvent> {
    if (!open) return;
    const o = open;
    open = undefined;
    const where = { item_id: o.id, output_index: o.index, content_index: 0 };
    if (o.kind === 'message') yield ev('response.output_text.done', { ...where, text: o.text, logprobs: [] });
    else yield ev('response.reasoning_text.done', { ...where, text: o.text });
    yield ev('response.content_part.done', { ...where, part: partOf(o, o.text) });
    output[o.index] = itemOf(o, status);
    yield ev('response.output_item.done', { output_index: o.index, item: output[o.index] });
  }
  function* text(kind: Open['kind'], delta: string): Generator<ResponsesStreamEvent> {
    if (open?.kind !== kind) {
      yield* close('completed');
      yield* start(kind);
    }
    const o = open!;
    o.text += delta;
    const where = { item_id: o.id, output_index: o.index, content_index: 0 };
    if (kind === 'message') yield ev('response.output_text.delta', { ...where, delta, logprobs: [] });
    else yield ev('response.reasoning_text.delta', { ...where, delta });
  }

  yield ev('response.created', { response: shell });
  yield ev('response.in_progress', { response: shell });
  for await (const r of lines) {
    if (!r.done) {
      if (r.message.thinking) yield* text('reasoning', r.message.thinking);
      if (r.message.content) yield* text('message', r.message.content);
      for (const c of r.message.tool_calls ?? []) {
        yield* close('completed');
        const args = JSON.stringify(c.function.arguments ?? {});
        const item = functionCallItem(c, 'in_progress', '');
        const index = output.length;
        output.push(item);
        yield ev('response.output_item.added', { output_index: index, item });
        yield ev('response.function_call_arguments.delta', { item_id: item.id, output_index: index, delta: args });
        yield ev('response.function_call_arguments.done', { item_id: item.id, output_index: index, name: c.function.name, arguments: args });
        output[index] = { ...item, arguments: args, status: 'completed' } as ResponsesOutputItem;
        yield ev('response.output_item.done', { output_index: index, item: output[index] });
      }
      continue;
    }
    const status = r.done_reason === 'length' ? 'incomplete' : 'completed';
    // an answer with nothing in it is still one (empty) message, as when not streamed
    if (output.length === 0) yield* start('message');
    yield* close(status);
    const final = finishResponse(shell, output, r);
    onDone(final);
    yield ev(status === 'incomplete' ? 'response.incomplete' : 'response.completed', { response: final });
  }
}
