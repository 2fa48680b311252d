/**
 * Deterministic mutators: byte-level ones for any input, plus a
 * structure-aware one for JSON. All draw from the Rng given, so an input is a
 * pure function of (seed input, rng seed).
 */
import type { Rng } from './rng.js';

/** Integer values at the edges of the widths parsers read: 0, -1, sign bits, 2^32-1, 2^53, 2^63, 2^64-1. */
export const BOUNDARY: readonly bigint[] = [
  0n, 1n, (1n << 64n) - 1n /* -1 */, 0x7fn, 0x80n, 0xffn, 0x7fffn, 0x8000n, 0xffffn,
  0x7fffffffn, 1n << 31n, (1n << 32n) - 1n, 1n << 32n, 1n << 53n, (1n << 53n) + 1n, (1n << 63n) - 1n, 1n << 63n,
];

/** The same edges as decimal text, for formats that spell numbers out (JSON, tar's octal sizes, Modelfiles). */
export const BOUNDARY_TEXT: readonly string[] = [
  '0', '-1', '-0', '2147483647', '2147483648', '-2147483649', '4294967295', '4294967296', '9007199254740993',
  '9223372036854775808', '18446744073709551616', '1e308', '-1e309', '1e-400', '0x7fffffff', '077777777777', 'NaN', 'Infinity', '1.5',
];

const MAX_LEN = 1 << 20;

function splice(b: Uint8Array, at: number, del: number, ins: Uint8Array): Uint8Array {
  const out = new Uint8Array(b.length - del + ins.length);
  out.set(b.subarray(0, at));
  out.set(ins, at);
  out.set(b.subarray(at + del), at + ins.length);
  return out;
}

/** Positions of runs of ASCII digits, for textual number mutations. */
function digitRun(b: Uint8Array, r: Rng): [number, number] | undefined {
  for (let tries = 0; tries < 8; tries++) {
    let i = r.int(b.length);
    while (i < b.length && (b[i] < 0x30 || b[i] > 0x39)) i++;
    if (i >= b.length) continue;
    let j = i;
    while (j < b.length && b[j] >= 0x30 && b[j] <= 0x39) j++;
    return [i, j];
  }
  return undefined;
}

/**
 * One byte-level mutation. `dict` holds tokens of the format (keywords,
 * delimiters) to insert or overwrite with; `others` are the other seeds, for
 * splices; `hot` are offsets worth aiming integer writes at (length fields).
 */
export function mutateBytes(src: Uint8Array, r: Rng, dict: readonly string[] = [], others: readonly Uint8Array[] = [], hot: readonly number[] = []): Uint8Array {
  let b: Uint8Array = src;
  const op = r.int(12);
  const at = b.length === 0 ? 0 : r.int(b.length);
  switch (op) {
    case 0: // flip a bit
      if (b.length) { b = b.slice(); b[at] ^= 1 << r.int(8); }
      break;
    case 1: // an interesting byte
      if (b.length) { b = b.slice(); b[at] = r.pick([0x00, 0xff, 0x7f, 0x80, 0x0a, 0x22, 0x5c, r.int(256)]); }
      break;
    case 2: { // insert random bytes
      const n = 1 + r.int(16);
      const ins = new Uint8Array(n);
      for (let i = 0; i < n; i++) ins[i] = r.int(256);
      b = splice(b, at, 0, ins);
      break;
    }
    case 3: // delete a range
      b = splice(b, at, Math.min(b.length - at, 1 + r.int(r.chance(0.8) ? 16 : 4096)), new Uint8Array(0));
      break;
    case 4: { // duplicate a range somewhere
      const len = Math.min(b.length - at, 1 + r.int(512));
      b = splice(b, r.int(b.length + 1), 0, b.slice(at, at + len));
      break;
    }
    case 5: { // splice: a prefix of this input and a suffix of another
      if (!others.length) break;
      const o = r.pick(others);
      b = splice(b, at, b.length - at, o.subarray(r.int(o.length + 1)));
      break;
    }
    case 6:
    case 7: { // an integer boundary value written at a random (or a length field's) offset
      const width = r.pick([1, 2, 4, 8]);
      const p = hot.length && r.chance(0.6) ? r.pick(hot) : at;
      if (p + width > b.length) break;
      b = b.slice();
      const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
      const v = r.chance(0.2) ? BigInt(Math.max(0, b.length - p + r.int(64) - 32)) : r.pick(BOUNDARY);
      const le = r.chance(0.85);
      if (width === 1) dv.setUint8(p, Number(v & 0xffn));
      else if (width === 2) dv.setUint16(p, Number(v & 0xffffn), le);
      else if (width === 4) dv.setUint32(p, Number(v & 0xffffffffn), le);
      else dv.setBigUint64(p, BigInt.asUintN(64, v), le);
      break;
    }
    case 8: // truncate
      b = b.slice(0, at);
      break;
    case 9: { // a textual number replaced by a boundary one
      const run = digitRun(b, r);
      if (run) b = splice(b, run[0], run[1] - run[0], Buffer.from(r.pick(BOUNDARY_TEXT)));
      break;
    }
    case 10:
    case 11: { // a token of the format, inserted or overwriting
      if (!dict.length) break;
      const tok = Buffer.from(r.pick(dict));
      b = splice(b, at, r.chance(0.5) ? Math.min(tok.length, b.length - at) : 0, tok);
      break;
    }
  }
  return b.length > MAX_LEN ? b.subarray(0, MAX_LEN) : b;
}

/** 1–4 stacked byte mutations. */
export function mutateBytesN(src: Uint8Array, r: Rng, dict?: readonly string[], others?: readonly Uint8Array[], hot?: readonly number[]): Uint8Array {
  let b = src;
  const n = 1 + r.int(4);
  for (let i = 0; i < n; i++) b = mutateBytes(b, r, dict, others, hot);
  return b;
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** Values that break careless validation: wrong types, boundary numbers, empty and odd containers. */
function wildValue(r: Rng, strings: readonly string[], depth = 0): Json {
  switch (r.int(14)) {
    case 0: return null;
    case 1: return r.chance(0.5);
    case 2: return r.pick([0, -1, 1, 0.5, -0.0, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 53 + 2, 2 ** 63, -(2 ** 63), 1e308, -1e308, Number.MIN_VALUE]);
    case 3: return r.pick(strings);
    case 4: return '';
    case 5: return [];
    case 6: return {};
    case 7: return depth < 3 ? [wildValue(r, strings, depth + 1)] : [null];
    case 8: return depth < 3 ? { [r.pick(strings)]: wildValue(r, strings, depth + 1) } : {};
    case 9: return 'x'.repeat(r.pick([1, 255, 256, 4096, 65537]));
    case 10: { // deep nesting
      let v: Json = null;
      for (let i = r.pick([10, 100, 1000]); i > 0; i--) v = r.chance(0.5) ? [v] : { a: v };
      return v;
    }
    case 11: return [null, {}, [], '', 0];
    case 12: return r.pick(['\u0000', '\ud800', '../../etc/passwd', 'sha256:' + '0'.repeat(64), '{{ .Prompt }}', '\u202e', 'a\nb']);
    default: return r.int(1000) - 500;
  }
}

/** Every container and leaf path of a JSON value. */
function paths(v: Json, at: (string | number)[] = [], out: (string | number)[][] = []): (string | number)[][] {
  out.push(at);
  if (Array.isArray(v)) v.forEach((x, i) => paths(x, [...at, i], out));
  else if (v && typeof v === 'object') for (const k of Object.keys(v)) paths(v[k], [...at, k], out);
  return out;
}

function getAt(v: Json, p: (string | number)[]): Json {
  let x: Json = v;
  for (const k of p) x = (x as Record<string | number, Json>)[k];
  return x;
}

/**
 * A structure-aware JSON mutation: parse, change one node (replace its value
 * with a wild one, drop it, add a key, duplicate an element, wrap it), print.
 * Falls back to bytes when the input is not JSON; sometimes breaks the syntax on top.
 */
export function mutateJson(src: Uint8Array, r: Rng, keys: readonly string[], strings: readonly string[], others: readonly Uint8Array[]): Uint8Array {
  let v: Json;
  try {
    v = JSON.parse(Buffer.from(src).toString('utf8')) as Json;
  } catch {
    return mutateBytesN(src, r, ['{', '}', '[', ']', '"', ':', ',', 'null', 'true', '-1', '1e999', '\\u0000'], others);
  }
  const n = 1 + r.int(3);
  for (let i = 0; i < n; i++) {
    const all = paths(v);
    const p = r.pick(all);
    if (p.length === 0) {
      if (r.chance(0.1)) v = wildValue(r, strings);
      else if (v && typeof v === 'object' && !Array.isArray(v)) v[r.pick(keys)] = wildValue(r, strings);
      continue;
    }
    const parent = getAt(v, p.slice(0, -1)) as Record<string | number, Json> | Json[];
    const k = p[p.length - 1];
    const cur = (parent as Record<string | number, Json>)[k];
    switch (r.int(6)) {
      case 0:
      case 1: (parent as Record<string | number, Json>)[k] = wildValue(r, strings); break;
      case 2:
        if (Array.isArray(parent)) parent.splice(k as number, 1);
        else delete (parent as Record<string, Json>)[k];
        break;
      case 3:
        if (Array.isArray(parent)) parent.splice(k as number, 0, ...Array.from({ length: r.pick([1, 2, 100]) }, () => structuredClone(cur)));
        else (parent as Record<string, Json>)[r.pick(keys)] = structuredClone(cur);
        break;
      case 4: (parent as Record<string | number, Json>)[k] = r.chance(0.5) ? [cur] : { [r.pick(keys)]: cur }; break;
      case 5:
        if (cur && typeof cur === 'object' && !Array.isArray(cur)) cur[r.pick(keys)] = wildValue(r, strings);
        else (parent as Record<string | number, Json>)[k] = typeof cur === 'string' ? r.pick(strings) : wildValue(r, strings);
        break;
    }
  }
  let out: Uint8Array = Buffer.from(JSON.stringify(v) ?? 'null');
  if (r.chance(0.15)) out = mutateBytes(out, r, ['{', '}', '"', ',', ':', 'null', '1e999', '\\u0000', '\\ud800'], others);
  return out;
}
