/**
 * The per-code-point facts llama.cpp's WordPiece pre-processing asks for,
 * derived from the Unicode tables built into the JS engine:
 * - the general-category class (control, mark, punctuation, symbol) and a
 *   fixed white-space set (Unicode's White_Space property);
 * - "NFD" as llama.cpp does it: one code point becomes only the *first* code
 *   point of its canonical decomposition (é → e, 가 → ᄀ), the rest dropped;
 * - lower case as Unicode's simple one-to-one mapping (İ → i, not i̇).
 * Unassigned code points (Cn) are none of these and count as word characters;
 * so do the few that Unicode assigned after llama.cpp's tables were made.
 * Answers are cached per code point, so the regexes run once per character.
 */

export const CharFlag = {
  WHITESPACE: 1,
  CONTROL: 2,
  MARK: 4,
  PUNCTUATION: 8,
  SYMBOL: 16,
} as const;

const MAX_CODEPOINT = 0x10ffff;
const COMPUTED = 0x80;

/** Unicode White_Space: the set llama.cpp's tables list. */
const WHITESPACE = new Set<number>([
  0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x20, 0x85, 0xa0, 0x1680,
  0x2000, 0x2001, 0x2002, 0x2003, 0x2004, 0x2005, 0x2006, 0x2007, 0x2008, 0x2009, 0x200a,
  0x2028, 0x2029, 0x202f, 0x205f, 0x3000,
]);

const CONTROL_RE = /^[\p{Cc}\p{Cf}\p{Co}\p{Cs}]$/u;
const MARK_RE = /^\p{M}$/u;
const PUNCT_RE = /^\p{P}$/u;
const SYMBOL_RE = /^\p{S}$/u;

/**
 * Characters that Unicode assigned after the version llama.cpp's tables were
 * generated from (16.0 and 17.0 additions), restricted to those whose class,
 * case or decomposition would change tokenization: llama.cpp still treats
 * them as unassigned, so kiln does too whatever the JS engine knows. The
 * exhaustive comparison with llama.cpp's unicode-data.cpp in the tests keeps
 * this list exact.
 */
const NEWER_THAN_LLAMA_TABLES: ReadonlyArray<readonly [number, number]> = [
  [0x897, 0x897], [0x1acf, 0x1add], [0x1ae0, 0x1aeb], [0x1b4e, 0x1b4f], [0x1b7f, 0x1b7f], [0x1c89, 0x1c89],
  [0x20c1, 0x20c1], [0x2427, 0x2429], [0x2b96, 0x2b96], [0x31e4, 0x31e5], [0xa7cb, 0xa7cc], [0xa7ce, 0xa7ce],
  [0xa7d2, 0xa7d2], [0xa7d4, 0xa7d4], [0xa7da, 0xa7da], [0xa7dc, 0xa7dc], [0xfbc3, 0xfbd2], [0xfd90, 0xfd91],
  [0xfdc8, 0xfdce], [0x105c9, 0x105c9], [0x105e4, 0x105e4], [0x10d50, 0x10d65], [0x10d69, 0x10d6e], [0x10d8e, 0x10d8f],
  [0x10ed0, 0x10ed8], [0x10efa, 0x10efc], [0x11383, 0x11383], [0x11385, 0x11385], [0x1138e, 0x1138e],
  [0x11391, 0x11391], [0x113b8, 0x113c0], [0x113c2, 0x113c2], [0x113c5, 0x113c5], [0x113c7, 0x113ca], [0x113cc, 0x113d0],
  [0x113d2, 0x113d2], [0x113d4, 0x113d5], [0x113d7, 0x113d8], [0x113e1, 0x113e2], [0x11b60, 0x11b67],
  [0x11be1, 0x11be1], [0x11f5a, 0x11f5a], [0x1611e, 0x1612f], [0x16d68, 0x16d6a], [0x16d6d, 0x16d6f], [0x16ea0, 0x16eb8],
  [0x1cc00, 0x1ccef], [0x1ccfa, 0x1ccfc], [0x1cd00, 0x1ceb3], [0x1ceba, 0x1ced0], [0x1cee0, 0x1cef0],
  [0x1e5ee, 0x1e5ef], [0x1e5ff, 0x1e5ff], [0x1e6e3, 0x1e6e3], [0x1e6e6, 0x1e6e6], [0x1e6ee, 0x1e6ef], [0x1e6f5, 0x1e6f5],
  [0x1f6d8, 0x1f6d8], [0x1f777, 0x1f77a], [0x1f8b2, 0x1f8bb], [0x1f8c0, 0x1f8c1], [0x1f8d0, 0x1f8d8],
  [0x1fa54, 0x1fa57], [0x1fa89, 0x1fa8a], [0x1fa8e, 0x1fa8f], [0x1fabe, 0x1fabe], [0x1fac6, 0x1fac6], [0x1fac8, 0x1fac8],
  [0x1facd, 0x1facd], [0x1fadc, 0x1fadc], [0x1fadf, 0x1fadf], [0x1fae9, 0x1faea], [0x1faef, 0x1faef],
  [0x1fbcb, 0x1fbef], [0x1fbfa, 0x1fbfa]
];

/** Whether llama.cpp's tables lack `cp` (binary search over the ranges above). */
export function unknownToLlamaTables(cp: number): boolean {
  let lo = 0;
  let hi = NEWER_THAN_LLAMA_TABLES.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const [first, last] = NEWER_THAN_LLAMA_TABLES[mid];
    if (cp < first) hi = mid - 1;
    else if (cp > last) lo = mid + 1;
    else return true;
  }
  return false;
}

let flagCache: Uint8Array | undefined;

/** The CharFlag bits of code point `cp`. */
export function charFlags(cp: number): number {
  if (cp < 0 || cp > MAX_CODEPOINT) return 0;
  flagCache ??= new Uint8Array(MAX_CODEPOINT + 1);
  const cached = flagCache[cp];
  if (cached !== 0) return cached & ~COMPUTED;
  // Surrogate code points are category Cs; a JS string of one cannot be
  // tested against \p{Cs} with the u flag, so they are answered directly.
  let f = 0;
  if (cp >= 0xd800 && cp <= 0xdfff) {
    f = CharFlag.CONTROL;
  } else if (!unknownToLlamaTables(cp)) {
    const s = String.fromCodePoint(cp);
    if (WHITESPACE.has(cp)) f |= CharFlag.WHITESPACE;
    if (CONTROL_RE.test(s)) f |= CharFlag.CONTROL;
    else if (MARK_RE.test(s)) f |= CharFlag.MARK;
    else if (PUNCT_RE.test(s)) f |= CharFlag.PUNCTUATION;
    else if (SYMBOL_RE.test(s)) f |= CharFlag.SYMBOL;
  }
  flagCache[cp] = f | COMPUTED;
  return f;
}

const nfdCache = new Map<number, number>();

/** The first code point of `cp`'s canonical decomposition (`cp` itself when it has none). */
export function nfdFirst(cp: number): number {
  if (cp < 0xc0 || (cp >= 0xd800 && cp <= 0xdfff) || cp > MAX_CODEPOINT) return cp;
  let r = nfdCache.get(cp);
  if (r === undefined) {
    r = unknownToLlamaTables(cp) ? cp : String.fromCodePoint(cp).normalize('NFD').codePointAt(0)!;
    nfdCache.set(cp, r);
  }
  return r;
}

const lowerCache = new Map<number, number>();

/** Unicode's simple lower-case mapping of `cp`. */
export function simpleLower(cp: number): number {
  if (cp < 0x80) return cp >= 0x41 && cp <= 0x5a ? cp + 0x20 : cp;
  if ((cp >= 0xd800 && cp <= 0xdfff) || cp > MAX_CODEPOINT) return cp;
  let r = lowerCache.get(cp);
  if (r === undefined) {
    // toLowerCase applies the full mapping; the only character whose full
    // lower case is longer than one code point (U+0130 → i + U+0307) has
    // its first code point as the simple mapping. Alone, Σ is not final.
    r = unknownToLlamaTables(cp) ? cp : String.fromCodePoint(cp).toLowerCase().codePointAt(0)!;
    lowerCache.set(cp, r);
  }
  return r;
}
