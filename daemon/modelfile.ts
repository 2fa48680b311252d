/**
 * Ollama's Modelfile format: parse, render back, and the `/api/show`
 * `parameters` text.
 *
 *     # comment                       only where a line starts (after blanks)
 *     FROM <name or path>             required, once
 *     ADAPTER <path>                  repeatable
 *     TEMPLATE <value>                last one wins
 *     SYSTEM <value>                  last one wins
 *     PARAMETER <key> <value>         typed by key; `stop` collects, others: last wins
 *     MESSAGE <role> <value>          role: system | user | assistant
 *     LICENSE <value>                 repeatable
 *
 * Instructions, parameter keys and roles are case-insensitive. A value is the
 * rest of the line with blanks trimmed, or `"..."`, or `"""..."""`; both quoted
 * forms may span lines, and in both `\"` is a quote and `\\` a backslash while
 * any other backslash is kept as written (templates and prompts are full of
 * them). Nothing but blanks may follow a closing quote. CRLF is read as LF.
 *
 * Ollama takes the first of repeated scalar parameters; kiln takes the last,
 * so appending a line to a Modelfile overrides what came before.
 */
import { KilnError } from '../common/errors.js';
import { KV_CACHE_TYPES } from '../settings/settings.js';

export type ParameterValue = number | boolean | string | string[];
// Roles are checked when parsing; the type stays `string` so that chat
// messages from the API (daemon/api/types.ts) pass through unchanged.
export interface ModelfileMessage {
  role: string;
  content: string;
}

export interface Modelfile {
  from?: string;
  adapters: string[];
  template?: string;
  system?: string;
  parameters: Record<string, ParameterValue>;
  license: string[];
  messages: ModelfileMessage[];
}

type ParamType = 'int' | 'float' | 'bool' | 'strings' | 'think' | 'kvtype';

/** Ollama's runtime options (api.Options) that a Modelfile may set. */
export const PARAMETER_TYPES: Readonly<Record<string, ParamType>> = {
  num_ctx: 'int', num_batch: 'int', num_gpu: 'int', main_gpu: 'int', num_thread: 'int',
  num_keep: 'int', seed: 'int', num_predict: 'int', top_k: 'int', repeat_last_n: 'int',
  mirostat: 'int',
  temperature: 'float', top_p: 'float', min_p: 'float', typical_p: 'float', tfs_z: 'float',
  repeat_penalty: 'float', presence_penalty: 'float', frequency_penalty: 'float',
  mirostat_tau: 'float', mirostat_eta: 'float',
  use_mmap: 'bool', use_mlock: 'bool', numa: 'bool', penalize_newline: 'bool',
  low_vram: 'bool', f16_kv: 'bool', logits_all: 'bool', vocab_only: 'bool',
  stop: 'strings',
  // kiln's addition: whether a thinking model thinks when a request does not say (true, false, high, medium, low)
  think: 'think',
  // kiln's addition: KV cache types (f16, q8_0, q4_0), of keys and values or of either (llama.cpp's -ctk / -ctv)
  kv_cache_type: 'kvtype', kv_cache_type_k: 'kvtype', kv_cache_type_v: 'kvtype',
};

const ROLES: readonly string[] = ['system', 'user', 'assistant'];
const INT = /^[+-]?[0-9]+$/;
const FLOAT = /^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?$/;
// Go's strconv.ParseBool set, which Ollama uses, folded to lower case.
const THINK_LEVELS = ['high', 'medium', 'low'];
const BOOLS: Record<string, boolean> = { true: true, t: true, '1': true, false: false, f: false, '0': false };

function fail(line: number, message: string): KilnError {
  return new KilnError('E_MODELFILE', `Modelfile line ${line}: ${message}`);
}

const isBlank = (c: string | undefined) => c === ' ' || c === '\t';

/** A cursor over the text that knows its line, because values may span lines. */
class Reader {
  pos = 0;
  line = 1;
  constructor(readonly src: string) {}

  done(): boolean {
    return this.pos >= this.src.length;
  }
  atEol(): boolean {
    return this.done() || this.src[this.pos] === '\n';
  }
  blanks(): void {
    while (isBlank(this.src[this.pos])) this.pos++;
  }
  skipLine(): void {
    while (!this.atEol()) this.pos++;
    this.newline();
  }
  newline(): void {
    if (!this.done()) {
      this.pos++;
      this.line++;
    }
  }
  word(): string {
    this.blanks();
    const start = this.pos;
    while (!this.atEol() && !isBlank(this.src[this.pos])) this.pos++;
    return this.src.slice(start, this.pos);
  }
  /** Only blanks may remain on the line. */
  endLine(): void {
    this.blanks();
    if (!this.atEol()) throw fail(this.line, 'unexpected text after closing quote');
    this.newline();
  }

  value(what: string): string {
    this.blanks();
    if (this.src.startsWith('"""', this.pos)) return this.quoted('"""');
    if (this.src[this.pos] === '"') return this.quoted('"');
    const start = this.pos;
    while (!this.atEol()) this.pos++;
    let end = this.pos;
    while (end > start && isBlank(this.src[end - 1])) end--;
    if (end === start) throw fail(this.line, `${what} needs a value`);
    return this.src.slice(start, end);
  }

  private quoted(delim: string): string {
    const opened = this.line;
    this.pos += delim.length;
    let out = '';
    for (;;) {
      if (this.done()) throw fail(opened, `unterminated ${delim} string`);
      const c = this.src[this.pos];
      const next = this.src[this.pos + 1];
      if (c === '\\' && (next === '"' || next === '\\')) {
        out += next;
        this.pos += 2;
      } else if (this.src.startsWith(delim, this.pos)) {
        this.pos += delim.length;
        return out;
      } else {
        if (c === '\n') this.line++;
        out += c;
        this.pos++;
      }
    }
  }
}

function typedValue(line: number, key: string, raw: string): number | boolean | string {
  const type = PARAMETER_TYPES[key];
  if (type === 'int' && INT.test(raw) && Number.isSafeInteger(Number(raw))) return Number(raw);
  if (type === 'float' && FLOAT.test(raw) && Number.isFinite(Number(raw))) return Number(raw);
  if (type === 'bool' && Object.hasOwn(BOOLS, raw.toLowerCase())) return BOOLS[raw.toLowerCase()];
  if (type === 'strings') return raw;
  if (type === 'kvtype' && (KV_CACHE_TYPES as readonly string[]).includes(raw.toLowerCase())) return raw.toLowerCase();
  if (type === 'think') {
    if (THINK_LEVELS.includes(raw.toLowerCase())) return raw.toLowerCase();
    if (Object.hasOwn(BOOLS, raw.toLowerCase())) return BOOLS[raw.toLowerCase()];
  }
  const expected =
    type === 'int' ? 'an integer'
    : type === 'float' ? 'a number'
    : type === 'think' ? 'true, false, high, medium or low'
    : type === 'kvtype' ? KV_CACHE_TYPES.join(', ').replace(/, ([^,]*)$/, ' or $1')
    : 'true or false';
  throw fail(line, `PARAMETER ${key} must be ${expected}, got '${raw}'`);
}

/** Parse Modelfile text; every problem is `KilnError('E_MODELFILE')` naming its line. */
export function parseModelfile(text: string): Modelfile {
  const r = new Reader(text.replace(/\r\n/g, '\n'));
  const mf: Modelfile = { adapters: [], parameters: {}, license: [], messages: [] };
  while (!r.done()) {
    r.blanks();
    if (r.atEol()) {
      r.newline();
      continue;
    }
    if (r.src[r.pos] === '#') {
      r.skipLine();
      continue;
    }
    const line = r.line;
    const word = r.word();
    switch (word.toLowerCase()) {
      case 'from':
        if (mf.from !== undefined) throw fail(line, 'FROM given twice');
        mf.from = r.value('FROM');
        if (mf.from === '') throw fail(line, 'FROM needs a value');
        break;
      case 'adapter':
        mf.adapters.push(r.value('ADAPTER'));
        break;
      case 'template':
        mf.template = r.value('TEMPLATE');
        break;
      case 'system':
        mf.system = r.value('SYSTEM');
        break;
      case 'license':
        mf.license.push(r.value('LICENSE'));
        break;
      case 'parameter': {
        const key = r.word().toLowerCase();
        if (key === '') throw fail(line, 'PARAMETER needs a name and a value');
        // hasOwn, not `in`: `constructor` and `__proto__` must stay unknown parameters.
        if (!Object.hasOwn(PARAMETER_TYPES, key)) throw fail(line, `unknown parameter '${key}'`);
        const value = typedValue(line, key, r.value(`PARAMETER ${key}`));
        if (PARAMETER_TYPES[key] === 'strings') {
          const list = (mf.parameters[key] as string[] | undefined) ?? [];
          mf.parameters[key] = [...list, value as string];
        } else {
          mf.parameters[key] = value;
        }
        break;
      }
      case 'message': {
        const role = r.word().toLowerCase();
        if (!ROLES.includes(role)) {
          throw fail(line, `MESSAGE role must be system, user or assistant, got '${role}'`);
        }
        mf.messages.push({ role, content: r.value('MESSAGE') });
        break;
      }
      default:
        throw fail(line, `unknown instruction '${word}'`);
    }
    r.endLine();
  }
  if (mf.from === undefined) {
    throw new KilnError('E_MODELFILE', 'Modelfile has no FROM instruction');
  }
  return mf;
}

// Escapes for the quoted forms, the inverse of Reader.quoted: a backslash is
// doubled only where the reader would otherwise take it as an escape (before
// another backslash, a quote, or the closing quote); `"` is escaped in "..." always, and in
// """...""" only in runs that would close the string (three or more, or at the end).
function escapeBackslashes(s: string): string {
  return s.replace(/\\(?=[\\"]|$)/g, '\\\\');
}

function quote(s: string): string {
  return `"${escapeBackslashes(s).replace(/"/g, '\\"')}"`;
}

function tripleQuote(s: string): string {
  const body = escapeBackslashes(s).replace(/"+/g, (run, at: number, all: string) =>
    run.length >= 3 || at + run.length === all.length ? run.replace(/"/g, '\\"') : run,
  );
  return `"""${body}"""`;
}

/** Plain when the reader would give the same text back, otherwise quoted. */
function valueText(s: string): string {
  const plain = s !== '' && !isBlank(s[0]) && !isBlank(s[s.length - 1]) && s[0] !== '"' && !/[\r\n]/.test(s);
  if (plain) return s;
  return /\n/.test(s) ? tripleQuote(s) : quote(s);
}

function scalarText(v: number | boolean | string): string {
  return typeof v === 'string' ? valueText(v) : String(v);
}

/**
 * Render a Modelfile as `ollama show --modelfile` does: a comment header, then
 * FROM, ADAPTER, TEMPLATE, SYSTEM, PARAMETER (one line per stop value),
 * MESSAGE and LICENSE; `name` fills the header's hint. `parseModelfile` reads the result back to an equal value.
 */
export function formatModelfile(mf: Modelfile, name?: string): string {
  const out = ['# Modelfile generated by "kiln show"'];
  if (name !== undefined) {
    out.push('# To build a new Modelfile based on this, replace FROM with:', `# FROM ${name}`);
  }
  out.push('');
  if (mf.from !== undefined) out.push(`FROM ${valueText(mf.from)}`);
  for (const a of mf.adapters) out.push(`ADAPTER ${valueText(a)}`);
  if (mf.template !== undefined) out.push(`TEMPLATE ${tripleQuote(mf.template)}`);
  if (mf.system !== undefined) out.push(`SYSTEM ${tripleQuote(mf.system)}`);
  for (const [key, value] of Object.entries(mf.parameters)) {
    for (const v of Array.isArray(value) ? value : [value]) out.push(`PARAMETER ${key} ${scalarText(v)}`);
  }
  for (const m of mf.messages) out.push(`MESSAGE ${m.role} ${valueText(m.content)}`);
  for (const l of mf.license) out.push(`LICENSE ${tripleQuote(l)}`);
  return out.join('\n') + '\n';
}

/**
 * The `parameters` string of `/api/show`: one `key value` line per value, the
 * key left-aligned in 30 columns (Ollama's `%-30s %v`), stop strings quoted.
 */
export function parametersToText(params: Record<string, ParameterValue>): string {
  const lines: string[] = [];
  for (const [key, value] of Object.entries(params)) {
    if (Array.isArray(value)) {
      for (const v of value) lines.push(`${key.padEnd(30)} ${JSON.stringify(v)}`);
    } else {
      lines.push(`${key.padEnd(30)} ${typeof value === 'string' ? JSON.stringify(value) : String(value)}`);
    }
  }
  return lines.join('\n');
}
