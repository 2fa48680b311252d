import { KilnError } from '../../common/errors.js';
import type { ChatRequest, ChatResponse, Message, Tool, ToolCall } from '../api/types.js';
import { doneReason, formatOf, holdSlot, loadOrUnload, nowIso, prepare, statsFields, type ServeDeps } from './inference.js';
import { rejectImages, renderChatPromptFitting } from './prompt.js';
import { countTokens, requireCompletion } from './runnable.js';
import { requestName } from './resolve.js';
import { ToolCallParser } from './tool-calls.js';
import { planThinking, thinkingParserFor } from './thinking.js';

/**
 * POST /api/chat. Like generate: resolves once a slot is held, then yields
 * `message` pieces and a final object with the statistics. With tools, an
 * answer that starts like a tool call is held back, and each call of an
 * offered tool is sent as `message.tool_calls` as soon as it is complete.
 * A thinking model's reasoning is split off first and sent as
 * `message.thinking`; only the rest goes to the tool-call parser.
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
  const plan = planThinking(p.model, name, req.think);
  rejectImages(p.model, messages.flatMap((m) => m.images ?? []));
  const format = formatOf(req.format);

  if (messages.length === 0) {
    const reason = await loadOrUnload(deps, p, signal);
    return (async function* () {
      yield { model, created_at: nowIso(), message: { role: 'assistant', content: '' }, done: true, done_reason: reason };
    })();
  }

  const { prompt } = renderChatPromptFitting(p.model, messages, tools, p.options.numCtx, (text) => countTokens(p.model.path, text), plan.think);
  const { lease, loadDurationNs } = await holdSlot(deps, p, signal);
  const parser = tools && tools.length > 0 ? new ToolCallParser(tools) : undefined;
  const thinking = thinkingParserFor(plan, prompt, format !== undefined);
  const piece = (content: string, toolCalls?: ToolCall[], reasoning = ''): ChatResponse => ({
    model,
    created_at: nowIso(),
    message: { role: 'assistant', content, ...(reasoning ? { thinking: reasoning } : {}), ...(toolCalls ? { tool_calls: toolCalls } : {}) },
    done: false,
  });
  /** Reasoning passes straight on; the rest goes through the tool-call parser when there is one. */
  const pass = (text: string, reasoning: string, end: boolean): ChatResponse | undefined => {
    if (!parser) return text || reasoning ? piece(text, undefined, reasoning) : undefined;
    const a = parser.push(text);
    const b = end ? parser.finish() : { content: '', toolCalls: [] };
    const content = a.content + b.content;
    const toolCalls = [...a.toolCalls, ...b.toolCalls];
    return content || reasoning || toolCalls.length ? piece(content, toolCalls.length ? toolCalls : undefined, reasoning) : undefined;
  };
  return (async function* () {
    const it = lease.runner.generate(lease.slot, { prompt, options: p.options.sampling, format, shift: req.shift !== false }, signal);
    try {
      for (;;) {
        const r = await it.next();
        if (r.done) {
          const rest = thinking?.finish() ?? { thinking: '', content: '' };
          const last = pass(rest.content, rest.thinking, true);
          if (last) yield last;
          yield {
            model,
            created_at: nowIso(),
            message: { role: 'assistant', content: '' },
            done: true,
            done_reason: doneReason(r.value),
            ...(r.value.stopSequence !== undefined ? { stop_sequence: r.value.stopSequence } : {}),
            ...statsFields(deps, p, loadDurationNs, r.value),
          };
          return;
        }
        if (!r.value.text) continue;
        const split = thinking ? thinking.push(r.value.text) : { thinking: '', content: r.value.text };
        const out = pass(split.content, split.thinking, false);
        if (out) yield out;
      }
    } finally {
      // A consumer that stops early (a client gone) closes this generator at a yield: close the
      // runner's stream too, or its pending entry and handlers stay behind for good.
      await it.return(undefined as never).catch(() => {});
      lease.release();
    }
  })();
}

/** The non-streaming answer: one message with all the content, reasoning and tool calls. */
export function mergeChat(lines: ChatResponse[]): ChatResponse {
  const last = lines.at(-1);
  if (!last) throw new KilnError('E_RUNNER', 'the generation ended without a result');
  const toolCalls = lines.flatMap((l) => l.message.tool_calls ?? []);
  const thinking = lines.map((l) => l.message.thinking ?? '').join('');
  return {
    ...last,
    message: {
      role: 'assistant',
      content: lines.map((l) => l.message.content).join(''),
      ...(thinking ? { thinking } : {}),
      ...(toolCalls.length ? { tool_calls: toolCalls } : {}),
    },
  };
}
