/**
 * The functions a template can call: Go's text/template builtins plus
 * Ollama's additions (`json`, `currentDate`, `yesterdayDate`,
 * `toTypeScriptType`). `and` and `or`
 * are listed here for the parser but evaluated lazily by the executor, since
 * Go stops evaluating arguments once the result is known.
 */
import { sprint, sprintf, sprintln } from './printf.js';
import { compareStrings, goJSON, JSONError, kindOf, structType, truth, typeName } from './values.js';

/** A builtin failed; the executor adds the position and "error calling NAME:". */
export class FuncError extends Error {}

export interface FuncContext {
  now: () => Date;
}

export interface TemplateFunc {
  minArgs: number;
  maxArgs: number;
  call: (args: unknown[], ctx: FuncContext) => unknown;
}

const fn = (minArgs: number, maxArgs: number, call: TemplateFunc['call']): TemplateFunc => ({ minArgs, maxArgs, call });

/** What html/js/urlquery escape: the single string argument, else Sprint of all of them. */
function evalArgs(args: unknown[]): string {
  return args.length === 1 && typeof args[0] === 'string' ? args[0] : sprint(args);
}

const utf8 = (s: string): Buffer => Buffer.from(s, 'utf8');

function toIndex(v: unknown, what: string): number {
  if (kindOf(v) !== 'int') throw new FuncError(`cannot index ${what} with type ${typeName(v)}`);
  return Number(v);
}

function index(item: unknown, indexes: unknown[]): unknown {
  let cur = item;
  for (const ix of indexes) {
    const k = kindOf(cur);
    if (k === 'invalid' || k === 'nil') throw new FuncError('index of untyped nil');
    if (k === 'slice' || k === 'string') {
      const seq = k === 'string' ? utf8(cur as string) : (cur as unknown[]);
      const i = toIndex(ix, k === 'string' ? 'string' : 'slice');
      if (i < 0 || i >= seq.length) throw new FuncError(`index out of range: ${i}`);
      cur = seq[i];
    } else if (k === 'map') {
      if (typeof ix !== 'string') throw new FuncError(`value has type ${typeName(ix)}; should be string`);
      cur = Object.prototype.hasOwnProperty.call(cur, ix) ? (cur as Record<string, unknown>)[ix] : undefined;
    } else {
      throw new FuncError(`can't index item of type ${typeName(cur)}`);
    }
  }
  return cur;
}

function slice(item: unknown, indexes: unknown[]): unknown {
  const k = kindOf(item);
  if (k === 'invalid' || k === 'nil') throw new FuncError('slice of untyped nil');
  if (k !== 'string' && k !== 'slice') throw new FuncError(`can't slice item of type ${typeName(item)}`);
  if (indexes.length > 3) throw new FuncError(`too many slice indexes: ${indexes.length}`);
  if (k === 'string' && indexes.length > 2) throw new FuncError('cannot 3-index slice a string');
  const seq = k === 'string' ? utf8(item as string) : (item as unknown[]);
  const cap = seq.length;
  const ix = [0, cap, cap];
  indexes.forEach((v, n) => {
    const i = toIndex(v, 'slice');
    if (i < 0 || i > cap) throw new FuncError(`index out of range: ${i}`);
    ix[n] = i;
  });
  if (indexes.length < 2) ix[1] = cap;
  if (ix[0] > ix[1]) throw new FuncError(`invalid slice index: ${ix[0]} > ${ix[1]}`);
  if (indexes.length === 3 && ix[1] > ix[2]) throw new FuncError(`invalid slice index: ${ix[1]} > ${ix[2]}`);
  return k === 'string' ? (seq as Buffer).subarray(ix[0], ix[1]).toString('utf8') : (seq as unknown[]).slice(ix[0], ix[1]);
}

function length(v: unknown): number {
  switch (kindOf(v)) {
    case 'string':
      return utf8(v as string).length;
    case 'slice':
      return (v as unknown[]).length;
    case 'map':
      return Object.keys(v as object).length;
    case 'invalid':
    case 'nil':
      throw new FuncError('len of nil pointer');
    default:
      throw new FuncError(`len of type ${typeName(v)}`);
  }
}

type Basic = 'bool' | 'number' | 'string';

/** Go compares ints and floats as different kinds; JavaScript has one number type, so they are one kind here. */
function basic(v: unknown): Basic | null {
  const k = kindOf(v);
  if (k === 'bool') return 'bool';
  if (k === 'int' || k === 'float') return 'number';
  if (k === 'string') return 'string';
  return null;
}

const isNil = (v: unknown): boolean => v === undefined || v === null;

function eq(a: unknown, others: unknown[]): boolean {
  for (const b of others) {
    const ka = basic(a);
    const kb = basic(b);
    let same: boolean;
    if (ka !== null || kb !== null) {
      if (ka !== kb) {
        if (!isNil(a) && !isNil(b)) throw new FuncError('incompatible types for comparison');
        same = false;
      } else {
        same = a === b;
      }
    } else if (isNil(a) || isNil(b)) {
      same = isNil(a) === isNil(b);
    } else {
      const k = kindOf(a) === 'slice' || kindOf(a) === 'map' ? a : b;
      if (kindOf(k) === 'slice' || kindOf(k) === 'map') throw new FuncError(`non-comparable type ${typeName(k)}`);
      same = a === b;
    }
    if (same) return true;
  }
  return false;
}

function less(a: unknown, b: unknown): boolean {
  const ka = basic(a);
  const kb = basic(b);
  if (ka === null || kb === null || ka === 'bool' || kb === 'bool') throw new FuncError('invalid type for comparison');
  if (ka !== kb) throw new FuncError('incompatible types for comparison');
  return ka === 'string' ? compareStrings(a as string, b as string) < 0 : (a as number) < (b as number);
}

function htmlEscape(s: string): string {
  return s.replace(/[\0"'&<>]/g, (c) =>
    c === '\0' ? '\uFFFD' : c === '"' ? '&#34;' : c === "'" ? '&#39;' : c === '&' ? '&amp;' : c === '<' ? '&lt;' : '&gt;',
  );
}

function jsEscape(s: string): string {
  let out = '';
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    switch (ch) {
      case '\\': out += '\\\\'; continue;
      case "'": out += "\\'"; continue;
      case '"': out += '\\"'; continue;
      case '<': out += '\\u003C'; continue;
      case '>': out += '\\u003E'; continue;
      case '&': out += '\\u0026'; continue;
      case '=': out += '\\u003D'; continue;
    }
    const printable = cp >= 0x20 && (cp < 0x7f || /[\p{L}\p{M}\p{N}\p{P}\p{S}]/u.test(ch));
    out += printable ? ch : '\\u' + cp.toString(16).toUpperCase().padStart(4, '0');
  }
  return out;
}

function queryEscape(s: string): string {
  let out = '';
  for (const byte of utf8(s)) {
    const c = String.fromCharCode(byte);
    if (/[A-Za-z0-9\-_.~]/.test(c)) out += c;
    else if (c === ' ') out += '+';
    else out += '%' + byte.toString(16).toUpperCase().padStart(2, '0');
  }
  return out;
}

function isoDate(d: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}`;
}

/** A JSON-schema type as a TypeScript type (Ollama's mapping for gpt-oss's tool namespace). */
function tsTypeOf(jsonType: unknown): string {
  switch (jsonType) {
    case 'string':
    case 'boolean':
    case 'null':
      return jsonType;
    case 'number':
    case 'integer':
      return 'number';
    case 'array':
      return 'any[]';
    case 'object':
      return 'Record<string, any>';
    default:
      return 'any';
  }
}

/**
 * Ollama's `toTypeScriptType`: a tool parameter's type written the way
 * gpt-oss's template lists tools — the alternatives of `anyOf`, else the
 * JSON-schema type (several joined by " | "), else `any`. Anything that is
 * not a tool parameter (api.ToolProperty) is `any`.
 */
function toTypeScriptType(v: unknown): string {
  if (structType(v)?.name !== 'api.ToolProperty') return 'any';
  const p = v as { AnyOf?: unknown[]; Type?: unknown[] };
  if (p.AnyOf && p.AnyOf.length > 0) return p.AnyOf.map(toTypeScriptType).join(' | ');
  const types = p.Type ?? [];
  return types.length === 0 ? 'any' : types.map(tsTypeOf).join(' | ');
}

const ANY = Number.POSITIVE_INFINITY;

export const BUILTINS: Readonly<Record<string, TemplateFunc>> = {
  and: fn(1, ANY, () => undefined), // evaluated lazily by the executor
  or: fn(1, ANY, () => undefined), // evaluated lazily by the executor
  not: fn(1, 1, ([v]) => !truth(v)),
  len: fn(1, 1, ([v]) => length(v)),
  index: fn(1, ANY, ([item, ...ix]) => index(item, ix)),
  slice: fn(1, ANY, ([item, ...ix]) => slice(item, ix)),
  eq: fn(1, ANY, ([a, ...rest]) => {
    if (rest.length === 0) throw new FuncError('missing argument for comparison');
    return eq(a, rest);
  }),
  ne: fn(2, 2, ([a, b]) => !eq(a, [b])),
  lt: fn(2, 2, ([a, b]) => less(a, b)),
  le: fn(2, 2, ([a, b]) => less(a, b) || eq(a, [b])),
  gt: fn(2, 2, ([a, b]) => !less(a, b) && !eq(a, [b])),
  ge: fn(2, 2, ([a, b]) => !less(a, b)),
  print: fn(0, ANY, (args) => sprint(args)),
  printf: fn(1, ANY, ([format, ...args]) => {
    if (typeof format !== 'string') throw new FuncError(`wrong type for value; expected string; got ${typeName(format)}`);
    return sprintf(format, args);
  }),
  println: fn(0, ANY, (args) => sprintln(args)),
  html: fn(0, ANY, (args) => htmlEscape(evalArgs(args))),
  js: fn(0, ANY, (args) => jsEscape(evalArgs(args))),
  urlquery: fn(0, ANY, (args) => queryEscape(evalArgs(args))),
  call: fn(1, ANY, ([f, ...args]) => {
    if (typeof f !== 'function') throw new FuncError(`non-function of type ${typeName(f)}`);
    return f(...args);
  }),
  // Ollama: json.Marshal, whose error is dropped (an unencodable value renders as "").
  json: fn(1, 1, ([v]) => {
    try {
      return goJSON(v);
    } catch (e) {
      if (e instanceof JSONError) return '';
      throw e;
    }
  }),
  // Ollama: today's local date as YYYY-MM-DD; a format argument is accepted and ignored, as Ollama does.
  currentDate: fn(0, ANY, (_args, ctx) => isoDate(ctx.now())),
  yesterdayDate: fn(0, ANY, (_args, ctx) => {
    const d = ctx.now();
    return isoDate(new Date(d.getFullYear(), d.getMonth(), d.getDate() - 1));
  }),
  toTypeScriptType: fn(1, 1, ([v]) => toTypeScriptType(v)),
};

export const isBuiltin = (name: string): boolean => Object.prototype.hasOwnProperty.call(BUILTINS, name);
