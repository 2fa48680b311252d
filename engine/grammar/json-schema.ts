/**
 * JSON and JSON-schema grammars for constrained decoding (`format: "json"`
 * and `format: {schema}` of Ollama's API, `response_format` of OpenAI's).
 *
 * Output always parses as JSON and, for a schema, validates against it. The
 * supported subset, and how each keyword becomes grammar:
 * - type (one or a list), enum, const, anyOf / oneOf (as alternatives),
 *   allOf with one member, $ref to #/$defs/… or #/definitions/… (recursion
 *   allowed), true / {} (any JSON value).
 * - object: every declared property, in declared order (a required-only
 *   subset would also be valid; emitting all keeps the grammar linear), no
 *   others; without `properties`, any keys with values of
 *   `additionalProperties` (any JSON when absent or true).
 * - array: items, minItems, maxItems (unrolled up to 64).
 * - string: minLength, maxLength (in characters, up to 256); `format` is an
 *   annotation (JSON Schema 2019+) and is not enforced.
 * - integer / number: the JSON number syntax (integers without fraction or
 *   exponent).
 * Keywords that would need more than this (pattern, minimum, maximum,
 * multipleOf, patternProperties, if/then/else, not, …) are refused with
 * E_BAD_REQUEST instead of being silently ignored.
 *
 * Whitespace between tokens is nothing, one space, or a newline and up to 20
 * spaces or tabs (the `ws` of llama.cpp's json.gbnf), and none before or
 * after the value: models in JSON mode otherwise drift into endless blank
 * lines, so each gap holds at most 21 bytes and the model must move on.
 */
import { KilnError } from '../../common/errors.js';
import { byteClass, GrammarBuilder, type Elem, type Grammar } from './grammar.js';

const UNSUPPORTED = ['pattern', 'minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum', 'multipleOf', 'patternProperties', 'if', 'then', 'else', 'not', 'dependentRequired', 'dependentSchemas', 'contains', 'uniqueItems', 'minProperties', 'maxProperties', 'propertyNames', 'prefixItems'];
const MAX_UNROLL = 64;
const MAX_STRING_UNROLL = 256;

type Schema = boolean | Record<string, unknown>;

function bad(msg: string): KilnError {
  return new KilnError('E_BAD_REQUEST', `format: ${msg}`);
}

/** The pieces every JSON grammar shares: whitespace, strings, numbers, any value. */
export class JsonRules {
  readonly ws: Elem;
  readonly string: Elem;
  readonly number: Elem;
  readonly integer: Elem;
  readonly value: Elem;
  readonly object: Elem;
  readonly strChar: Elem[][];

  /** `compact`: a gap holds at most one space (JSON read by programs, as tool-call arguments are). */
  constructor(
    readonly g: GrammarBuilder,
    compact = false,
  ) {
    const b = (...p: Parameters<typeof byteClass>) => g.bytes(byteClass(...p));
    const indent = g.repeat([b(' ', '\t')], 0, 20);
    this.ws = compact ? g.optional(g.literal(' ')) : g.optional([g.ref(g.rule([g.literal(' '), [...g.literal('\n'), ...indent]]))]);
    // A string character: anything but " \ and control bytes, or an escape. Bytes ≥ 0x80 pass as they are (UTF-8).
    const plain = byteClass([0x20, 0x21], [0x23, 0x5b], [0x5d, 0x7e], [0x80, 0xff]);
    const hex = b('09', 'af', 'AF');
    this.strChar = [[g.bytes(plain)], [...g.literal('\\'), b('"', '\\', '/', 'b', 'f', 'n', 'r', 't')], [...g.literal('\\u'), hex, hex, hex, hex]];
    const ch = g.ref(g.rule(this.strChar));
    this.string = g.ref(g.rule([[...g.literal('"'), g.star([ch]), ...g.literal('"')]]));
    const digit = b('09');
    const intPart = g.ref(g.rule([g.literal('0'), [b('19'), ...g.repeat([digit], 0, 15)]]));
    const sign = g.optional(g.literal('-'));
    this.integer = g.ref(g.rule([[sign, intPart]]));
    const frac = g.optional([...g.literal('.'), digit, ...g.repeat([digit], 0, 15)]);
    const exp = g.optional([b('e', 'E'), g.optional([b('+', '-')]), digit, ...g.repeat([digit], 0, 3)]);
    this.number = g.ref(g.rule([[sign, intPart, frac, exp]]));

    const value = g.reserve();
    const member = [this.string, this.ws, ...g.literal(':'), this.ws, g.ref(value), this.ws];
    this.object = g.ref(g.rule([[...g.literal('{'), this.ws, g.optional([...member, g.star([...g.literal(','), this.ws, ...member])]), ...g.literal('}')]]));
    const item = [g.ref(value), this.ws];
    const array = g.ref(g.rule([[...g.literal('['), this.ws, g.optional([...item, g.star([...g.literal(','), this.ws, ...item])]), ...g.literal(']')]]));
    g.define(value, [[this.object], [array], [this.string], [this.number], g.literal('true'), g.literal('false'), g.literal('null')]);
    this.value = g.ref(value);
  }

  /** A JSON string literal of exactly this text. */
  literalString(s: string): Elem[] {
    return this.g.literal(JSON.stringify(s));
  }
}

/** The grammar of `format: "json"`: one JSON object (as Ollama's and OpenAI's JSON modes produce). */
export function jsonGrammar(): Grammar {
  const g = new GrammarBuilder();
  const j = new JsonRules(g);
  return g.build(g.rule([[j.object]]));
}

/** The grammar of output that validates against `schema`. */
export function schemaGrammar(schema: unknown): Grammar {
  const g = new GrammarBuilder();
  const j = new JsonRules(g);
  return g.build(g.rule([schemaElems(g, j, schema)]));
}

/**
 * The elements, in grammar `g` (whose shared JSON pieces are `j`), of a value
 * that validates against `schema`: for grammars that hold JSON inside
 * something else (a tool call's arguments).
 */
export function schemaElems(g: GrammarBuilder, j: JsonRules, schema: unknown): Elem[] {
  if (typeof schema !== 'boolean' && (typeof schema !== 'object' || schema === null || Array.isArray(schema))) throw bad('a JSON schema must be an object');
  const root = schema as Schema;
  const defs = new Map<string, number>();
  let depth = 0;

  const resolve = (ref: string): Schema => {
    const m = /^#\/(\$defs|definitions)\/([^/]+)$/.exec(ref);
    if (!m) throw bad(`$ref ${ref} is not supported (only #/$defs/NAME and #/definitions/NAME)`);
    const table = typeof root === 'object' ? (root[m[1]] as Record<string, Schema> | undefined) : undefined;
    const target = table?.[decodeURIComponent(m[2])];
    if (target === undefined) throw bad(`$ref ${ref} names no definition`);
    return target;
  };

  const compile = (s: Schema): Elem[] => {
    if (++depth > 200) throw bad('the schema nests too deeply');
    try {
      return compileInner(s);
    } finally {
      depth--;
    }
  };

  const alternatives = (list: Elem[][]): Elem[] => (list.length === 1 ? list[0] : [g.ref(g.rule(list))]);

  const compileInner = (s: Schema): Elem[] => {
    if (s === true) return [j.value];
    if (s === false) throw bad('a false schema allows no value');
    if (typeof s !== 'object' || s === null) throw bad('every schema must be an object or a boolean');
    for (const k of UNSUPPORTED) if (k in s) throw bad(`the '${k}' keyword is not supported`);
    if (typeof s.$ref === 'string') {
      let id = defs.get(s.$ref);
      if (id === undefined) {
        id = g.reserve();
        defs.set(s.$ref, id);
        g.define(id, [compile(resolve(s.$ref))]);
      }
      return [g.ref(id)];
    }
    if ('const' in s) return g.literal(JSON.stringify(s.const));
    if (Array.isArray(s.enum)) {
      if (s.enum.length === 0) throw bad('an empty enum allows no value');
      return alternatives(s.enum.map((v) => g.literal(JSON.stringify(v))));
    }
    const any = (s.anyOf ?? s.oneOf) as Schema[] | undefined;
    if (any !== undefined) {
      if (!Array.isArray(any) || any.length === 0) throw bad('anyOf/oneOf must be a non-empty array');
      return alternatives(any.map(compile));
    }
    if (s.allOf !== undefined) {
      if (!Array.isArray(s.allOf) || s.allOf.length !== 1) throw bad('allOf is supported with one member only');
      return compile(s.allOf[0] as Schema);
    }
    const type = s.type;
    if (Array.isArray(type)) return alternatives(type.map((t) => compile({ ...s, type: t })));
    switch (type) {
      case undefined:
        if (s.properties !== undefined) return compile({ ...s, type: 'object' });
        if (s.items !== undefined) return compile({ ...s, type: 'array' });
        return [j.value];
      case 'null':
        return g.literal('null');
      case 'boolean':
        return [g.ref(g.rule([g.literal('true'), g.literal('false')]))];
      case 'integer':
        return [j.integer];
      case 'number':
        return [j.number];
      case 'string':
        return stringOf(s);
      case 'array':
        return arrayOf(s);
      case 'object':
        return objectOf(s);
      default:
        throw bad(`unknown type ${JSON.stringify(type)}`);
    }
  };

  const count = (v: unknown, what: string, limit: number): number | undefined => {
    if (v === undefined) return undefined;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw bad(`${what} must be a non-negative integer`);
    if (v > limit) throw bad(`${what} above ${limit} is not supported`);
    return v;
  };

  const stringOf = (s: Record<string, unknown>): Elem[] => {
    const min = count(s.minLength, 'minLength', MAX_STRING_UNROLL) ?? 0;
    const max = count(s.maxLength, 'maxLength', MAX_STRING_UNROLL);
    if (min === 0 && max === undefined) return [j.string];
    if (max !== undefined && max < min) throw bad('maxLength is below minLength');
    // One element per character; a multi-byte UTF-8 character is one element of bytes ≥ 0x80 here,
    // so lengths are enforced on ASCII and escapes and approximate beyond.
    const ch = g.ref(g.rule(j.strChar));
    return [...g.literal('"'), ...g.repeat([ch], min, max ?? Infinity), ...g.literal('"')];
  };

  const arrayOf = (s: Record<string, unknown>): Elem[] => {
    const item = [...(s.items === undefined ? [j.value] : compile(s.items as Schema)), j.ws];
    const min = count(s.minItems, 'minItems', MAX_UNROLL) ?? 0;
    const max = count(s.maxItems, 'maxItems', MAX_UNROLL);
    if (max !== undefined && max < min) throw bad('maxItems is below minItems');
    const open = [...g.literal('['), j.ws];
    const close = g.literal(']');
    if (max === 0) return [...open, ...close];
    const more = [...g.literal(','), j.ws, ...item];
    const body = [...item, ...g.repeat(more, Math.max(0, min - 1), max === undefined ? Infinity : max - 1)];
    return [...open, ...(min === 0 ? [g.optional(body)] : body), ...close];
  };

  const objectOf = (s: Record<string, unknown>): Elem[] => {
    const props = s.properties as Record<string, Schema> | undefined;
    if (props !== undefined && (typeof props !== 'object' || props === null)) throw bad('properties must be an object');
    const open = [...g.literal('{'), j.ws];
    const close = g.literal('}');
    const names = Object.keys(props ?? {});
    if (names.length > 0) {
      const required = Array.isArray(s.required) ? (s.required as string[]) : [];
      for (const r of required) if (!names.includes(r)) throw bad(`required property '${r}' is not in properties`);
      const members = names.map((n) => [...j.literalString(n), j.ws, ...g.literal(':'), j.ws, ...compile(props![n]), j.ws]);
      const body: Elem[] = [...members[0]];
      for (const m of members.slice(1)) body.push(...g.literal(','), j.ws, ...m);
      return [...open, ...body, ...close];
    }
    const ap = s.additionalProperties;
    if (ap === undefined || ap === true) return [j.object];
    if (ap === false) return [...open, ...close];
    const member = [j.string, j.ws, ...g.literal(':'), j.ws, ...compile(ap as Schema), j.ws];
    return [...open, g.optional([...member, g.star([...g.literal(','), j.ws, ...member])]), ...close];
  };

  return compile(root);
}

/** The grammar of a request's `format`: "json" or a schema object. */
export function formatGrammar(format: unknown): Grammar {
  if (format === 'json') return jsonGrammar();
  if (format && typeof format === 'object' && !Array.isArray(format)) return schemaGrammar(format);
  throw bad(`expected "json" or a JSON schema object, got ${JSON.stringify(format)}`);
}
