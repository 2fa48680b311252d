/**
 * Ollama's prompt-template layer: turns a chat (or a generate request) into
 * the prompt text a model's Go template describes, the way Ollama does.
 *
 * Rules implemented (Ollama's template.Parse / Template.Execute and the chat
 * and generate handlers):
 *
 * 1. Parsing. Templates use Go text/template plus `json`, `currentDate` and
 *    `yesterdayDate`. A template that mentions neither `.Messages` nor
 *    `.Response` anywhere gets `{{ .Response }}` appended, so legacy templates
 *    still end with the assistant's text.
 * 2. Input messages. `system`, when given, is prepended as a system message
 *    unless the conversation already starts with one (the model's SYSTEM in
 *    /api/chat). `prompt`, when given, is appended as a user message and
 *    `response` as an assistant message (how /api/generate builds its single
 *    turn; a non-empty `response` is text for the model to continue).
 * 3. Collation. Consecutive messages with the same role are merged, contents
 *    joined by "\n\n"; tool messages are never merged. `.System` is every
 *    system message's content joined by "\n\n".
 * 4. Path choice, in order:
 *    - Fill-in-the-middle: when both `prompt` and `suffix` are non-empty, the
 *      template runs once with `.Prompt`, `.Suffix` and an empty `.Response`.
 *    - Messages: when the template mentions `messages` (any field or variable
 *      path, case-insensitive, e.g. `$.Messages`), it runs once with `.System`,
 *      `.Messages`, `.Tools` and an empty `.Response`. Continuation of a last
 *      assistant message is the template's job there: Ollama's published
 *      templates test `$last` and leave the final assistant turn unterminated
 *      and add no new assistant header after it.
 *    - Legacy: otherwise the template runs once per turn with `.System`,
 *      `.Prompt` and `.Response`, outputs concatenated. Walking the collated
 *      messages: a system message first flushes a pending prompt or response,
 *      then becomes `.System`; a user message flushes a pending response, then
 *      becomes `.Prompt`; an assistant message becomes `.Response`; tool
 *      messages are skipped. The final turn runs on a copy of the template cut
 *      after the first `.Response` (see `cutAfterResponse`), so the prompt ends
 *      where the assistant's text goes, with the last assistant message (if
 *      any) left open for the model to continue.
 *    Every path also sees `.Think`, `.ThinkLevel` and `.IsThinkSet` (a level
 *    such as "high" sets `.Think`; `true` alone reads as level "medium").
 * 5. Data shapes follow Ollama's template types (see ollama-values.ts):
 *    struct fields that do not exist are errors; keys missing from the
 *    top-level map print as "<no value>", as with Go's missingkey=zero.
 *
 * Not done here (the caller's job, as in Ollama's chatPrompt): truncating old
 * messages to fit the context window and `[img-N]` tags for images.
 */
import { KilnError } from '../../common/errors.js';
import type { ExecOptions } from './exec.js';
import { GoTemplate, parseGoTemplate } from './go-template.js';
import { cutAfterResponse, inferThinkingTags, responseAction, templateVars, type ThinkingTags } from './ollama-tree.js';
import { toTemplateMessage, toTemplateTools, type ChatMessage, type Tool } from './ollama-values.js';

export type { ChatMessage, Tool, ToolCall, ToolProperty } from './ollama-values.js';
export type { ThinkingTags } from './ollama-tree.js';

export interface OllamaTemplate {
  /** The template as Ollama runs it (with `{{ .Response }}` appended where rule 1 says). */
  readonly template: GoTemplate;
  /** Lower-cased identifiers the template mentions. */
  readonly vars: ReadonlySet<string>;
  /** Whether it takes the `.Messages` path. */
  readonly usesMessages: boolean;
  /** The last-turn template of the legacy path. */
  readonly lastTurn: GoTemplate;
  /** The tags around past reasoning (Ollama's InferTags); set only for templates with the "thinking" capability. */
  readonly thinkingTags: ThinkingTags | undefined;
  /** Whether it writes gpt-oss's "harmony" format (see isHarmonyTemplate). */
  readonly harmony: boolean;
}

/**
 * Whether a template writes gpt-oss's "harmony" message format, whose answers
 * are read by channel rather than split on thinking tags. Ollama decides this
 * from the template's `<|start|>` and `<|end|>` tags for models of the gpt-oss
 * family; kiln goes by the template alone, asking for `<|channel|>` too (the
 * mark of harmony), so any model dressed in such a template is read that way.
 */
export function isHarmonyTemplate(text: string): boolean {
  return text.includes('<|start|>') && text.includes('<|end|>') && text.includes('<|channel|>');
}

export interface OllamaRenderInput {
  system?: string;
  messages?: ChatMessage[];
  tools?: Tool[];
  prompt?: string;
  response?: string;
  suffix?: string;
  /** Ollama's `think`: a boolean or a level ("low", "medium", "high"). */
  think?: boolean | string;
  /** Execution limits and clock, per template run. */
  exec?: ExecOptions;
}

export function parseOllamaTemplate(text: string): OllamaTemplate {
  let template = parseGoTemplate(text);
  let vars = templateVars(template.tree);
  if (!vars.has('messages') && !vars.has('response')) {
    template = template.withRoot([...template.tree.root, responseAction(text.length)]);
    vars = templateVars(template.tree);
  }
  return {
    template,
    vars,
    usesMessages: vars.has('messages'),
    lastTurn: template.withRoot(cutAfterResponse(template.tree.root)),
    thinkingTags: inferThinkingTags(template.tree),
    harmony: isHarmonyTemplate(text),
  };
}

interface Collated {
  system: string;
  messages: ChatMessage[];
}

function collate(msgs: ChatMessage[]): Collated {
  const system: string[] = [];
  const out: ChatMessage[] = [];
  for (const m of msgs) {
    if (m.role === 'system') system.push(m.content);
    const last = out[out.length - 1];
    if (last && last.role === m.role && m.role !== 'tool') last.content += '\n\n' + m.content;
    else out.push({ ...m });
  }
  return { system: system.join('\n\n'), messages: out };
}

function inputMessages(input: OllamaRenderInput): ChatMessage[] {
  const msgs = [...(input.messages ?? [])];
  if (input.system && msgs[0]?.role !== 'system') msgs.unshift({ role: 'system', content: input.system });
  if (input.prompt !== undefined) msgs.push({ role: 'user', content: input.prompt });
  if (input.response) msgs.push({ role: 'assistant', content: input.response });
  return msgs;
}

/** Ollama's think values: a level turns thinking on, and plain `true` reads as level "medium" (its ThinkValue.String). */
function thinkValues(think: boolean | string | undefined): Record<string, unknown> {
  return {
    Think: think === undefined ? false : think !== false,
    ThinkLevel: typeof think === 'string' ? think : think === true ? 'medium' : '',
    IsThinkSet: think !== undefined,
  };
}

/** Render a prompt with an Ollama template (source text or parsed once with `parseOllamaTemplate`). */
export function renderOllamaTemplate(tmpl: string | OllamaTemplate, input: OllamaRenderInput): string {
  const t = typeof tmpl === 'string' ? parseOllamaTemplate(tmpl) : tmpl;
  const think = thinkValues(input.think);
  const exec = input.exec ?? {};

  if (input.prompt && input.suffix) {
    return t.template.execute({ Prompt: input.prompt, Suffix: input.suffix, Response: '', ...think }, exec);
  }

  const { system, messages } = collate(inputMessages(input));

  if (t.usesMessages) {
    return t.template.execute(
      { System: system, Messages: messages.map(toTemplateMessage), Tools: toTemplateTools(input.tools), Response: '', ...think },
      exec,
    );
  }

  // Legacy: one run per turn; the output budget is shared across runs.
  const maxOutput = exec.maxOutput;
  let produced = 0;
  const parts: string[] = [];
  let turn = { System: '', Prompt: '', Response: '' };
  const run = (tpl: GoTemplate): void => {
    const budget = maxOutput === undefined ? undefined : maxOutput - produced;
    if (budget !== undefined && budget < 0) throw new KilnError('E_TEMPLATE', `template: output exceeds ${maxOutput} characters`);
    const text = tpl.execute({ ...turn, ...think }, { ...exec, maxOutput: budget });
    produced += text.length;
    parts.push(text);
    turn = { System: '', Prompt: '', Response: '' };
  };
  for (const m of messages) {
    switch (m.role) {
      case 'system':
        if (turn.Prompt || turn.Response) run(t.template);
        turn.System = m.content;
        break;
      case 'user':
        if (turn.Response) run(t.template);
        turn.Prompt = m.content;
        break;
      case 'assistant':
        turn.Response = m.content;
        break;
    }
  }
  run(t.lastTurn);
  return parts.join('');
}
