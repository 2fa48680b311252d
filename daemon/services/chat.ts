import { KilnError } from '../../common/errors.js';
import type { ChatRequest, ChatResponse, Message, Tool, ToolCall } from '../api/types.js';
import { doneReason, formatOf, holdSlot, loadOrUnload, LogprobQueue, logprobsOf, nowIso, prepare, statsFields, type ServeDeps } from './inference.js';
import { rejectImages, renderChatPromptFitting } from './prompt.js';
import { countTokens, requireCompletion } from './runnable.js';
import { requestName } from './resolve.js';
import { ToolCallParser } from './tool-calls.js';
import { toolCallFormat, type ToolCallFormat } from './tool-format.js';
import { toolCallGrammar, type ToolCallGrammarSpec } from '../../engine/grammar/tool-call.js';
import { harmonyParserFor, planThinking, thinkingParserFor } from './thinking.js';
import { harmonyCallOpen } from './harmony.js';

/**
 * POST /api/chat. Like generate: resolves once a slot is held, then yields
 * `message` pieces and a final object with the statistics. With tools, an
 * answer that starts like a tool call is held back, and each call of an
 * offered tool is sent as `message.tool_calls` as soon as it is complete.
 * A thinking model's reasoning is split off first and sent as
 * `message.thinking`; only the rest goes to the tool-call parser. A harmony
 * model's answer (gpt-oss) goes through its own parser instead, which reads
 * reasoning, content and calls off its channels (harmony.ts).
 */
export async function chat(deps: ServeDeps, req: ChatRequest, signal: AbortSignal): Promise<AsyncGenerator<ChatResponse>> {
  const name = requestName(req);
  // the request was validated at the edge (api/parse.ts)
  const messages: Message[] = req.messages ?? [];
  const choice = req.tool_choice ?? 'auto';
  // "none": the model is not shown the tools, and nothing it writes is read as a call
  const tools: Tool[] | undefined = choice === 'none' ? undefined : req.tools;
  const forced = forcedTools(choice, tools);
  const p = await prepare(deps, name, req);
  requireCompletion(p.model, name, 'chat');
  // The model as the request named it, as Ollama echoes it.
  const model = name;
  const plan = planThinking(p.model, name, req.think);
  rejectImages(p.model, messages.flatMap((m) => m.images ?? []));
  const format = formatOf(req.format);
  const logprobs = logprobsOf(req);

  if (messages.length === 0) {
    const reason = await loadOrUnload(deps, p, signal);
    return (async function* () {
      yield { model, created_at: nowIso(), message: { role: 'assistant', content: '' }, done: true, done_reason: reason };
    })();
  }

  const { prompt } = renderChatPromptFitting(p.model, messages, tools, p.options.numCtx, (text) => countTokens(p.model.path, text), plan.think);
  const offered = tools !== undefined && tools.length > 0;
  const parallel = req.parallel_tool_calls !== false;
  // a harmony model (gpt-oss) writes its calls in its own syntax, which its parser reads with its channels
  const wrapper = offered ? (plan.harmony ? harmonyWrapper(prompt) : toolCallFormat(p.model, tools)) : undefined;
  const toolCalls = forced && wrapper ? toolGrammarSpec(forced, wrapper, parallel, plan.harmony) : undefined;
  const { lease, loadDurationNs } = await holdSlot(deps, p, signal);
  const maxCalls = parallel ? undefined : 1;
  const harmony = harmonyParserFor(plan, prompt, { format: format !== undefined && toolCalls === undefined, maxCalls, calls: offered });
  const parser = offered && !plan.harmony ? new ToolCallParser(tools, { wrapper, maxCalls }) : undefined;
  const thinking = thinkingParserFor(plan, prompt, format !== undefined || toolCalls !== undefined);
  const lps = new LogprobQueue(logprobs !== undefined);
  const piece = (content: string, toolCalls?: ToolCall[], reasoning = ''): ChatResponse => ({
    model,
    created_at: nowIso(),
    message: { role: 'assistant', content, ...(reasoning ? { thinking: reasoning } : {}), ...(toolCalls ? { tool_calls: toolCalls } : {}) },
    done: false,
    ...lps.take(),
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
    const it = lease.runner.generate(lease.slot, { prompt, options: p.options.sampling, format: toolCalls ? undefined : format, toolCalls, logprobs, shift: req.shift !== false }, signal);
    try {
      for (;;) {
        const r = await it.next();
        if (r.done) {
          if (harmony) {
            const h = harmony.finish();
            if (h.content || h.thinking || h.toolCalls.length) yield piece(h.content, h.toolCalls.length ? h.toolCalls : undefined, h.thinking);
          }
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
            ...lps.take(),
          };
          return;
        }
        lps.add(r.value.logprobs);
        if (!r.value.text) continue;
        if (harmony) {
          const h = harmony.push(r.value.text);
          if (h.content || h.thinking || h.toolCalls.length) yield piece(h.content, h.toolCalls.length ? h.toolCalls : undefined, h.thinking);
          continue;
        }
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
  const logprobs = lines.some((l) => l.logprobs) ? lines.flatMap((l) => l.logprobs ?? []) : undefined;
  return {
    ...last,
    ...(logprobs ? { logprobs } : {}),
    message: {
      role: 'assistant',
      content: lines.map((l) => l.message.content).join(''),
      ...(thinking ? { thinking } : {}),
      ...(toolCalls.length ? { tool_calls: toolCalls } : {}),
    },
  };
}

/**
 * The tools a `tool_choice` of "required" or a named function makes the
 * answer call (undefined for "auto" and "none"). Refuses, as a client's
 * mistake, a forced call with no tools and a name that is not offered.
 */
function forcedTools(choice: NonNullable<ChatRequest['tool_choice']>, tools: Tool[] | undefined): Tool[] | undefined {
  if (choice === 'auto' || choice === 'none') return undefined;
  const offered = tools ?? [];
  if (offered.length === 0) {
    throw new KilnError('E_BAD_REQUEST', `tool_choice: ${choice === 'required' ? '"required"' : `'${choice.name}'`} needs tools, and the request offers none`);
  }
  if (choice === 'required') return offered;
  const named = offered.filter((t) => t.function.name === choice.name);
  if (named.length === 0) {
    throw new KilnError('E_BAD_REQUEST', `tool_choice: tool '${choice.name}' is not among the offered tools (${offered.map((t) => t.function.name).join(', ')})`);
  }
  return named;
}

/** A harmony call's surroundings: what reaches a new assistant header from the prompt's end, and `<|call|>`. */
function harmonyWrapper(prompt: string): ToolCallFormat {
  return { open: harmonyCallOpen(prompt), close: '<|call|>', argsKey: 'arguments' };
}

/** The grammar of the forced calls, in the template's wrapper; compiled here once so a schema it cannot enforce is a 400 before anything runs. */
function toolGrammarSpec(tools: Tool[], wrapper: ToolCallFormat, parallel: boolean, harmony = false): ToolCallGrammarSpec {
  const spec: ToolCallGrammarSpec = {
    tools: tools.map((t) => ({ name: t.function.name, parameters: t.function.parameters })),
    ...wrapper,
    parallel,
    ...(harmony ? { style: 'harmony' as const } : {}),
  };
  toolCallGrammar(spec);
  return spec;
}
