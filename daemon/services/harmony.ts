import type { ToolCall } from '../api/types.js';

/**
 * gpt-oss's "harmony" answer format: a sequence of messages, each
 * `<|start|>ROLE[ to=RECIPIENT]<|channel|>CHANNEL[ <|constrain|>json]<|message|>BODY`
 * ended by `<|end|>`, `<|return|>` (the last answer) or `<|call|>` (a tool
 * call). The prompt ends with `<|start|>assistant`, so the model's text starts
 * inside a header. Channels map onto the API's fields:
 * - `analysis` → thinking;
 * - `final`, `commentary` without a recipient, or no channel → content;
 * - a message with a recipient (`to=functions.NAME`, on the commentary or
 *   analysis channel) → a tool call of NAME whose arguments are the body's
 *   JSON ("functions." is dropped, as Ollama does; built-ins such as
 *   `browser.search` keep their names).
 */

/** What the parser hands on after a piece of text. */
export interface HarmonyPiece {
  thinking: string;
  content: string;
  toolCalls: ToolCall[];
}

const START = '<|start|>';
const MESSAGE = '<|message|>';
const CHANNEL = '<|channel|>';
const CONSTRAIN = '<|constrain|>';
/** What ends a message body: its end tags, and a next message started without one. */
const BODY_ENDS = ['<|end|>', '<|return|>', '<|call|>', START];
/** Tags a header cannot hold: it was cut off and the model went on. */
const HEADER_BREAKS = ['<|end|>', '<|return|>', '<|call|>'];
/**
 * Longest header held while waiting for its `<|message|>`. Real headers are
 * a role, a channel, a recipient and a constraint; longer text there is a
 * model not writing harmony at all, and is handed on as content.
 */
const MAX_HEADER = 256;

type Sink = 'thinking' | 'content' | 'call';
type State = { kind: 'between' } | { kind: 'header'; fromPrompt: number } | { kind: 'body'; sink: Sink; recipient: string } | { kind: 'plain' };

/** The parsed header of one message. */
export interface HarmonyHeader {
  role: string;
  channel: string;
  recipient: string;
}

/** Reads a header (the text between `<|start|>` and `<|message|>`). */
export function parseHeader(raw: string): HarmonyHeader {
  let text = raw.split(CONSTRAIN).join(` ${CONSTRAIN}`);
  let channel = '';
  const at = text.indexOf(CHANNEL);
  if (at >= 0) {
    const after = text.slice(at + CHANNEL.length);
    const m = /^[^\s<]*/.exec(after)!;
    channel = m[0];
    text = `${text.slice(0, at)} ${after.slice(channel.length)}`;
  }
  const words = text.split(/\s+/).filter((w) => w !== '' && !w.startsWith(CONSTRAIN));
  let role = '';
  let recipient = '';
  for (const w of words) {
    if (w.startsWith('to=')) recipient ||= w.slice(3);
    else if (!role) role = w;
  }
  return { role, channel, recipient };
}

function sinkOf(h: HarmonyHeader): Sink {
  if (h.recipient && h.recipient !== 'assistant' && (h.channel === 'commentary' || h.channel === 'analysis' || h.channel === '')) return 'call';
  return h.channel === 'analysis' ? 'thinking' : 'content';
}

/** The length of the longest end of `text` that is a proper start of one of `tags`. */
function partialAtEnd(text: string, tags: string[]): number {
  let best = 0;
  for (const tag of tags) {
    for (let n = Math.min(tag.length - 1, text.length); n > best; n--) {
      if (text.endsWith(tag.slice(0, n))) {
        best = n;
        break;
      }
    }
  }
  return best;
}

/** The first of `tags` in `text`: where it is and which it is. */
function firstOf(text: string, tags: string[]): { at: number; tag: string } | undefined {
  let best: { at: number; tag: string } | undefined;
  for (const tag of tags) {
    const at = text.indexOf(tag);
    if (at >= 0 && (!best || at < best.at)) best = { at, tag };
  }
  return best;
}

export interface HarmonyParserOptions {
  /** Most calls handed on (parallel_tool_calls false: 1); later ones are dropped. */
  maxCalls?: number;
  /** Whether calls are read at all (false: no tools were offered, and a call's body is handed on as content). */
  calls?: boolean;
}

/**
 * What a forced call's grammar writes first to reach a new assistant header
 * from the end of `prompt`: nothing after the template's `<|start|>assistant`,
 * `<|end|>` first when the prompt left a message body open, else a new start.
 */
export function harmonyCallOpen(prompt: string): string {
  if (prompt.endsWith(`${START}assistant`)) return '';
  const at = prompt.lastIndexOf(START);
  const tail = at < 0 ? '' : prompt.slice(at);
  const open = tail.includes(MESSAGE) && !HEADER_BREAKS.some((t) => tail.includes(t));
  return `${open ? '<|end|>' : ''}${START}assistant`;
}

/**
 * Splits a streamed harmony answer into thinking, content and tool calls.
 * Thinking and content pass on as they come; text that could be the start of
 * a tag is held until the next piece settles it, so a tag cut anywhere by a
 * token boundary is still found. A call is handed on when its message ends
 * (or the stream does) and its arguments are a JSON object; a call whose
 * arguments are not is handed on as content, so nothing the model wrote is
 * lost. Junk is tolerated: text between messages is content, a message
 * started without the previous one ending ends it, a header that never ends
 * is content when it holds no harmony tag (a model ignoring the format) and
 * is dropped when it does (a header cut off by the token limit).
 */
export class HarmonyParser {
  private state: State = { kind: 'between' };
  private held = '';
  private args = '';
  private calls = 0;
  private readonly maxCalls: number;
  private readonly readCalls: boolean;

  constructor(opts: HarmonyParserOptions = {}) {
    this.maxCalls = opts.maxCalls ?? Infinity;
    this.readCalls = opts.calls ?? true;
  }

  /**
   * Starts the parser where the prompt leaves the model: inside the header of
   * the message the prompt opened last (`<|start|>assistant`), or inside its
   * body (a prompt that opened the analysis channel, or prefilled a final
   * answer); what the prompt already wrote is not handed on again. A prompt
   * whose last message ended, or that has no harmony message, leaves the
   * parser between messages.
   */
  prime(prompt: string): void {
    const at = prompt.lastIndexOf(START);
    if (at < 0) return;
    const tail = prompt.slice(at);
    if (HEADER_BREAKS.some((t) => tail.includes(t))) return;
    this.push(tail);
    this.args = '';
    if (this.state.kind === 'header') this.state = { kind: 'header', fromPrompt: this.held.length };
  }

  push(text: string): HarmonyPiece {
    const out: HarmonyPiece = { thinking: '', content: '', toolCalls: [] };
    this.held += text;
    for (;;) {
      const s = this.state;
      if (s.kind === 'plain') {
        // a model not writing harmony: content until it starts a message after all
        const f = firstOf(this.held, [START]);
        const upto = f ? f.at : this.held.length - partialAtEnd(this.held, [START]);
        out.content += this.held.slice(0, upto);
        this.held = this.held.slice(upto);
        if (!f) break;
        this.held = this.held.slice(START.length);
        this.state = { kind: 'header', fromPrompt: 0 };
        continue;
      }
      if (s.kind === 'between') {
        // a message starts with <|start|>; one that skips it and opens a channel is taken as the assistant's
        const f = firstOf(this.held, [START, CHANNEL]);
        const upto = f ? f.at : this.held.length - partialAtEnd(this.held, [START, CHANNEL]);
        const junk = this.held.slice(0, upto);
        if (junk.trim() !== '') out.content += junk;
        this.held = this.held.slice(upto);
        if (!f) break;
        if (f.tag === START) this.held = this.held.slice(START.length);
        this.state = { kind: 'header', fromPrompt: 0 };
        continue;
      }
      if (s.kind === 'header') {
        const end = this.held.indexOf(MESSAGE);
        const broken = firstOf(this.held, [...HEADER_BREAKS, START]);
        if (broken && (end < 0 || broken.at < end)) {
          // the header was cut off: drop it and carry on from the tag
          this.held = this.held.slice(broken.at);
          this.state = { kind: 'between' };
          if (broken.tag !== START) this.held = this.held.slice(broken.tag.length);
          continue;
        }
        if (end >= 0) {
          const h = parseHeader(this.held.slice(0, end));
          this.held = this.held.slice(end + MESSAGE.length);
          this.args = '';
          this.state = { kind: 'body', sink: sinkOf(h), recipient: h.recipient };
          continue;
        }
        if (this.held.length - s.fromPrompt > MAX_HEADER && !this.held.includes('<|')) {
          out.content += this.held.slice(s.fromPrompt);
          this.held = '';
          this.state = { kind: 'plain' };
        }
        break;
      }
      // a message body
      const f = firstOf(this.held, BODY_ENDS);
      const upto = f ? f.at : this.held.length - partialAtEnd(this.held, BODY_ENDS);
      this.emit(out, s, this.held.slice(0, upto));
      this.held = this.held.slice(upto);
      if (!f) break;
      this.endMessage(out, s);
      this.held = this.held.slice(f.tag === START ? 0 : f.tag.length);
      this.state = { kind: 'between' };
    }
    return out;
  }

  /** Ends the stream: held text goes where it was heading; a call still open is read as it stands. */
  finish(): HarmonyPiece {
    const out: HarmonyPiece = { thinking: '', content: '', toolCalls: [] };
    const s = this.state;
    const held = this.held;
    this.held = '';
    if (s.kind === 'body') {
      this.emit(out, s, held);
      this.endMessage(out, s);
    } else if (s.kind === 'header') {
      const text = held.slice(s.fromPrompt);
      if (!held.includes('<|') && text.trim() !== '') out.content += text;
    } else if (s.kind === 'plain' || held.trim() !== '') {
      out.content += held;
    }
    this.state = { kind: 'between' };
    return out;
  }

  private emit(out: HarmonyPiece, s: { sink: Sink }, text: string): void {
    if (s.sink === 'call') this.args += text;
    else out[s.sink] += text;
  }

  private endMessage(out: HarmonyPiece, s: { sink: Sink; recipient: string }): void {
    if (s.sink !== 'call') return;
    const raw = this.args;
    this.args = '';
    const args = this.readCalls ? argumentsOf(raw) : undefined;
    if (!args) {
      out.content += raw;
      return;
    }
    if (this.calls >= this.maxCalls) return;
    const name = s.recipient.startsWith('functions.') ? s.recipient.slice('functions.'.length) : s.recipient;
    out.toolCalls.push({ function: { index: this.calls++, name, arguments: args } });
  }
}

/** A call's arguments: its body as a JSON object (an empty body is no arguments); undefined when it is not one. */
function argumentsOf(raw: string): Record<string, unknown> | undefined {
  if (raw.trim() === '') return {};
  try {
    const v: unknown = JSON.parse(raw);
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
