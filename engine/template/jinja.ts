/**
 * GGUF `tokenizer.chat_template` rendering (Jinja, via @huggingface/jinja),
 * with the variables Hugging Face's apply_chat_template provides: `messages`,
 * `tools` (none when absent), `add_generation_prompt`, `bos_token`,
 * `eos_token`, and `raise_exception`, which fails the render with E_TEMPLATE.
 *
 * The interpreter has no step or output budget, so the one unbounded builtin
 * is replaced: `range()` refuses more than MAX_RANGE items. A template can
 * still nest loops; chat templates come from the model file, not the request.
 */
import { Environment, Interpreter, Template } from '@huggingface/jinja';
import { KilnError, isKilnError } from '../../common/errors.js';

export interface JinjaMessage {
  role: string;
  content: unknown;
  [key: string]: unknown;
}

export interface JinjaChatInput {
  messages: JinjaMessage[];
  tools?: unknown[];
  addGenerationPrompt?: boolean;
  bosToken?: string;
  eosToken?: string;
  /** Further template variables some templates read (`enable_thinking`, `date_string`, …). */
  variables?: Record<string, unknown>;
}

export const MAX_RANGE = 1_000_000;

const CACHE_SIZE = 8;
const cache = new Map<string, Template>();

function compile(source: string): Template {
  let t = cache.get(source);
  if (t) return t;
  try {
    t = new Template(source);
  } catch (e) {
    throw new KilnError('E_TEMPLATE', `chat_template: ${(e as Error).message}`, { cause: e });
  }
  if (cache.size >= CACHE_SIZE) cache.delete(cache.keys().next().value!);
  cache.set(source, t);
  return t;
}

function cappedRange(start: number, stop?: number, step = 1): number[] {
  if (stop === undefined) [start, stop] = [0, start];
  if (!Number.isInteger(start) || !Number.isInteger(stop) || !Number.isInteger(step) || step === 0) {
    throw new KilnError('E_TEMPLATE', 'chat_template: range() takes integers and a non-zero step');
  }
  const n = Math.max(0, Math.ceil((stop - start) / step));
  if (n > MAX_RANGE) throw new KilnError('E_TEMPLATE', `chat_template: range() of ${n} items exceeds ${MAX_RANGE}`);
  return Array.from({ length: n }, (_, i) => start + i * step);
}

function strftimeNow(format: string): string {
  const d = new Date();
  const p2 = (n: number) => String(n).padStart(2, '0');
  const month = (style: 'long' | 'short') => new Intl.DateTimeFormat('en-US', { month: style }).format(d);
  return format.replace(/%[YmdbBHM%]/g, (t) =>
    ({ '%Y': String(d.getFullYear()), '%m': p2(d.getMonth() + 1), '%d': p2(d.getDate()), '%b': month('short'),
       '%B': month('long'), '%H': p2(d.getHours()), '%M': p2(d.getMinutes()), '%%': '%' })[t]!,
  );
}

/**
 * Globals of a render. Template.render would declare the library's own
 * raise_exception and range first (and refuses redeclaration), so the
 * environment is assembled here: Jinja's constants plus kiln's functions.
 */
function globals(input: JinjaChatInput): Record<string, unknown> {
  return {
    true: true, false: false, none: null, True: true, False: false, None: null,
    raise_exception: (message: unknown) => {
      throw new KilnError('E_TEMPLATE', `chat_template: raise_exception: ${String(message)}`);
    },
    range: cappedRange,
    strftime_now: strftimeNow,
    ...input.variables,
    messages: input.messages,
    tools: input.tools ?? null,
    add_generation_prompt: input.addGenerationPrompt ?? false,
    bos_token: input.bosToken ?? '',
    eos_token: input.eosToken ?? '',
  };
}

/** Render a Jinja chat template. Throws E_TEMPLATE on syntax errors, runtime errors and raise_exception. */
export function renderJinjaChat(template: string, input: JinjaChatInput): string {
  const program = compile(template).parsed;
  try {
    const env = new Environment();
    for (const [name, value] of Object.entries(globals(input))) env.set(name, value);
    return (new Interpreter(env).run(program) as { value: string }).value;
  } catch (e) {
    if (isKilnError(e)) throw e;
    throw new KilnError('E_TEMPLATE', `chat_template: ${(e as Error).message}`, { cause: e });
  }
}
