/**
 * The subset of Go's fmt that `print`, `println` and `printf` need: verbs
 * %v %+v %s %q %d %b %o %x %X %c %U %e %E %f %F %g %G %t %T %%, flags
 * `+ - # 0 space`, width and precision (also `*`), and Go's in-band errors
 * (`%!d(string=hi)`, `%!s(MISSING)`, `%!(EXTRA int=1)`). Widths and
 * precisions above 1e6 are `%!(BADWIDTH)`/`%!(BADPREC)` as in Go, which also
 * keeps a template from asking for a gigabyte of padding.
 */
import { formatFloat, formatValue, kindOf, STRINGER, typeName } from './values.js';

const MAX_WIDTH = 1e6;

/** fmt.Sprint: a space between operands when neither is a string. */
export function sprint(args: unknown[]): string {
  let out = '';
  args.forEach((a, i) => {
    if (i > 0 && typeof a !== 'string' && typeof args[i - 1] !== 'string') out += ' ';
    out += formatValue(a);
  });
  return out;
}

/** fmt.Sprintln: spaces between all operands and a trailing newline. */
export function sprintln(args: unknown[]): string {
  return args.map((a) => formatValue(a)).join(' ') + '\n';
}

interface Spec {
  minus: boolean;
  plus: boolean;
  sharp: boolean;
  space: boolean;
  zero: boolean;
  width: number | null;
  prec: number | null;
}

export function sprintf(format: string, args: unknown[]): string {
  let out = '';
  let argi = 0;
  let i = 0;
  while (i < format.length) {
    const pct = format.indexOf('%', i);
    if (pct < 0) {
      out += format.slice(i);
      break;
    }
    out += format.slice(i, pct);
    i = pct + 1;
    const spec: Spec = { minus: false, plus: false, sharp: false, space: false, zero: false, width: null, prec: null };
    for (; i < format.length; i++) {
      const f = format[i];
      if (f === '-') spec.minus = true;
      else if (f === '+') spec.plus = true;
      else if (f === '#') spec.sharp = true;
      else if (f === ' ') spec.space = true;
      else if (f === '0') spec.zero = true;
      else break;
    }
    // Width.
    if (format[i] === '*') {
      i++;
      const w = args[argi++];
      if (!Number.isSafeInteger(w) || Math.abs(w as number) > MAX_WIDTH) out += '%!(BADWIDTH)';
      else {
        spec.width = Math.abs(w as number);
        if ((w as number) < 0) spec.minus = true;
      }
    } else {
      const m = /^\d+/.exec(format.slice(i));
      if (m) {
        i += m[0].length;
        const w = Number(m[0]);
        if (w > MAX_WIDTH) out += '%!(BADWIDTH)';
        else spec.width = w;
      }
    }
    // Precision.
    if (format[i] === '.') {
      i++;
      if (format[i] === '*') {
        i++;
        const p = args[argi++];
        if (!Number.isSafeInteger(p) || (p as number) < 0 || (p as number) > MAX_WIDTH) out += '%!(BADPREC)';
        else spec.prec = p as number;
      } else {
        const m = /^\d*/.exec(format.slice(i))!;
        i += m[0].length;
        const p = Number(m[0] || '0');
        if (p > MAX_WIDTH) out += '%!(BADPREC)';
        else spec.prec = p;
      }
    }
    if (i >= format.length) {
      out += '%!(NOVERB)';
      break;
    }
    const verb = String.fromCodePoint(format.codePointAt(i)!);
    i += verb.length;
    if (verb === '%') {
      out += '%';
      continue;
    }
    if (argi >= args.length) {
      out += `%!${verb}(MISSING)`;
      continue;
    }
    out += formatArg(verb, spec, args[argi++]);
  }
  if (argi < args.length) {
    out += `%!(EXTRA ${args.slice(argi).map((a) => `${typeName(a)}=${formatValue(a)}`).join(', ')})`;
  }
  return out;
}

function badVerb(verb: string, v: unknown): string {
  const k = kindOf(v);
  if (k === 'invalid' || k === 'nil') return `%!${verb}(<nil>)`;
  return `%!${verb}(${typeName(v)}=${formatValue(v)})`;
}

function pad(s: string, spec: Spec, numeric: boolean): string {
  if (spec.width === null) return s;
  const len = [...s].length;
  if (len >= spec.width) return s;
  const fill = spec.width - len;
  if (spec.minus) return s + ' '.repeat(fill);
  if (spec.zero) {
    // Zero padding goes after the sign of a number.
    const sign = numeric && /^[+\- ]/.test(s) ? s[0] : '';
    return sign + '0'.repeat(fill) + s.slice(sign.length);
  }
  return ' '.repeat(fill) + s;
}

function signed(body: string, negative: boolean, spec: Spec): string {
  if (negative) return '-' + body;
  if (spec.plus) return '+' + body;
  if (spec.space) return ' ' + body;
  return body;
}

function formatArg(verb: string, spec: Spec, v: unknown): string {
  const k = kindOf(v);
  const hasString = typeof v === 'object' && v !== null && STRINGER in v;
  switch (verb) {
    case 'v':
      return pad(k === 'float' ? signed(formatFloat(Math.abs(v as number)), (v as number) < 0, spec) : formatValue(v, spec.plus), spec, k === 'int' || k === 'float');
    case 's':
      if (k === 'string' || hasString || k === 'slice' || k === 'map' || k === 'struct') {
        let s = formatValue(v);
        if (spec.prec !== null) s = [...s].slice(0, spec.prec).join('');
        return pad(s, spec, false);
      }
      return badVerb(verb, v);
    case 'q':
      if (k === 'string' || hasString) {
        let s = formatValue(v);
        if (spec.prec !== null) s = [...s].slice(0, spec.prec).join('');
        return pad(goQuote(s, '"'), spec, false);
      }
      if (k === 'int') return pad(goQuote(String.fromCodePoint(v as number), "'"), spec, false);
      return badVerb(verb, v);
    case 't':
      return k === 'bool' ? pad(String(v), spec, false) : badVerb(verb, v);
    case 'T':
      return pad(typeName(v), spec, false);
    case 'c':
      return k === 'int' ? pad(String.fromCodePoint(v as number), spec, false) : badVerb(verb, v);
    case 'U':
      if (k !== 'int') return badVerb(verb, v);
      return pad('U+' + (v as number).toString(16).toUpperCase().padStart(4, '0'), spec, false);
    case 'd':
    case 'b':
    case 'o':
    case 'O':
    case 'x':
    case 'X':
      if (k === 'int') return pad(formatInteger(verb, spec, v as number), spec, true);
      if (k === 'string' && (verb === 'x' || verb === 'X')) {
        const hex = Buffer.from(v as string, 'utf8').toString('hex');
        return pad(verb === 'X' ? hex.toUpperCase() : hex, spec, false);
      }
      return badVerb(verb, v);
    case 'e':
    case 'E':
    case 'f':
    case 'F':
    case 'g':
    case 'G':
      // Lenient where Go is strict: a JSON number that happens to be integral is still a number here.
      if (k === 'int' || k === 'float') return pad(formatFloatVerb(verb, spec, Number(v)), spec, true);
      return badVerb(verb, v);
    default:
      return badVerb(verb, v);
  }
}

function formatInteger(verb: string, spec: Spec, n: number): string {
  const base = verb === 'd' ? 10 : verb === 'b' ? 2 : verb === 'o' || verb === 'O' ? 8 : 16;
  let digits = Math.abs(n).toString(base);
  if (verb === 'X') digits = digits.toUpperCase();
  if (spec.prec !== null) digits = spec.prec === 0 && n === 0 ? '' : digits.padStart(spec.prec, '0');
  let prefix = '';
  if (verb === 'O' || (spec.sharp && verb === 'o' && !digits.startsWith('0'))) prefix = verb === 'O' ? '0o' : '0';
  if (spec.sharp && verb === 'x') prefix = '0x';
  if (spec.sharp && verb === 'X') prefix = '0X';
  if (spec.sharp && verb === 'b') prefix = '0b';
  return signed(prefix + digits, n < 0, spec);
}

function expForm(mantissa: string, exp: number, e: string): string {
  return `${mantissa}${e}${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
}

function formatFloatVerb(verb: string, spec: Spec, n: number): string {
  if (!Number.isFinite(n)) {
    // Go keeps the sign of an infinity and drops it from NaN.
    return Number.isNaN(n) ? 'NaN' : n > 0 ? '+Inf' : '-Inf';
  }
  const neg = n < 0 || Object.is(n, -0);
  const a = Math.abs(n);
  const lower = verb.toLowerCase();
  let body: string;
  if (lower === 'f') {
    body = a.toFixed(Math.min(spec.prec ?? 6, 100));
  } else if (lower === 'e') {
    const [m, x] = a.toExponential(Math.min(spec.prec ?? 6, 100)).split('e');
    body = expForm(m, Number(x), 'e');
  } else if (spec.prec === null) {
    body = formatFloat(a);
  } else {
    const p = Math.max(1, Math.min(spec.prec, 100));
    const [m, x] = a.toExponential(p - 1).split('e');
    const exp = Number(x);
    if (exp < -4 || exp >= p) {
      body = expForm(spec.sharp ? m : m.replace(/\.?0+$/, ''), exp, 'e');
    } else {
      body = a.toFixed(Math.max(0, p - 1 - exp));
      if (!spec.sharp && body.includes('.')) body = body.replace(/\.?0+$/, '');
    }
  }
  if (verb === 'E' || verb === 'G') body = body.toUpperCase();
  return signed(body, neg, spec);
}

/** strconv.Quote / QuoteRune: Go escapes, printable Unicode kept as is. */
export function goQuote(s: string, quote: '"' | "'"): string {
  let out = quote;
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    switch (ch) {
      case '\x07': out += '\\a'; continue;
      case '\b': out += '\\b'; continue;
      case '\f': out += '\\f'; continue;
      case '\n': out += '\\n'; continue;
      case '\r': out += '\\r'; continue;
      case '\t': out += '\\t'; continue;
      case '\v': out += '\\v'; continue;
      case '\\': out += '\\\\'; continue;
    }
    if (ch === quote) out += '\\' + ch;
    else if (ch === ' ' || /[\p{L}\p{M}\p{N}\p{P}\p{S}]/u.test(ch)) out += ch;
    else if (cp < 0x80) out += '\\x' + cp.toString(16).padStart(2, '0');
    else if (cp <= 0xffff) out += '\\u' + cp.toString(16).padStart(4, '0');
    else out += '\\U' + cp.toString(16).padStart(8, '0');
  }
  return out + quote;
}

