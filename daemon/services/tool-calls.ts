import type { Tool, ToolCall } from '../api/types.js';

/**
 * Ways models open a tool call: a bare JSON object or array (Llama 3.1/3.2
 * with Ollama's templates), Qwen's `<tool_call>…</tool_call>`, Llama's
 * `<|python_tag|>` and a fenced ```json block.
 */
const OPENERS = ['{', '[', '<tool_call>', '<|python_tag|>', '```json', '```'];

type State = 'undecided' | 'text' | 'call';

/**
 * Splits a streamed answer into text and tool calls. While the answer could
 * still be a tool call (it starts like one), nothing is emitted; once it
 * cannot be, everything passes through as text. A held answer is parsed at
 * the end: JSON objects naming an offered tool become tool calls, and
 * anything that does not parse is given back as text.
 */
export class ToolCallParser {
  private state: State = 'undecided';
  private held = '';
  private readonly names: Set<string>;

  constructor(tools: Tool[]) {
    this.names = new Set(tools.map((t) => t.function.name));
  }

  /** Adds streamed text; returns the text that is certainly not part of a tool call. */
  push(text: string): string {
    if (this.state === 'text') return text;
    this.held += text;
    if (this.state === 'call') return '';
    const s = this.held.trimStart();
    if (s === '') return '';
    if (OPENERS.some((o) => s.startsWith(o))) {
      this.state = 'call';
      return '';
    }
    if (OPENERS.some((o) => o.startsWith(s))) return '';
    this.state = 'text';
    const out = this.held;
    this.held = '';
    return out;
  }

  /** Ends the answer: the held text either parses as tool calls or comes back as content. */
  finish(): { content: string; toolCalls: ToolCall[] } {
    const held = this.held;
    this.held = '';
    if (this.state !== 'call') return { content: held, toolCalls: [] };
    const calls = parseToolCalls(held, this.names);
    return calls.length > 0 ? { content: '', toolCalls: calls } : { content: held, toolCalls: [] };
  }
}

/** Reads consecutive JSON values from text (separated by whitespace, commas or semicolons). */
function jsonValues(text: string): unknown[] | undefined {
  const out: unknown[] = [];
  let i = 0;
  while (i < text.length) {
    while (i < text.length && /[\s,;]/.test(text[i])) i++;
    if (i >= text.length) break;
    const end = matchingEnd(text, i);
    if (end < 0) return undefined;
    try {
      out.push(JSON.parse(text.slice(i, end + 1)));
    } catch {
      return undefined;
    }
    i = end + 1;
  }
  return out;
}

/** Index of the bracket closing the one at `start`, strings respected; -1 if unbalanced or not a bracket. */
function matchingEnd(s: string, start: number): number {
  if (s[start] !== '{' && s[start] !== '[') return -1;
  let depth = 0;
  let inString = false;
  for (let i = start; i < s.length; i++) {
    const c = s[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === '{' || c === '[') depth++;
    else if (c === '}' || c === ']') {
      depth--;
      if (depth === 0) return i;
    }
  }
  return -1;
}

function asCall(v: unknown, names: Set<string>): ToolCall | undefined {
  if (!v || typeof v !== 'object' || Array.isArray(v)) return undefined;
  const o = v as Record<string, unknown>;
  const fn = o.function && typeof o.function === 'object' ? (o.function as Record<string, unknown>) : o;
  const name = fn.name;
  if (typeof name !== 'string' || (names.size > 0 && !names.has(name))) return undefined;
  let args = fn.arguments ?? fn.parameters ?? {};
  if (typeof args === 'string') {
    try {
      args = JSON.parse(args);
    } catch {
      return undefined;
    }
  }
  if (!args || typeof args !== 'object' || Array.isArray(args)) return undefined;
  return { function: { name, arguments: args as Record<string, unknown> } };
}

/** The tool calls written in `text`, or [] if it is not (entirely) tool calls. */
export function parseToolCalls(text: string, names: Set<string>): ToolCall[] {
  const body = text
    .replace(/<\|python_tag\|>/g, '')
    .replace(/<\/?tool_call>/g, ' ')
    .replace(/```(?:json)?/g, ' ')
    .replace(/<\|eom_id\|>|<\|eot_id\|>/g, '');
  const values = jsonValues(body);
  if (!values || values.length === 0) return [];
  const flat = values.flatMap((v) => (Array.isArray(v) ? v : [v]));
  const calls = flat.map((v) => asCall(v, names));
  if (calls.some((c) => c === undefined)) return [];
  return (calls as ToolCall[]).map((c, index) => ({ function: { index, ...c.function } }));
}
