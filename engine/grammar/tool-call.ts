/**
 * The grammar of an answer that is nothing but tool calls (`tool_choice`
 * "required" or a named function): each call is the template's opening text,
 * `{"name": "<an offered tool>", "arguments": <JSON valid for that tool's
 * parameters schema>}`, and its closing text, exactly as the model's template
 * writes a past call (so the daemon's tool-call parser reads it back). With
 * parallel calls allowed, more calls may follow, each after an optional
 * newline, up to MAX_PARALLEL_CALLS; the answer may end after any complete
 * call. The cap makes the answer end: a model that never writes its end
 * token (a small one under a grammar) would otherwise call on until its
 * token budget runs out, cutting its last call in two. A harmony model
 * (gpt-oss) gets its own call syntax instead (`style: "harmony"`).
 */
import { KilnError, isKilnError } from '../../common/errors.js';
import { GrammarBuilder, type Elem, type Grammar } from './grammar.js';
import { JsonRules, schemaElems } from './json-schema.js';

/** Most calls in one answer when parallel calls are allowed. */
export const MAX_PARALLEL_CALLS = 8;

/** What a tool-call grammar is built from (plain data: it travels to the runner). */
export interface ToolCallGrammarSpec {
  /** The tools the model may call, with their parameters schemas (absent: any object). */
  tools: { name: string; parameters?: unknown }[];
  /** Text before each call's JSON (the template's `<tool_call>\n`, or nothing). */
  open: string;
  /** Text after each call's JSON. */
  close: string;
  /** The key that holds the arguments: "arguments", or "parameters" (Llama 3.x templates). */
  argsKey: string;
  /** More than one call allowed. */
  parallel: boolean;
  /**
   * "harmony": gpt-oss's call syntax instead of a JSON object — each call is
   * `<|channel|>commentary to=functions.NAME <|constrain|>json<|message|>`,
   * the arguments' JSON and optionally `close` (`<|call|>`, which a real
   * gpt-oss writes as its end-of-turn token), after `open` (what takes the
   * prompt's end to a new assistant header: nothing after the template's
   * `<|start|>assistant`); further calls start `<|start|>assistant`.
   */
  style?: 'json' | 'harmony';
}

/** The header of a harmony call of `name`, as gpt-oss's template writes past calls. */
export function harmonyCallHeader(name: string): string {
  return `<|channel|>commentary to=functions.${name} <|constrain|>json<|message|>`;
}

/** An object schema for arguments: a tool without parameters takes any object. */
function argumentsSchema(parameters: unknown): unknown {
  if (parameters === undefined || parameters === null) return { type: 'object' };
  return parameters;
}

export function toolCallGrammar(spec: ToolCallGrammarSpec): Grammar {
  if (spec.tools.length === 0) throw new KilnError('E_BAD_REQUEST', 'tool_choice: no tools to call');
  const g = new GrammarBuilder();
  // arguments are read by programs: no room for a small model to drift into indentation
  const j = new JsonRules(g, true);
  const alts: Elem[][] = spec.tools.map((t) => {
    let args: Elem[];
    try {
      args = schemaElems(g, j, argumentsSchema(t.parameters));
    } catch (e) {
      if (!isKilnError(e)) throw e;
      // the schema compiler speaks of `format`; here it is a tool's parameters
      throw new KilnError('E_BAD_REQUEST', `tool_choice: the parameters of tool '${t.name}' cannot be enforced: ${e.message.replace(/^format: /, '')}`);
    }
    if (spec.style === 'harmony') return [...g.literal(harmonyCallHeader(t.name)), ...args];
    return [...g.literal(`{"name": ${JSON.stringify(t.name)}, ${JSON.stringify(spec.argsKey)}: `), ...args, ...g.literal('}')];
  });
  if (spec.style === 'harmony') {
    // `<|call|>` is gpt-oss's end-of-turn token, which decodes to no text: the answer may end right
    // after the arguments (the model's own <|call|> ends it), or spell it out and go on
    const call = [g.ref(g.rule(alts)), g.optional(g.literal(spec.close))];
    const more = g.repeat([...g.literal('<|start|>assistant'), ...call], 0, MAX_PARALLEL_CALLS - 1);
    return g.build(g.rule([[...g.literal(spec.open), ...call, ...(spec.parallel ? more : [])]]));
  }
  const call = [...g.literal(spec.open), g.ref(g.rule(alts)), ...g.literal(spec.close)];
  const body = spec.parallel ? [...call, ...g.repeat([g.optional(g.literal('\n')), ...call], 0, MAX_PARALLEL_CALLS - 1)] : call;
  return g.build(g.rule([body]));
}
