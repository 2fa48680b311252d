import type { Tool, ToolCall } from '../api/types.js';

/**
 * Ways models open a tool call: a bare JSON object or array (Llama 3.1/3.2
 * with Ollama's templates), Qwen's `<tool_call>…</tool_call>`, Llama's
 * `<|python_tag|>` and a fenced ```json block.
 */
const OPENERS = ['{', '[', '<tool_call>', '<|python_tag|>', '```json', '```'];

type State = 'undecided' | 'text' | 'call';

/** What the parser hands on after a piece of text: text for the user and finished tool calls. */
export interface ParsedPiece {
  content: string;
  toolCalls: ToolCall[];
}

/** Separators and wrapper tokens around and between calls. */
const FILLER_PARTS = ['\\s', '[,;]', '<\\|python_tag\\|>', '<\\/?tool_call>', '```(?:json)?', '<\\|eom_id\\|>', '<\\|eot_id\\|>'];
const FILLER = fillerOf([]);

function fillerOf(extra: string[]): RegExp {
  const escaped = extra.filter((x) => x !== '').map((x) => x.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  return new RegExp(`^(?:${[...FILLER_PARTS, ...escaped].join('|')})+`);
}

/** What a parser knows beyond the offered tools. */
export interface ToolCallParserOptions {
  /** The text the model's template writes around a call (tool-format.ts), read as a wrapper too. */
  wrapper?: { open: string; close: string };
  /** Most calls handed on (parallel_tool_calls false: 1); later ones are dropped. */
  maxCalls?: number;
}

/**
 * Splits a streamed answer into text and tool calls. While the answer could
 * still be a tool call (it starts like one), nothing is emitted; once it
 * cannot be, everything passes through as text. In a call, each call is
 * handed on as soon as its JSON is complete and names an offered tool (as
 * Ollama streams them); what follows that is not a call comes back as text
 * at the end, as does a held answer that never parsed as one.
 */
export class ToolCallParser {
  private state: State = 'undecided';
  private held = '';
  private next = 0;
  private readonly names: Set<string>;
  private readonly openers: string[];
  private readonly filler: RegExp;
  private readonly maxCalls: number;

  constructor(tools: Tool[], opts: ToolCallParserOptions = {}) {
    this.names = new Set(tools.map((t) => t.function.name));
    const open = opts.wrapper?.open.trim() ?? '';
    const close = opts.wrapper?.close.trim() ?? '';
    this.openers = open && !OPENERS.includes(open) ? [open, ...OPENERS] : OPENERS;
    this.filler = open || close ? fillerOf([open, close]) : FILLER;
    this.maxCalls = opts.maxCalls ?? Infinity;
  }

  /** Numbers the calls, dropping those past maxCalls. */
  private take(calls: ToolCall[]): ToolCall[] {
    const out: ToolCall[] = [];
    for (const c of calls) if (this.next < this.maxCalls) out.push({ function: { ...c.function, index: this.next++ } });
    return out;
  }

  /** Adds streamed text; returns the text that is certainly not part of a tool call, and the calls completed by it. */
  push(text: string): ParsedPiece {
    if (this.state === 'text') return { content: text, toolCalls: [] };
    this.held += text;
    if (this.state === 'call') return { content: '', toolCalls: this.completed() };
    const s = this.held.trimStart();
    if (s === '') return { content: '', toolCalls: [] };
    if (this.openers.some((o) => s.startsWith(o))) {
      this.state = 'call';
      return { content: '', toolCalls: this.completed() };
    }
    if (this.openers.some((o) => o.startsWith(s))) return { content: '', toolCalls: [] };
    this.state = 'text';
    const out = this.held;
    this.held = '';
    return { content: out, toolCalls: [] };
  }

  /** Ends the answer: held text either parses as tool calls or comes back as content. */
  finish(): ParsedPiece {
    const held = this.held;
    this.held = '';
    if (this.state !== 'call') return { content: held, toolCalls: [] };
    if (this.next > 0 && held.replace(this.filler, '') === '') return { content: '', toolCalls: [] };
    const calls = parseToolCalls(held, this.names, this.filler);
    return calls.length > 0 ? { content: '', toolCalls: this.take(calls) } : { content: held, toolCalls: [] };
  }

  /** Takes the complete calls off the front of the held text. */
  private completed(): ToolCall[] {
    const out: ToolCall[] = [];
    // stops at a value not complete yet, or one that is not calls (left for finish())
    for (let r = leadingCalls(this.held, this.names, this.filler); r; r = leadingCalls(this.held, this.names, this.filler)) {
      out.push(...this.take(r.calls));
      this.held = r.rest;
    }
    return out;
  }
}

/**
 * The calls of offered tools in the JSON value (an object or an array of
 * them) that starts `text` after any filler, and the text after it;
 * undefined when that value is not complete yet, not JSON, or not all calls.
 */
function leadingCalls(text: string, names: Set<string>, filler = FILLER): { calls: ToolCall[]; rest: string } | undefined {
  const start = filler.exec(text)?.[0].length ?? 0;
  const end = matchingEnd(text, start);
  if (end < 0) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(text.slice(start, end + 1));
  } catch {
    return undefined;
  }
  const calls = (Array.isArray(v) ? v : [v]).map((x) => asCall(x, names));
  if (calls.length === 0 || calls.some((c) => c === undefined)) return undefined;
  return { calls: calls as ToolCall[], rest: text.slice(end + 1) };
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
export function parseToolCalls(text: string, names: Set<string>, filler = FILLER): ToolCall[] {
  const calls: ToolCall[] = [];
  for (let rest = text; rest.replace(filler, '') !== ''; ) {
    const r = leadingCalls(rest, names, filler);
    if (!r) return [];
    calls.push(...r.calls);
    rest = r.rest;
  }
  return calls.map((c, index) => ({ function: { index, ...c.function } }));
}
