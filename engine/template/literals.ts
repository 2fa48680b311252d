/**
 * Go literal syntax used inside actions: interpreted strings with Go escapes,
 * character constants, and number literals (decimal, 0x/0o/0b, underscores,
 * hex floats). `\x` and octal escapes are raw bytes, so "\xc3\xa9" is "é".
 */

const SIMPLE_ESCAPES: Record<string, number> = {
  a: 7, b: 8, f: 12, n: 10, r: 13, t: 9, v: 11, '\\': 92,
};

/**
 * Decode the body of a quoted literal into bytes. Returns null on a malformed
 * escape. `quote` is the delimiter that may be escaped (Go rejects \' in "…").
 */
function decodeEscapes(body: string, quote: '"' | "'"): number[] | null {
  const bytes: number[] = [];
  const pushCodePoint = (cp: number): boolean => {
    if (cp > 0x10ffff || (cp >= 0xd800 && cp < 0xe000)) return false;
    bytes.push(...Buffer.from(String.fromCodePoint(cp), 'utf8'));
    return true;
  };
  for (let i = 0; i < body.length; ) {
    const c = body[i];
    if (c !== '\\') {
      const cp = body.codePointAt(i)!;
      pushCodePoint(cp);
      i += cp > 0xffff ? 2 : 1;
      continue;
    }
    const e = body[i + 1];
    if (e === undefined) return null;
    if (e in SIMPLE_ESCAPES) {
      bytes.push(SIMPLE_ESCAPES[e]);
      i += 2;
    } else if (e === quote) {
      bytes.push(quote.charCodeAt(0));
      i += 2;
    } else if (e === 'x' || e === 'u' || e === 'U') {
      const n = e === 'x' ? 2 : e === 'u' ? 4 : 8;
      const hex = body.slice(i + 2, i + 2 + n);
      if (!new RegExp(`^[0-9a-fA-F]{${n}}$`).test(hex)) return null;
      const v = parseInt(hex, 16);
      if (e === 'x') bytes.push(v);
      else if (!pushCodePoint(v)) return null;
      i += 2 + n;
    } else if (/[0-7]/.test(e)) {
      const oct = body.slice(i + 1, i + 4);
      if (!/^[0-7]{3}$/.test(oct) || parseInt(oct, 8) > 255) return null;
      bytes.push(parseInt(oct, 8));
      i += 4;
    } else {
      return null;
    }
  }
  return bytes;
}

/** `"…"` → string, or null when the escapes are invalid. */
export function unquoteString(lit: string): string | null {
  const bytes = decodeEscapes(lit.slice(1, -1), '"');
  return bytes === null ? null : Buffer.from(bytes).toString('utf8');
}

/** `'x'` → its code point, or null unless it holds exactly one character. */
export function unquoteChar(lit: string): number | null {
  const body = lit.slice(1, -1);
  if (body.startsWith('\\')) {
    const e = body[1];
    if (e === 'x' || /[0-7]/.test(e ?? '')) {
      const bytes = decodeEscapes(body, "'");
      return bytes !== null && bytes.length === 1 ? bytes[0] : null;
    }
    const bytes = decodeEscapes(body, "'");
    if (bytes === null) return null;
    const s = Buffer.from(bytes).toString('utf8');
    return [...s].length === 1 ? s.codePointAt(0)! : null;
  }
  return [...body].length === 1 ? body.codePointAt(0)! : null;
}

/** Parse a Go number literal; returns an error message string when it is not one. */
export function parseNumber(text: string): number | string {
  if (text.endsWith('i')) return `complex number ${text} is not supported`;
  let s = text;
  let sign = 1;
  if (s[0] === '+' || s[0] === '-') {
    if (s[0] === '-') sign = -1;
    s = s.slice(1);
  }
  const bad = `bad number syntax: ${JSON.stringify(text)}`;
  const prefix = /^0[xXoObB]/.test(s) ? s.slice(0, 2).toLowerCase() : '';
  let digits = s.slice(prefix.length);
  // Underscores may only separate digits (or follow a base prefix).
  const expRe = prefix === '0x' ? /_[pP+-]|[pP][+-]?_/ : /_[eE+-]|[eE][+-]?_/;
  if (/__|_$|_\.|\._/.test(digits) || expRe.test(digits) || (prefix === '' && digits.startsWith('_'))) return bad;
  digits = digits.replace(/_/g, '');
  if (digits === '') return bad;
  let value: number;
  if (prefix === '0x') {
    const m = /^([0-9a-f]*)(?:\.([0-9a-f]*))?(?:p([+-]?\d+))?$/i.exec(digits);
    if (!m || (m[1] === '' && (m[2] ?? '') === '')) return bad;
    if ((m[2] !== undefined || digits.includes('.')) && m[3] === undefined) return bad;
    const frac = m[2] ?? '';
    const mant = parseInt((m[1] || '0') + frac, 16);
    value = mant * 2 ** (parseInt(m[3] ?? '0', 10) - 4 * frac.length);
  } else if (prefix === '0o' || prefix === '0b') {
    const re = prefix === '0o' ? /^[0-7]+$/ : /^[01]+$/;
    if (!re.test(digits)) return bad;
    value = parseInt(digits, prefix === '0o' ? 8 : 2);
  } else {
    if (!/^(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(digits)) return bad;
    // A leading 0 without '.', 'e' means octal in Go ("0755").
    if (/^0\d+$/.test(digits)) {
      if (!/^[0-7]+$/.test(digits)) return bad;
      value = parseInt(digits, 8);
    } else {
      value = Number(digits);
    }
  }
  if (!Number.isFinite(value)) return `number ${text} out of range`;
  return sign * value;
}
