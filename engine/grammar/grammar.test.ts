import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Tokenizer } from '../tokenizer/index.js';
import { Recognizer, type Grammar } from './grammar.js';
import { formatGrammar, jsonGrammar, schemaGrammar } from './json-schema.js';
import { GrammarMask, VocabIndex } from './token-mask.js';

function accepts(g: Grammar, text: string): boolean {
  const r = new Recognizer(g);
  const s = r.feed(r.start(), text);
  return s !== undefined && s.complete;
}

/** Accepted as a prefix: every byte allowed, not necessarily complete. */
function viable(g: Grammar, text: string): boolean {
  const r = new Recognizer(g);
  return r.feed(r.start(), text) !== undefined;
}

describe('JSON grammar (format: "json")', () => {
  const g = jsonGrammar();
  it.each([
    '{}',
    '{"a":1}',
    '{ "a": [1, -2.5e3, true, false, null, "x\\n\\u00e9"], "b": {"c": {}} }',
    '{"é": "ünïcödé"}',
    '{\n  "a": 1,\n  "b": [\n    2\n  ]\n}',
    `{\n${' '.repeat(20)}"a":\n${'\t'.repeat(20)}1}`,
  ])('accepts %j', (t) => expect(accepts(g, t)).toBe(true));

  it.each([
    ['[1]', 'a top-level array'],
    ['{"a":01}', 'a leading zero'],
    ['{"a":1,}', 'a trailing comma'],
    ["{'a':1}", 'single quotes'],
    ['{"a":"\u0001"}', 'a raw control character in a string'],
    ['{"a":1}}', 'text after the value'],
    ['{"a":tru}', 'a misspelled literal'],
    ['{    \n\n"a":1}', 'runs of blank lines'],
    [`{\n${' '.repeat(21)}"a":1}`, 'an indent of more than 20'],
    ['{  "a":1}', 'two spaces'],
    ['{\t"a":1}', 'a tab without a newline'],
    ['{"a":1} ', 'whitespace after the object'],
  ])('refuses %j (%s)', (t) => expect(accepts(g, t)).toBe(false));

  it('sees prefixes as viable until they cannot be JSON', () => {
    expect(viable(g, '{"a": [1, 2')).toBe(true);
    expect(viable(g, '{"a": ]')).toBe(false);
  });
});

describe('JSON-schema grammar', () => {
  const person = {
    type: 'object',
    properties: {
      name: { type: 'string', minLength: 1, maxLength: 8 },
      age: { type: 'integer' },
      tags: { type: 'array', items: { enum: ['a', 'b'] }, maxItems: 2 },
      pet: { anyOf: [{ type: 'null' }, { $ref: '#/$defs/pet' }] },
    },
    required: ['name', 'age'],
    $defs: { pet: { type: 'object', properties: { kind: { const: 'cat' }, lives: { type: 'number' } } } },
  };
  const g = schemaGrammar(person);

  it('accepts documents that validate, properties in declared order', () => {
    expect(accepts(g, '{"name":"Abel","age":30,"tags":["a","b"],"pet":null}')).toBe(true);
    expect(accepts(g, '{ "name": "Seth", "age": -1, "tags": [], "pet": {"kind": "cat", "lives": 9.5} }')).toBe(true);
  });

  it.each([
    ['{"name":"","age":1,"tags":[],"pet":null}', 'minLength'],
    ['{"name":"Methuselah","age":1,"tags":[],"pet":null}', 'maxLength'],
    ['{"name":"Abel","age":1.5,"tags":[],"pet":null}', 'integer'],
    ['{"name":"Abel","age":1,"tags":["c"],"pet":null}', 'enum'],
    ['{"name":"Abel","age":1,"tags":["a","a","a"],"pet":null}', 'maxItems'],
    ['{"name":"Abel","age":1,"tags":[],"pet":{"kind":"dog","lives":1}}', 'const through $ref'],
    ['{"age":1,"name":"Abel","tags":[],"pet":null}', 'order'],
    ['{"name":"Abel","age":1,"tags":[],"pet":null,"x":1}', 'additional property'],
  ])('refuses %j (%s)', (t) => expect(accepts(g, t)).toBe(false));

  it('handles recursion, type lists, additionalProperties and minItems', () => {
    const tree = schemaGrammar({ $ref: '#/definitions/node', definitions: { node: { type: 'object', properties: { kids: { type: 'array', items: { $ref: '#/definitions/node' } } } } } });
    expect(accepts(tree, '{"kids":[{"kids":[]},{"kids":[{"kids":[]}]}]}')).toBe(true);
    const maybe = schemaGrammar({ type: ['string', 'null'] });
    expect(accepts(maybe, 'null') && accepts(maybe, '"x"') && !accepts(maybe, '1')).toBe(true);
    const dict = schemaGrammar({ type: 'object', additionalProperties: { type: 'boolean' } });
    expect(accepts(dict, '{"a": true, "b": false}') && !accepts(dict, '{"a": 1}')).toBe(true);
    const two = schemaGrammar({ type: 'array', items: { type: 'integer' }, minItems: 2 });
    expect(accepts(two, '[1, 2, 3]') && !accepts(two, '[1]')).toBe(true);
  });

  it.each([
    [{ type: 'string', pattern: '^a' }, /'pattern' keyword is not supported/],
    [{ type: 'integer', minimum: 0 }, /'minimum'/],
    [{ $ref: 'http://x/y' }, /\$ref http:\/\/x\/y is not supported/],
    [{ $ref: '#/$defs/missing' }, /names no definition/],
    [{ type: 'date' }, /unknown type "date"/],
    [{ enum: [] }, /empty enum/],
    ['yaml', /expected "json" or a JSON schema object/],
  ])('refuses the schema %j with a clear message', (schema, msg) => {
    expect(() => formatGrammar(schema)).toThrow(msg);
  });
});

describe('grammar over a real vocabulary (kjv)', () => {
  const tok = Tokenizer.fromGGUF(join(__dirname, '..', '..', 'models', 'kjv', 'kjv-f16.gguf'));
  const bytes = Array.from({ length: tok.vocabSize }, (_, i) => tok.tokenToBytes(i));
  const eog = Array.from({ length: tok.vocabSize }, (_, i) => i).filter((i) => tok.isEog(i));
  const index = new VocabIndex(bytes, eog);

  /** Samples uniformly among allowed tokens with a seeded PRNG until an end token, as a worst-case model would. */
  function randomWalk(mask: GrammarMask, seed: number, maxTokens = 400): { text: string; ended: boolean } {
    let x = seed >>> 0;
    const rand = () => ((x = (Math.imul(x, 1664525) + 1013904223) >>> 0) / 2 ** 32);
    const out: number[] = [];
    for (let step = 0; step < maxTokens; step++) {
      const ok = mask.allowed();
      let ids = [...ok.keys()].filter((i) => ok[i]);
      expect(ids.length).toBeGreaterThan(0);
      // Prefer ending once allowed, and closing over opening, so walks finish.
      const ends = ids.filter((i) => eog.includes(i));
      if (ends.length && rand() < 0.5) return { text: tok.decode(out), ended: true };
      const closers = ids.filter((i) => /^[\]}"]/.test(Buffer.from(bytes[i]).toString()) || /^\d/.test(Buffer.from(bytes[i]).toString()));
      if (closers.length && rand() < 0.6) ids = closers;
      const id = ids[Math.floor(rand() * ids.length)];
      if (eog.includes(id)) return { text: tok.decode(out), ended: true };
      expect(mask.accept(id)).toBe(true);
      out.push(id);
    }
    return { text: tok.decode(out), ended: false };
  }

  it('every token the mask allows keeps the output valid JSON: random walks end in parseable objects', () => {
    let finished = 0;
    for (let seed = 1; seed <= 20; seed++) {
      const { text, ended } = randomWalk(new GrammarMask(index, jsonGrammar()), seed);
      expect(viable(jsonGrammar(), text)).toBe(true);
      if (ended) {
        finished++;
        expect(() => JSON.parse(text), text).not.toThrow();
        expect(typeof JSON.parse(text)).toBe('object');
      }
    }
    expect(finished).toBeGreaterThan(5);
  });

  it('random walks under a schema end in documents that validate', () => {
    const schema = { type: 'object', properties: { book: { enum: ['Genesis', 'Exodus'] }, chapter: { type: 'integer' }, words: { type: 'array', items: { type: 'string', maxLength: 12 }, maxItems: 3 } }, required: ['book', 'chapter', 'words'] };
    let finished = 0;
    for (let seed = 1; seed <= 20; seed++) {
      const { text, ended } = randomWalk(new GrammarMask(index, schemaGrammar(schema)), seed);
      if (!ended) continue;
      finished++;
      const v = JSON.parse(text);
      expect(Object.keys(v)).toEqual(['book', 'chapter', 'words']);
      expect(['Genesis', 'Exodus']).toContain(v.book);
      expect(Number.isInteger(v.chapter)).toBe(true);
      expect(v.words.length).toBeLessThanOrEqual(3);
    }
    expect(finished).toBeGreaterThan(5);
  });

  /**
   * A model that loves whitespace: whenever the mask allows a token made only
   * of whitespace it takes the longest such token; otherwise it ends if it
   * may, else it takes the first allowed token that closes or separates
   * (} then ] , : "), else the first allowed digit, else the first allowed
   * token. Inside a string it takes spaces too, so strings need maxLength.
   * With whitespace bounded between tokens it must move on after each gap.
   */
  function whitespaceLover(mask: GrammarMask, budget: number): { text: string; ended: boolean; tokens: number } {
    const isWs = (b: Uint8Array) => b.length > 0 && b.every((x) => x === 0x20 || x === 0x09 || x === 0x0a || x === 0x0d);
    const out: number[] = [];
    for (let step = 0; step < budget; step++) {
      const ok = mask.allowed();
      const ids = [...ok.keys()].filter((i) => ok[i]);
      const ws = ids.filter((i) => isWs(bytes[i])).sort((a, b) => bytes[b].length - bytes[a].length || a - b);
      let id: number | undefined = ws[0];
      if (id === undefined && ids.some((i) => eog.includes(i))) return { text: tok.decode(out), ended: true, tokens: out.length };
      for (const c of '}],:"') id ??= ids.find((i) => bytes[i][0] === c.charCodeAt(0));
      id ??= ids.find((i) => bytes[i][0] >= 0x30 && bytes[i][0] <= 0x39) ?? ids[0];
      expect(mask.accept(id)).toBe(true);
      out.push(id);
    }
    return { text: tok.decode(out), ended: false, tokens: out.length };
  }

  it('a model biased toward whitespace still closes the object within a modest budget, as JSON that parses', () => {
    // No gap between JSON tokens holds more than one space, or a newline and 20 spaces or tabs.
    const gap = (text: string) => Math.max(0, ...(text.match(/[ \t\n\r]+/g) ?? []).map((w) => w.length));
    const free = whitespaceLover(new GrammarMask(index, jsonGrammar()), 60);
    expect(free.ended, JSON.stringify(free.text)).toBe(true);
    expect(JSON.parse(free.text)).toEqual({});
    expect(free.text).toMatch(/^\{\n[ \t]{20}\}$/);
    const schema = {
      type: 'object',
      properties: { book: { enum: ['Genesis', 'Exodus'] }, verses: { type: 'array', items: { type: 'integer' }, minItems: 2, maxItems: 3 }, note: { type: 'string', maxLength: 4 } },
      required: ['book', 'verses', 'note'],
    };
    // 16 gaps of 21 whitespace tokens (a newline, 20 tabs) and 46 other tokens: 382
    const doc = whitespaceLover(new GrammarMask(index, schemaGrammar(schema)), 400);
    expect(doc.ended, JSON.stringify(doc.text)).toBe(true);
    const v = JSON.parse(doc.text);
    expect(Object.keys(v)).toEqual(['book', 'verses', 'note']);
    expect(v.note).toMatch(/^ {0,4}$/);
    expect(v.verses.length).toBeGreaterThanOrEqual(2);
    expect(gap(doc.text.replace(/"[^"]*"/g, '""'))).toBeLessThanOrEqual(21);
  });

  it('allows only end tokens once the value is complete, and no end token before', () => {
    const m = new GrammarMask(index, jsonGrammar());
    for (const id of tok.encode('{"a": 1', { addSpecial: false })) expect(m.accept(id)).toBe(true);
    let ok = m.allowed();
    expect(eog.some((i) => ok[i])).toBe(false);
    for (const id of tok.encode('}', { addSpecial: false })) expect(m.accept(id)).toBe(true);
    ok = m.allowed();
    expect([...ok.keys()].filter((i) => ok[i]).sort()).toEqual([...eog].sort());
  });

  it('agrees with stepping every token byte by byte', () => {
    const g = jsonGrammar();
    const r = new Recognizer(g);
    // single-byte tokens drive the mask to each prefix's state
    const single = new Map<number, number>();
    bytes.forEach((b, i) => b.length === 1 && !single.has(b[0]) && single.set(b[0], i));
    for (const prefix of ['', '{', '{"ab', '{"a": 1', '{"a": [tr', '{"a": "x\\']) {
      const m = new GrammarMask(index, g);
      for (const b of new TextEncoder().encode(prefix)) expect(m.accept(single.get(b)!)).toBe(true);
      const s = r.feed(r.start(), prefix)!;
      const ok = m.allowed();
      for (let id = 0; id < bytes.length; id++) {
        if (bytes[id].length === 0) continue;
        const t = r.feed(s, bytes[id]);
        expect(ok[id] === 1, `${JSON.stringify(prefix)} + ${JSON.stringify(Buffer.from(bytes[id]).toString())}`).toBe(t !== undefined);
      }
    }
  });
});
