/**
 * How JavaScript values behave as Go values inside templates.
 *
 * - `undefined` is Go's invalid value (a missing map key); `null` is nil.
 * - Numbers that are safe integers act as Go `int`, others as `float64`.
 * - Arrays are slices. Plain objects are `map[string]any`: Go ranges over them
 *   and prints and JSON-encodes them in sorted key order.
 * - Objects made with `makeStruct` are structs: fields in declaration order,
 *   JSON names and `omitempty` per field, and a missing field is an error.
 * - An object may carry a `STRINGER` method (Go's fmt.Stringer), used when it is
 *   printed, and a `MARSHAL_JSON` method (json.Marshaler), used by `json`.
 */

export const STRINGER: unique symbol = Symbol('go.String');
export const MARSHAL_JSON: unique symbol = Symbol('go.MarshalJSON');
const STRUCT: unique symbol = Symbol('go.struct');

export interface StructField {
  /** Go field name, as templates spell it (`.Role`). */
  name: string;
  /** JSON key; the Go name when absent; '-' leaves the field out of JSON. */
  json?: string;
  omitEmpty?: boolean;
}

export interface StructType {
  /** Type name for error messages, e.g. `api.Message`. */
  name: string;
  fields: readonly StructField[];
  /** fmt.Stringer for the type, if it has one. */
  string?: (value: GoStruct) => string;
}

export type GoStruct = { [key: string]: unknown; [STRUCT]: StructType };

export function makeStruct(type: StructType, values: Record<string, unknown>): GoStruct {
  const s = Object.create(null) as GoStruct;
  for (const f of type.fields) s[f.name] = values[f.name];
  Object.defineProperty(s, STRUCT, { value: type, enumerable: false });
  if (type.string) Object.defineProperty(s, STRINGER, { value: () => type.string!(s), enumerable: false });
  return s;
}

/** Attach a Stringer (and optionally a JSON marshaler) to an array or map value. */
export function withMethods<T extends object>(
  value: T,
  methods: { string?: () => string; marshalJSON?: () => string },
): T {
  if (methods.string) Object.defineProperty(value, STRINGER, { value: methods.string, enumerable: false });
  if (methods.marshalJSON) Object.defineProperty(value, MARSHAL_JSON, { value: methods.marshalJSON, enumerable: false });
  return value;
}

export type Kind = 'invalid' | 'nil' | 'bool' | 'int' | 'float' | 'string' | 'slice' | 'map' | 'struct' | 'func';

export function structType(v: unknown): StructType | undefined {
  return typeof v === 'object' && v !== null ? (v as Partial<GoStruct>)[STRUCT] : undefined;
}

export function kindOf(v: unknown): Kind {
  switch (typeof v) {
    case 'undefined':
      return 'invalid';
    case 'boolean':
      return 'bool';
    case 'number':
      return Number.isSafeInteger(v) ? 'int' : 'float';
    case 'bigint':
      return 'int';
    case 'string':
      return 'string';
    case 'function':
      return 'func';
    case 'object':
      if (v === null) return 'nil';
      if (Array.isArray(v)) return 'slice';
      if (structType(v)) return 'struct';
      return isPlainObject(v) ? 'map' : 'struct';
    default:
      return 'invalid';
  }
}

function isPlainObject(v: object): boolean {
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/** Go's type names, for error messages only. */
export function typeName(v: unknown): string {
  const st = structType(v);
  if (st) return st.name;
  switch (kindOf(v)) {
    case 'invalid':
    case 'nil':
      return '<nil>';
    case 'int':
      return 'int';
    case 'float':
      return 'float64';
    case 'slice':
      return '[]interface {}';
    case 'map':
      return 'map[string]interface {}';
    case 'struct':
      return (v as object).constructor?.name ?? 'struct';
    default:
      return kindOf(v);
  }
}

/** Go template truthiness: zero values and empty collections are false; structs are always true. */
export function truth(v: unknown): boolean {
  switch (kindOf(v)) {
    case 'invalid':
    case 'nil':
      return false;
    case 'bool':
      return v as boolean;
    case 'int':
    case 'float':
      return v !== 0 && v !== 0n;
    case 'string':
      return (v as string).length > 0;
    case 'slice':
      return (v as unknown[]).length > 0;
    case 'map':
      return Object.keys(v as object).length > 0;
    default:
      return true;
  }
}

/** Byte-wise (UTF-8) order, which is code-point order: how Go sorts strings and map keys. */
export function compareStrings(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; ) {
    const ca = a.codePointAt(i)!;
    const cb = b.codePointAt(i)!;
    if (ca !== cb) return ca < cb ? -1 : 1;
    i += ca > 0xffff ? 2 : 1;
  }
  return a.length === b.length ? 0 : a.length < b.length ? -1 : 1;
}

export function sortedKeys(m: object): string[] {
  return Object.keys(m).sort(compareStrings);
}

/** Struct fields (declared order) or, for foreign objects, their own enumerable keys. */
export function structFields(v: object): readonly StructField[] {
  return structType(v)?.fields ?? Object.keys(v).map((name) => ({ name }));
}

/**
 * Go's %v for a float64 (strconv 'g', shortest): the shortest digits that
 * round-trip, in %e form when the exponent is < -4 or >= 6 (1e+06, 1.5e-05).
 */
export function formatFloat(n: number): string {
  if (Number.isNaN(n)) return 'NaN';
  if (!Number.isFinite(n)) return n > 0 ? '+Inf' : '-Inf';
  if (n === 0) return Object.is(n, -0) ? '-0' : '0';
  const [mant, expText] = n.toExponential().split('e');
  const exp = Number(expText);
  if (exp < -4 || exp >= 6) return `${mant}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
  return String(n);
}

export function formatNumber(n: number | bigint): string {
  if (typeof n === 'bigint' || Number.isSafeInteger(n)) return String(n);
  return formatFloat(n);
}

/**
 * fmt's %v (and %+v with `plus`): what `print` and an action write for a value.
 * Nested nil prints as `<nil>`; the caller decides how a top-level missing value prints.
 */
export function formatValue(v: unknown, plus = false): string {
  if (typeof v === 'object' && v !== null && STRINGER in v) {
    return (v as { [STRINGER]: () => string })[STRINGER]();
  }
  switch (kindOf(v)) {
    case 'invalid':
    case 'nil':
      return '<nil>';
    case 'bool':
      return String(v);
    case 'int':
    case 'float':
      return formatNumber(v as number);
    case 'string':
      return v as string;
    case 'slice':
      return `[${(v as unknown[]).map((x) => formatValue(x, plus)).join(' ')}]`;
    case 'map': {
      const m = v as Record<string, unknown>;
      return `map[${sortedKeys(m).map((k) => `${k}:${formatValue(m[k], plus)}`).join(' ')}]`;
    }
    case 'struct': {
      const s = v as Record<string, unknown>;
      const parts = structFields(s).map((f) => (plus ? `${f.name}:` : '') + formatValue(s[f.name], plus));
      return `{${parts.join(' ')}}`;
    }
    case 'func':
      return '<func>';
  }
}

// ---- JSON, as Go's encoding/json writes it ----

export class JSONError extends Error {}

/** Go's json.Marshal string quoting: HTML-safe (<, >, & escaped), U+2028/9 escaped. */
export function jsonQuote(s: string): string {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    switch (c) {
      case 0x22:
        out += '\\"';
        continue;
      case 0x5c:
        out += '\\\\';
        continue;
      case 0x0a:
        out += '\\n';
        continue;
      case 0x0d:
        out += '\\r';
        continue;
      case 0x09:
        out += '\\t';
        continue;
      case 0x08:
        out += '\\b';
        continue;
      case 0x0c:
        out += '\\f';
        continue;
      case 0x3c:
      case 0x3e:
      case 0x26:
      case 0x2028:
      case 0x2029:
        out += '\\u' + c.toString(16).padStart(4, '0');
        continue;
    }
    if (c < 0x20) {
      out += '\\u' + c.toString(16).padStart(4, '0');
    } else if (c >= 0xd800 && c < 0xdc00 && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      out += s[i] + s[i + 1];
      i++;
    } else if (c >= 0xd800 && c < 0xe000) {
      out += '\\ufffd'; // lone surrogate: invalid UTF-8 in Go
    } else {
      out += s[i];
    }
  }
  return out + '"';
}

function isEmptyValue(v: unknown): boolean {
  switch (kindOf(v)) {
    case 'invalid':
    case 'nil':
      return true;
    case 'bool':
      return v === false;
    case 'int':
    case 'float':
      return v === 0;
    case 'string':
      return v === '';
    case 'slice':
      return (v as unknown[]).length === 0;
    case 'map':
      return Object.keys(v as object).length === 0;
    default:
      return false;
  }
}

/** Go's json.Marshal of a template value. Throws JSONError where Go returns an error (NaN, ±Inf, functions). */
export function goJSON(v: unknown): string {
  if (typeof v === 'object' && v !== null && MARSHAL_JSON in v) {
    return (v as { [MARSHAL_JSON]: () => string })[MARSHAL_JSON]();
  }
  switch (kindOf(v)) {
    case 'invalid':
    case 'nil':
      return 'null';
    case 'bool':
      return String(v);
    case 'int':
    case 'float': {
      const n = v as number;
      if (typeof n === 'number' && !Number.isFinite(n)) throw new JSONError(`json: unsupported value: ${formatFloat(n)}`);
      // JavaScript and Go agree: plain digits in [1e-6, 1e21), exponent form outside.
      return String(n);
    }
    case 'string':
      return jsonQuote(v as string);
    case 'slice':
      return `[${(v as unknown[]).map(goJSON).join(',')}]`;
    case 'map': {
      const m = v as Record<string, unknown>;
      return `{${sortedKeys(m).map((k) => `${jsonQuote(k)}:${goJSON(m[k])}`).join(',')}}`;
    }
    case 'struct': {
      const s = v as Record<string, unknown>;
      const parts: string[] = [];
      for (const f of structFields(s)) {
        if (f.json === '-') continue;
        const val = s[f.name];
        if (f.omitEmpty && isEmptyValue(val)) continue;
        parts.push(`${jsonQuote(f.json ?? f.name)}:${goJSON(val)}`);
      }
      return `{${parts.join(',')}}`;
    }
    case 'func':
      throw new JSONError('json: unsupported type: func');
  }
}
