import { KilnError } from '../../common/errors.js';
import type { ChatRequest, ChatResponse, Message, Tool, ToolCall } from '../api/types.js';
import { doneReason, formatOf, holdSlot, loadOrUnload, nowIso, prepare, statsFields, type ServeDeps } from './inference.js';
import { rejectImages, renderChatPromptFitting } from './prompt.js';
import { countTokens, requireCompletion } from './runnable.js';
import { requestName } from './resolve.js';
import { ToolCallParser } from './tool-calls.js';

/**
 * POST /api/chat. Like generate: resolves once a slot is held, then yields
 * `message` pieces and a final object with the statistics. With tools, an
 * answer that starts like a tool call is held back, and each call of an
 * offered tool is sent as `message.tool_calls` as soon as it is complete.
 */
export async function chat(deps: ServeDeps, req: ChatRequest, signal: AbortSignal): Promise<AsyncGenerator<ChatResponse>> {
  const name = requestName(req);
  // the request was validated at the edge (api/parse.ts)
  const messages: Message[] = req.messages ?? [];
  const tools: Tool[] | undefined = req.tools;
  const p = await prepare(deps, name, req);
  requireCompletion(p.model, name, 'chat');
  // The model as the request named it, as Ollama echoes it.
  const model = name;
  rejectImages(p.model, messages.flatMap((m) => m.images ?? []));
  const format = formatOf(req.format);

  if (messages.length === 0) {
    const reason = await loadOrUnload(deps, p, signal);
    return (async function* () {
      yield { model, created_at: nowIso(), message: { role: 'assistant', content: '' }, done: true, done_reason: reason };
    })();
  }

  const { prompt } = renderChatPromptFitting(p.model, messages, tools, p.options.numCtx, (text) => countTokens(p.model.path, text));
  const { lease, loadDurationNs } = await holdSlot(deps, p, signal);
  const parser = tools && tools.length > 0 ? new ToolCallParser(tools) : undefined;
  const piece = (content: string, toolCalls?: ToolCall[]): ChatResponse => ({
    model,
    created_at: nowIso(),
    message: { role: 'assistant', content, ...(toolCalls ? { tool_calls: toolCalls } : {}) },
    done: false,
  });
  return (async function* () {
    const it = lease.runner.generate(lease.slot, { prompt, options: p.options.sampling, format, shift: req.shift !== false }, signal);
    try {
      for (;;) {
        const r = await it.next();
        if (r.done) {
          if (parser) {
            const { content, toolCalls } = parser.finish();
            if (content || toolCalls.length) yield piece(content, toolCalls.length ? toolCalls : undefined);
          }
          yield {
            model,
            created_at: nowIso(),
            message: { role: 'assistant', content: '' },
            done: true,
            done_reason: doneReason(r.value),
            ...statsFields(deps, p, loadDurationNs, r.value),
          };
          return;
        }
        if (!parser) {
          if (r.value.text) yield piece(r.value.text);
          continue;
        }
        const { content, toolCalls } = parser.push(r.value.text);
        if (content || toolCalls.length) yield piece(content, toolCalls.length ? toolCalls : undefined);
      }
    } finally {
      // A consumer that stops early (a client gone) closes this generator at a yield: close the
      // runner's stream too, or its pending entry and handlers stay behind for good.
      await it.return(undefined as never).catch(() => {});
      lease.release();
    }
  })();
}

/** The non-streaming answer: one message with all the content and tool calls. */
export function mergeChat(lines: ChatResponse[]): ChatResponse {
  const last = lines.at(-1);
  if (!last) throw new KilnError('E_RUNNER', 'the generation ended without a result');
  const toolCalls = lines.flatMap((l) => l.message.tool_calls ?? []);
  return {
    ...last,
    message: { role: 'assistant', content: lines.map((l) => l.message.content).join(''), ...(toolCalls.length ? { tool_calls: toolCalls } : {}) },
  };
}
