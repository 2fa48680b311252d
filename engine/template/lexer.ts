/**
 * Lexer for Go text/template source.
 *
 * Text outside `{{ }}` becomes `text` tokens; inside an action the lexer emits
 * operands and punctuation. The trim markers are handled here, as Go does:
 * `{{- ` (dash followed by ASCII white space) drops the white space that ends
 * the preceding text, ` -}}` drops the white space that starts the following
 * text. `{{-3}}` is therefore the number -3, not a trim marker. A comment
 * opens with `{{/*` (or `{{- /*`), closes with the mirror image, and must fill
 * the whole action. New lines are allowed inside actions (Go ≥ 1.16), which
 * multi-line templates such as Granite's rely on.
 */
import { templateError } from './position.js';

export type TokenType =
  | 'text'
  | 'leftDelim'
  | 'rightDelim'
  | 'space'
  | 'identifier'
  | 'keyword'
  | 'field'
  | 'variable'
  | 'dot'
  | 'string'
  | 'rawString'
  | 'char'
  | 'number'
  | 'bool'
  | 'nil'
  | 'pipe'
  | 'leftParen'
  | 'rightParen'
  | 'declare'
  | 'assign'
  | 'comma'
  | 'eof';

export interface Token {
  type: TokenType;
  /** Source text of the token (for text tokens: after trimming). */
  value: string;
  /** Offset of the token's first character in the template source. */
  pos: number;
}

export const KEYWORDS = new Set([
  'block', 'break', 'continue', 'define', 'else', 'end', 'if', 'range', 'template', 'with',
]);

const TRIM_SPACE = ' \t\r\n';
const isTrimSpace = (c: string | undefined): boolean => c !== undefined && TRIM_SPACE.includes(c);
const isAlnum = (c: string | undefined): boolean => c !== undefined && /[\p{L}\p{Nd}_]/u.test(c);

/** Tokenize the whole template. Throws E_TEMPLATE with line:col on lexical errors. */
export function lex(src: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  let trimNextText = false;

  while (i <= src.length) {
    // Text up to the next left delimiter.
    let open = src.indexOf('{{', i);
    if (open < 0) open = src.length;
    let textStart = i;
    if (trimNextText) {
      while (textStart < open && isTrimSpace(src[textStart])) textStart++;
      trimNextText = false;
    }
    let textEnd = open;
    const leftTrim = open < src.length && src[open + 2] === '-' && isTrimSpace(src[open + 3]);
    if (leftTrim) while (textEnd > textStart && isTrimSpace(src[textEnd - 1])) textEnd--;
    if (textEnd > textStart) out.push({ type: 'text', value: src.slice(textStart, textEnd), pos: textStart });
    if (open >= src.length) break;

    // Inside an action.
    let p = open + 2 + (leftTrim ? 2 : 0);
    if (src.startsWith('/*', p)) {
      const close = src.indexOf('*/', p + 2);
      if (close < 0) throw templateError(src, open, 'unclosed comment');
      let q = close + 2;
      let rightTrim = false;
      if (isTrimSpace(src[q]) && src[q + 1] === '-' && src.startsWith('}}', q + 2)) {
        rightTrim = true;
        q += 2;
      }
      if (!src.startsWith('}}', q)) throw templateError(src, close, 'comment ends before closing delimiter');
      i = q + 2;
      trimNextText = rightTrim;
      continue;
    }
    out.push({ type: 'leftDelim', value: '{{', pos: open });
    const r = lexAction(src, p, out);
    i = r.end;
    trimNextText = r.rightTrim;
  }
  out.push({ type: 'eof', value: '', pos: src.length });
  return out;
}

/** Lex from `p` (just after `{{` and any trim marker) through the closing `}}`. */
function lexAction(src: string, p: number, out: Token[]): { end: number; rightTrim: boolean } {
  let parens = 0;
  const push = (type: TokenType, start: number, end: number): void => {
    out.push({ type, value: src.slice(start, end), pos: start });
  };
  for (;;) {
    if (p >= src.length) throw templateError(src, p, 'unclosed action');
    const c = src[p];
    // Right delimiter, possibly with its trim marker.
    if (isTrimSpace(c) && src[p + 1] === '-' && src.startsWith('}}', p + 2)) {
      if (parens > 0) throw templateError(src, p, 'unclosed left paren');
      out.push({ type: 'rightDelim', value: '}}', pos: p + 2 });
      return { end: p + 4, rightTrim: true };
    }
    if (src.startsWith('}}', p)) {
      if (parens > 0) throw templateError(src, p, 'unclosed left paren');
      out.push({ type: 'rightDelim', value: '}}', pos: p });
      return { end: p + 2, rightTrim: false };
    }
    const start = p;
    if (isTrimSpace(c)) {
      // Stop before a space that starts the " -}}" marker.
      while (p < src.length && isTrimSpace(src[p]) && !(src[p + 1] === '-' && src.startsWith('}}', p + 2))) p++;
      push('space', start, p);
      continue;
    }
    switch (c) {
      case '=':
        push('assign', p, ++p);
        continue;
      case ':':
        if (src[p + 1] !== '=') throw templateError(src, p, 'expected :=');
        p += 2;
        push('declare', start, p);
        continue;
      case '|':
        push('pipe', p, ++p);
        continue;
      case ',':
        push('comma', p, ++p);
        continue;
      case '(':
        parens++;
        push('leftParen', p, ++p);
        continue;
      case ')':
        if (--parens < 0) throw templateError(src, p, 'unexpected right paren');
        push('rightParen', p, ++p);
        continue;
      case '"':
        p = scanQuoted(src, p, '"', 'unterminated quoted string');
        push('string', start, p);
        continue;
      case "'":
        p = scanQuoted(src, p, "'", 'unterminated character constant');
        push('char', start, p);
        continue;
      case '`': {
        const close = src.indexOf('`', p + 1);
        if (close < 0) throw templateError(src, p, 'unterminated raw quoted string');
        p = close + 1;
        push('rawString', start, p);
        continue;
      }
      case '$':
        p++;
        while (isAlnum(src[p])) p++;
        push('variable', start, p);
        checkTerminator(src, p);
        continue;
      case '.':
        if (/[0-9]/.test(src[p + 1] ?? '')) break; // a number such as .5
        p++;
        if (!isAlnum(src[p])) {
          push('dot', start, p);
          continue;
        }
        while (isAlnum(src[p])) p++;
        push('field', start, p);
        checkTerminator(src, p);
        continue;
    }
    if (c === '+' || c === '-' || c === '.' || /[0-9]/.test(c)) {
      p = scanNumber(src, p);
      push('number', start, p);
      continue;
    }
    if (isAlnum(c)) {
      while (isAlnum(src[p])) p++;
      const word = src.slice(start, p);
      const type: TokenType = KEYWORDS.has(word)
        ? 'keyword'
        : word === 'true' || word === 'false'
          ? 'bool'
          : word === 'nil'
            ? 'nil'
            : 'identifier';
      push(type, start, p);
      checkTerminator(src, p);
      continue;
    }
    throw templateError(src, p, `unrecognized character in action: ${JSON.stringify(c)}`);
  }
}

/** Go requires a word to end at space, punctuation that can follow an operand, or the delimiter. */
function checkTerminator(src: string, p: number): void {
  const c = src[p];
  if (c === undefined || isTrimSpace(c) || '.,|:)('.includes(c) || src.startsWith('}}', p)) return;
  throw templateError(src, p, `bad character ${JSON.stringify(c)}`);
}

function scanQuoted(src: string, p: number, quote: string, unterminated: string): number {
  const start = p++;
  for (;;) {
    const c = src[p];
    if (c === undefined || c === '\n') throw templateError(src, start, unterminated);
    if (c === '\\') {
      p += 2;
      continue;
    }
    p++;
    if (c === quote) return p;
  }
}

/** Scan the longest run that can belong to a Go number literal; the parser validates it. */
function scanNumber(src: string, p: number): number {
  const start = p;
  if (src[p] === '+' || src[p] === '-') p++;
  let digits = /[0-9_]/;
  let exp = /[eE]/;
  if (src[p] === '0' && /[xXoObB]/.test(src[p + 1] ?? '')) {
    const base = src[p + 1].toLowerCase();
    digits = base === 'x' ? /[0-9a-fA-F_]/ : base === 'o' ? /[0-7_]/ : /[01_]/;
    exp = base === 'x' ? /[pP]/ : /$^/;
    p += 2;
  }
  while (digits.test(src[p] ?? '')) p++;
  if (src[p] === '.') {
    p++;
    while (digits.test(src[p] ?? '')) p++;
  }
  if (exp.test(src[p] ?? '')) {
    p++;
    if (src[p] === '+' || src[p] === '-') p++;
    while (/[0-9_]/.test(src[p] ?? '')) p++;
  }
  if (src[p] === 'i') p++;
  if (p === start || isAlnum(src[p]) || (p === start + 1 && (src[start] === '+' || src[start] === '-'))) {
    while (isAlnum(src[p])) p++;
    throw templateError(src, start, `bad number syntax: ${JSON.stringify(src.slice(start, p))}`);
  }
  return p;
}
