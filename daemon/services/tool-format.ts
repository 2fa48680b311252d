import type { Message, Tool } from '../api/types.js';
import { renderChatPrompt } from './prompt.js';
import type { RunnableModel } from './runnable.js';

/** How the model's template writes a tool call: the text around each call's JSON, and the key of its arguments. */
export interface ToolCallFormat {
  open: string;
  close: string;
  argsKey: 'arguments' | 'parameters';
}

/** A bare JSON object (Ollama's Llama 3.x style): what a template that does not show past calls gets. */
export const BARE_FORMAT: ToolCallFormat = { open: '', close: '', argsKey: 'arguments' };

const PROBE = 'kiln_probe_tool';
const PROBE_ARG = 'kiln_probe_arg';

function commonPrefix(a: string, b: string): number {
  let n = 0;
  while (n < a.length && n < b.length && a[n] === b[n]) n++;
  return n;
}

function commonSuffix(a: string, b: string, max: number): number {
  let n = 0;
  while (n < max && a[a.length - 1 - n] === b[b.length - 1 - n]) n++;
  return n;
}

/** Index of the `}` closing the `{` at `start`, strings respected; -1 if none. */
function closingBrace(s: string, start: number): number {
  let depth = 0;
  let inString = false;
  for (let i = start; i < s.length; i++) {
    const c = s[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === '{') depth++;
    else if (c === '}' && --depth === 0) return i;
  }
  return -1;
}

/**
 * How the model's template writes a tool call, found the way the template
 * itself shows one: a conversation whose last turn is a call of a probe tool
 * is rendered, and so is the same conversation with that turn empty or plain
 * text; what the first has that the others have not is the call as the model saw calls
 * written (`<tool_call>\n{"name": …, "arguments": …}\n</tool_call>` for
 * Qwen, `{"name": …, "parameters": …}` for Llama 3.x). The text before the
 * JSON object naming the probe opens a call, the text after it closes one.
 * A template that does not show past calls, or shows them in a way this does
 * not recognize, gets the bare JSON object, which the parser always reads.
 */
export function toolCallFormat(m: RunnableModel, tools: Tool[]): ToolCallFormat {
  try {
    const probeTool: Tool = { type: 'function', function: { name: PROBE, parameters: { type: 'object', properties: { [PROBE_ARG]: { type: 'string' } } } } };
    const user: Message = { role: 'user', content: 'x' };
    const call: Message = { role: 'assistant', content: '', tool_calls: [{ function: { name: PROBE, arguments: { [PROBE_ARG]: 'v' } } }] };
    const all = [...tools, probeTool];
    const a = renderChatPrompt(m, [user, call], all);
    // Two turns without the call, one empty and one of text: a boundary shared by chance with one
    // (an empty turn's `<|im_end|>` starts with the `<` of `<tool_call>`) is not shared with both.
    const others = ['', 'Zq'].map((content) => renderChatPrompt(m, [user, { role: 'assistant', content }], all));
    const pre = Math.min(...others.map((b) => commonPrefix(a, b)));
    const post = Math.min(...others.map((b) => commonSuffix(a, b, Math.min(a.length - pre, b.length))));
    let middle = a.slice(pre, a.length - post);
    // an end-of-turn token the template writes after a call is the model's to generate, not text
    const eos = m.facts.eosText;
    if (eos && middle.includes(eos)) middle = middle.slice(0, middle.lastIndexOf(eos));
    const at = middle.indexOf(`"${PROBE}"`);
    if (at < 0) return BARE_FORMAT;
    const start = middle.lastIndexOf('{', at);
    const end = start < 0 ? -1 : closingBrace(middle, start);
    if (end < 0) return BARE_FORMAT;
    const json = JSON.parse(middle.slice(start, end + 1)) as Record<string, unknown>;
    if (json.name !== PROBE) return BARE_FORMAT;
    const argsKey = 'parameters' in json && !('arguments' in json) ? 'parameters' : 'arguments';
    // Whitespace before the opener belongs to the turn (the model starts writing after it).
    return { open: middle.slice(0, start).trimStart(), close: middle.slice(end + 1).trimEnd(), argsKey };
  } catch {
    return BARE_FORMAT;
  }
}
