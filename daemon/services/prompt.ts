import { KilnError } from '../../common/errors.js';
import { parseOllamaTemplate, renderJinjaChat, renderOllamaTemplate, type JinjaMessage, type OllamaTemplate, type ThinkingTags } from '../../engine/template/index.js';
import type { Message, Tool } from '../api/types.js';
import type { RunnableModel } from './runnable.js';

/** Ollama's template for a model without one: the prompt as it is. */
const DEFAULT_TEMPLATE = '{{ .Prompt }}';

const parsed = new Map<string, OllamaTemplate>();
function ollamaTemplate(text: string): OllamaTemplate {
  let t = parsed.get(text);
  if (!t) {
    t = parseOllamaTemplate(text);
    if (parsed.size > 32) parsed.delete(parsed.keys().next().value!);
    parsed.set(text, t);
  }
  return t;
}

/** Which template a model's prompts go through: its Ollama template layer, else the GGUF chat_template, else none. */
export type TemplateSource = { kind: 'ollama'; text: string } | { kind: 'jinja'; text: string } | { kind: 'none' };

export function templateOf(m: RunnableModel, override?: string): TemplateSource {
  if (override) return { kind: 'ollama', text: override };
  if (m.layers.template) return { kind: 'ollama', text: m.layers.template };
  if (m.facts.chatTemplate) return { kind: 'jinja', text: m.facts.chatTemplate };
  return { kind: 'none' };
}

/** The language of a template: Ollama's Go text/template, or a GGUF's Jinja chat template. */
export type TemplateKind = 'go' | 'jinja';

/**
 * The template a model's prompts go through, as /api/show reports it: the
 * Ollama template layer, else the GGUF's tokenizer.chat_template, else
 * Ollama's default `{{ .Prompt }}` (the same choice as templateOf).
 */
export function templateInUse(ollama: string | undefined, jinja: string | undefined): { text: string; kind: TemplateKind } {
  if (ollama) return { text: ollama, kind: 'go' };
  if (jinja) return { text: jinja, kind: 'jinja' };
  return { text: DEFAULT_TEMPLATE, kind: 'go' };
}

/**
 * Ollama's capabilities of a model, from its templates: "completion" always,
 * "tools" when the template renders tools, "insert" when it has a
 * fill-in-the-middle form (.Suffix), "thinking" when it shows past reasoning
 * between tags that can be inferred (see inferThinkingTags) or writes
 * gpt-oss's harmony format (whose analysis channel is the reasoning). The Ollama
 * template layer wins over the GGUF chat_template, as for rendering.
 */
export function templateCapabilities(ollama: string | undefined, jinja: string | undefined): string[] {
  const caps = ['completion'];
  if (ollama) {
    const vars = ollamaTemplate(ollama).vars;
    if (vars.has('tools')) caps.push('tools');
    if (vars.has('suffix')) caps.push('insert');
    if (ollamaTemplate(ollama).thinkingTags || ollamaTemplate(ollama).harmony) caps.push('thinking');
  } else if (jinja && /\btools\b/.test(jinja)) caps.push('tools');
  return caps;
}

/** Whether the model's template renders tools (Ollama's "tools" capability). */
export function supportsTools(m: RunnableModel): boolean {
  return templateCapabilities(m.layers.template, m.facts.chatTemplate).includes('tools');
}

/** Whether the template has a fill-in-the-middle form (Ollama's "insert" capability). */
export function supportsSuffix(m: RunnableModel, override?: string): boolean {
  return templateCapabilities(override || m.layers.template, undefined).includes('insert');
}

/**
 * The tags the model's template puts around reasoning, when it has Ollama's
 * "thinking" capability. Like Ollama, always the model's own template, even
 * when a request brings its own.
 */
export function thinkingTagsOf(m: RunnableModel): ThinkingTags | undefined {
  return m.layers.template ? ollamaTemplate(m.layers.template).thinkingTags : undefined;
}

/**
 * Whether the model's template writes gpt-oss's harmony format, so that its
 * answers are read by channel (harmony.ts). Like thinkingTagsOf, always the
 * model's own template.
 */
export function isHarmony(m: RunnableModel): boolean {
  return m.layers.template ? ollamaTemplate(m.layers.template).harmony : false;
}

export function rejectImages(m: RunnableModel, images: unknown): void {
  if (Array.isArray(images) && images.length > 0) {
    throw new KilnError('E_BAD_REQUEST', `model '${m.name}' does not support image input: kiln runs text-only models${m.vision ? ' (its vision projector cannot be loaded yet)' : ''}`);
  }
}

/** Jinja chat templates expect OpenAI/Hugging Face message shapes (tool calls with a type). */
function jinjaMessages(messages: Message[]): JinjaMessage[] {
  return messages.map((m) => ({
    ...m,
    ...(m.tool_calls ? { tool_calls: m.tool_calls.map((c) => ({ type: 'function', ...c })) } : {}),
  }));
}

export interface GeneratePromptInput {
  prompt: string;
  suffix?: string;
  system?: string;
  template?: string;
  raw?: boolean;
  /** An earlier answer's tokens precede the prompt: the model's system prompt and messages are not repeated. */
  continuing: boolean;
  /** The request's `think`, resolved (see thinking.ts). */
  think?: boolean | string;
}

/** The prompt text of /api/generate. */
export function renderGeneratePrompt(m: RunnableModel, req: GeneratePromptInput): string {
  if (req.raw) return req.prompt;
  if (req.suffix && !supportsSuffix(m, req.template)) throw new KilnError('E_BAD_REQUEST', `model '${m.name}' does not support insert (its template has no .Suffix)`);
  const system = req.system ?? (req.continuing ? undefined : m.layers.system);
  const messages = req.continuing ? [] : m.layers.messages;
  const t = templateOf(m, req.template);
  if (t.kind === 'jinja') {
    const msgs: Message[] = [...(system ? [{ role: 'system', content: system }] : []), ...messages, { role: 'user', content: req.prompt }];
    return renderJinjaChat(t.text, { messages: jinjaMessages(msgs), addGenerationPrompt: true, bosToken: m.facts.bosText, eosToken: m.facts.eosText });
  }
  return renderOllamaTemplate(ollamaTemplate(t.kind === 'ollama' ? t.text : DEFAULT_TEMPLATE), { system, messages, prompt: req.prompt, suffix: req.suffix, think: req.think });
}

/** The prompt text of /api/chat: the model's MESSAGEs, then the request's, with the model's SYSTEM unless the chat brings one. */
export function renderChatPrompt(m: RunnableModel, messages: Message[], tools?: Tool[], think?: boolean | string): string {
  if (tools && tools.length > 0 && !supportsTools(m)) throw new KilnError('E_BAD_REQUEST', `model '${m.name}' does not support tools (its template does not render them)`);
  const all = [...m.layers.messages, ...messages];
  const system = all[0]?.role === 'system' ? undefined : m.layers.system;
  const t = templateOf(m);
  if (t.kind === 'jinja') {
    const msgs: Message[] = [...(system ? [{ role: 'system', content: system }] : []), ...all];
    const continuing = msgs.at(-1)?.role === 'assistant';
    return renderJinjaChat(t.text, {
      messages: jinjaMessages(msgs),
      tools: tools && tools.length > 0 ? tools : undefined,
      addGenerationPrompt: !continuing,
      bosToken: m.facts.bosText,
      eosToken: m.facts.eosText,
    });
  }
  return renderOllamaTemplate(ollamaTemplate(t.kind === 'ollama' ? t.text : DEFAULT_TEMPLATE), { system, messages: all, tools: tools as never, think });
}

/**
 * The chat prompt, fitted to the context as Ollama fits it: when the whole
 * conversation is too long, the oldest messages are dropped whole — system
 * messages and the last message are always kept — until it fits (found by
 * bisection, since dropping more never makes it longer). Fitting whole
 * messages keeps every turn's template markup intact, where cutting tokens
 * would not. `count` is the prompt's length in tokens.
 */
export function renderChatPromptFitting(
  m: RunnableModel,
  messages: Message[],
  tools: Tool[] | undefined,
  numCtx: number,
  count: (text: string) => number,
  think?: boolean | string,
): { prompt: string; dropped: number } {
  const full = renderChatPrompt(m, messages, tools, think);
  if (count(full) < numCtx) return { prompt: full, dropped: 0 };
  const droppable = messages.map((msg, i) => (msg.role !== 'system' && i < messages.length - 1 ? i : -1)).filter((i) => i >= 0);
  const without = (k: number) => {
    const gone = new Set(droppable.slice(0, k));
    return messages.filter((_, i) => !gone.has(i));
  };
  const fits = (k: number) => count(renderChatPrompt(m, without(k), tools, think)) < numCtx;
  // The fewest oldest messages to drop; if even dropping all of them is not enough, the runner cuts tokens.
  let lo = 1;
  let hi = droppable.length;
  if (hi > 0 && fits(hi)) {
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (fits(mid)) hi = mid;
      else lo = mid + 1;
    }
  }
  return { prompt: hi === 0 ? full : renderChatPrompt(m, without(hi), tools, think), dropped: hi };
}
