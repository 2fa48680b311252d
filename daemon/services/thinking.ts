import { KilnError } from '../../common/errors.js';
import type { ThinkingTags } from '../../engine/template/index.js';
import { HarmonyParser, type HarmonyParserOptions } from './harmony.js';
import { isHarmony, thinkingTagsOf } from './prompt.js';
import type { RunnableModel } from './runnable.js';

/** What the parser hands on after a piece of text: reasoning, and text for the answer. */
export interface ThinkingPiece {
  thinking: string;
  content: string;
}

type Phase = 'before' | 'thinking' | 'after';

const LEADING_SPACE = /^\s+/;

/** The length of the longest end of `text` that is a proper start of `tag` (a tag cut by a token boundary). */
function partialTagAtEnd(text: string, tag: string): number {
  for (let n = Math.min(tag.length - 1, text.length); n > 0; n--) {
    if (text.endsWith(tag.slice(0, n))) return n;
  }
  return 0;
}

/**
 * Splits a streamed answer into reasoning and content, as Ollama's thinking
 * parser does for templates with thinking tags:
 * - Before anything else, white space is skipped and the answer may open with
 *   the opening tag; text held while it could still be that tag is not
 *   emitted. An answer that starts with anything else is all content.
 * - White space right after the opening tag is dropped; then everything up to
 *   the closing tag is reasoning. Text that could be the start of the closing
 *   tag is held until the next piece settles it, so a tag cut anywhere by a
 *   token boundary is still found.
 * - White space right after the closing tag is dropped; the rest is content.
 * A prompt that already ends inside an opened tag (templates that put
 * `<think>` at the end of the prompt) starts the parser with `push(open)`.
 * `finish()` hands on what is still held: a stream that ends before the
 * closing tag was all reasoning. (Ollama drops such held text; kiln keeps it.)
 */
export class ThinkingParser {
  private phase: Phase = 'before';
  /** Drop white space at the start of what comes next (after either tag). */
  private skipSpace = false;
  private held = '';

  constructor(private readonly tags: ThinkingTags) {}

  push(text: string): ThinkingPiece {
    let thinking = '';
    let content = '';
    this.held += text;
    for (;;) {
      if (this.skipSpace) {
        this.held = this.held.replace(LEADING_SPACE, '');
        if (this.held === '') break;
        this.skipSpace = false;
      }
      if (this.phase === 'before') {
        const s = this.held.replace(LEADING_SPACE, '');
        if (s.startsWith(this.tags.open)) {
          this.held = s.slice(this.tags.open.length);
          this.phase = 'thinking';
          this.skipSpace = true;
          continue;
        }
        if (this.tags.open.startsWith(s)) break; // only white space, or a start of the tag, so far
        this.phase = 'after';
        continue;
      }
      if (this.phase === 'thinking') {
        const at = this.held.indexOf(this.tags.close);
        if (at >= 0) {
          thinking += this.held.slice(0, at);
          this.held = this.held.slice(at + this.tags.close.length);
          this.phase = 'after';
          this.skipSpace = true;
          continue;
        }
        const keep = partialTagAtEnd(this.held, this.tags.close);
        thinking += this.held.slice(0, this.held.length - keep);
        this.held = this.held.slice(this.held.length - keep);
        break;
      }
      content += this.held;
      this.held = '';
      break;
    }
    return { thinking, content };
  }

  /** Ends the stream: held text goes where it was heading (unterminated reasoning stays reasoning). */
  finish(): ThinkingPiece {
    const held = this.held;
    this.held = '';
    if (this.phase === 'thinking') return { thinking: held, content: '' };
    if (this.phase === 'before') return { thinking: '', content: held.trim() === '' ? '' : held };
    return { thinking: '', content: held };
  }
}

/** The request's `think` as the template sees it, and the tags to split the answer on (none: no splitting). */
export interface ThinkPlan {
  think: boolean | string | undefined;
  tags: ThinkingTags | undefined;
  /** The template writes gpt-oss's harmony format: answers are read by channel, whatever `think` says. */
  harmony?: boolean;
}

/**
 * Resolves a generate/chat request's `think` against the model, as Ollama's
 * handlers do: a model with the "thinking" capability thinks unless told
 * not to (an absent `think` means true); asking a model without it to think
 * (true or a level) is a 400 that names the model as the request did. A level
 * reaches the template as `.ThinkLevel` and otherwise counts as true.
 * `think: false` renders the template that way and leaves the answer unsplit:
 * whatever reasoning the model still writes stays in the content.
 */
export function planThinking(m: RunnableModel, requestedName: string, requested: boolean | string | undefined): ThinkPlan {
  if (isHarmony(m)) {
    // gpt-oss cannot stop reasoning: think=false only drops the template's "Reasoning:" line, and what
    // the model writes in its analysis channel is still reasoning (as Ollama reports it)
    return { think: requested ?? profileThink(m.layers.parameters?.think) ?? true, tags: undefined, harmony: true };
  }
  const tags = thinkingTagsOf(m);
  if (!tags) {
    if (requested !== undefined && requested !== false) throw new KilnError('E_BAD_REQUEST', `${JSON.stringify(requestedName)} does not support thinking`);
    return { think: requested, tags: undefined };
  }
  // the request's think, else the model's PARAMETER think, else thinking on
  const resolved = requested ?? profileThink(m.layers.parameters?.think) ?? true;
  return { think: resolved, tags: resolved === false ? undefined : tags };
}

/**
 * The model's `PARAMETER think` (its profile), which stands when a request
 * says nothing: true/false or a level ("true"/"false" as text too, as an
 * /api/create `parameters` map may carry them); anything else is no default.
 */
function profileThink(v: unknown): boolean | string | undefined {
  if (typeof v === 'boolean') return v;
  if (v === 'true' || v === 'false') return v === 'true';
  return v === 'high' || v === 'medium' || v === 'low' ? v : undefined;
}

/**
 * The parser for one answer, or undefined when it is not split. When the
 * prompt already ends with the opening tag (templates that open the reasoning
 * for the model), the parser starts inside it, as Ollama's does, unless a
 * `format` constrains the answer from its first token: then what the model
 * writes is the formatted answer, not reasoning. (Ollama instead lets such a
 * model think unconstrained first and asks again with the format; kiln does
 * not do that second pass.)
 */
export function thinkingParserFor(plan: ThinkPlan, prompt: string, constrained = false): ThinkingParser | undefined {
  if (!plan.tags) return undefined;
  const p = new ThinkingParser(plan.tags);
  if (!constrained && prompt.trim().endsWith(plan.tags.open)) p.push(plan.tags.open);
  return p;
}

/**
 * The harmony parser for one answer of a harmony model (undefined for other
 * models), started where the prompt leaves the model. A `format` constrains
 * the answer from its first token to the formatted text, which is then all
 * content and read by no parser; a forced tool call's grammar writes harmony
 * calls, which are read.
 */
export function harmonyParserFor(plan: ThinkPlan, prompt: string, opts: HarmonyParserOptions & { format?: boolean } = {}): HarmonyParser | undefined {
  if (!plan.harmony || opts.format) return undefined;
  const p = new HarmonyParser({ maxCalls: opts.maxCalls, calls: opts.calls });
  p.prime(prompt);
  return p;
}
