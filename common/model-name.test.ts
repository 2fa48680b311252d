import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isKilnError } from './errors.js';
import {
  defaultTagCandidates,
  displayName,
  manifestRelPath,
  nameKey,
  parseModelName,
  safeJoin,
  tagQuantization,
} from './model-name.js';

// [input, key, display] — key is host/namespace/model:tag, lowercased.
const VALID: [string, string, string][] = [
  ['llama3.1', 'registry.ollama.ai/library/llama3.1:latest', 'llama3.1:latest'],
  ['llama3.1:8b', 'registry.ollama.ai/library/llama3.1:8b', 'llama3.1:8b'],
  ['Llama3.1:8B', 'registry.ollama.ai/library/llama3.1:8b', 'Llama3.1:8B'],
  ['llama3.1:8b-instruct-q4_K_M', 'registry.ollama.ai/library/llama3.1:8b-instruct-q4_k_m', 'llama3.1:8b-instruct-q4_K_M'],
  ['ns/m', 'registry.ollama.ai/ns/m:latest', 'ns/m:latest'],
  ['jmorgan/llava:13b', 'registry.ollama.ai/jmorgan/llava:13b', 'jmorgan/llava:13b'],
  ['library/m:t', 'registry.ollama.ai/library/m:t', 'm:t'],
  ['registry.ollama.ai/library/m:t', 'registry.ollama.ai/library/m:t', 'm:t'],
  ['REGISTRY.OLLAMA.AI/Library/M:T', 'registry.ollama.ai/library/m:t', 'M:T'],
  ['registry.ollama.ai/ns/m', 'registry.ollama.ai/ns/m:latest', 'ns/m:latest'],
  ['registry.ollama.ai/m', 'registry.ollama.ai/library/m:latest', 'm:latest'],
  ['127.0.0.1:5000/ns/model:tag', '127.0.0.1:5000/ns/model:tag', '127.0.0.1:5000/ns/model:tag'],
  ['localhost:5000/m', 'localhost:5000/library/m:latest', 'localhost:5000/library/m:latest'],
  ['localhost/m', 'registry.ollama.ai/localhost/m:latest', 'localhost/m:latest'],
  ['example.com/m:1', 'example.com/library/m:1', 'example.com/library/m:1'],
  // Two parts with a dot: the first is a host, not a dotted namespace.
  ['ns.with.dot/m', 'ns.with.dot/library/m:latest', 'ns.with.dot/library/m:latest'],
  ['hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M', 'hf.co/bartowski/llama-3.2-1b-instruct-gguf:q4_k_m', 'hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M'],
  ['hf.co/user/repo', 'hf.co/user/repo:latest', 'hf.co/user/repo:latest'],
  ['a..b', 'registry.ollama.ai/library/a..b:latest', 'a..b:latest'],
  ['_m', 'registry.ollama.ai/library/_m:latest', '_m:latest'],
  ['m:_t', 'registry.ollama.ai/library/m:_t', 'm:_t'],
  ['m-._:v1.0', 'registry.ollama.ai/library/m-._:v1.0', 'm-._:v1.0'],
  ['a'.repeat(80) + ':' + 't'.repeat(80), `registry.ollama.ai/library/${'a'.repeat(80)}:${'t'.repeat(80)}`, 'a'.repeat(80) + ':' + 't'.repeat(80)],
  [`${'h'.repeat(344)}:65535/n/m`, `${'h'.repeat(344)}:65535/n/m:latest`, `${'h'.repeat(344)}:65535/n/m:latest`],
];

const INVALID: string[] = [
  '',
  ':tag',
  'm:',
  'm:t:t',
  '/m',
  'm/',
  '//m',
  'a//b',
  '../x',
  'x/../y',
  '..',
  '.m',
  '-m',
  'm:-t',
  'm:.t',
  'h/ns.dot/m',
  'a/b/c/d',
  'a'.repeat(81),
  'm:' + 't'.repeat(81),
  'n'.repeat(81) + '/m',
  `${'h'.repeat(345)}:65535/n/m`,
  'lláma',
  'm:ťag',
  'my model',
  ' m',
  'm ',
  'm\n',
  'm\0',
  'm\\x',
  'localhost:/m',
  'localhost:123456/m',
  'a:b:c/m',
  'h:1/n:x/m',
  `m@sha256:${'a'.repeat(64)}`,
  'm:t@sha256:abc',
  '1e-400.0.0.1:9/fuzz/m:1', // a host WHATWG URL refuses (found by bench/fuzz.ts)
];

describe('parseModelName', () => {
  it.each(VALID)('parses %j', (input, key, display) => {
    const name = parseModelName(input);
    expect(nameKey(name)).toBe(key);
    expect(displayName(name)).toBe(display);
    expect(nameKey(parseModelName(display))).toBe(key);
  });

  it.each(INVALID.map((s) => [s]))('rejects %j with E_INVALID_NAME', (input) => {
    let thrown: unknown;
    try {
      parseModelName(input);
    } catch (e) {
      thrown = e;
    }
    expect(isKilnError(thrown, 'E_INVALID_NAME')).toBe(true);
    expect((thrown as Error).message).toMatch(/^invalid model name '/);
  });

  it('matches names case-insensitively', () => {
    expect(nameKey(parseModelName('Llama3.1:8B'))).toBe(nameKey(parseModelName('llama3.1:8b')));
  });

  it('splits hf.co names into host, user and repo', () => {
    const n = parseModelName('hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M');
    expect([n.host, n.namespace, n.model, n.tag]).toEqual(['hf.co', 'bartowski', 'llama-3.2-1b-instruct-gguf', 'q4_k_m']);
  });
});

describe('paths', () => {
  it('maps a name to the Ollama manifest layout', () => {
    expect(manifestRelPath(parseModelName('Llama3.1:8B'))).toBe('manifests/registry.ollama.ai/library/llama3.1/8b');
    expect(manifestRelPath(parseModelName('localhost:5000/m'))).toBe('manifests/localhost:5000/library/m/latest');
  });

  it.each([['../x'], ['a/../../x'], ['/etc/passwd'], ['a\0b'], ['..']])('safeJoin refuses %j', (rel) => {
    expect(() => safeJoin('/store', rel)).toThrow(/path/);
  });

  it('safeJoin keeps paths inside the root', () => {
    expect(safeJoin('/store', 'manifests/a/b')).toBe(path.resolve('/store/manifests/a/b'));
    expect(safeJoin('/store/', 'a/../b')).toBe(path.resolve('/store/b'));
    expect(safeJoin('/', 'x')).toBe(path.resolve('/x'));
  });
});

describe('tagQuantization', () => {
  it.each([
    ['8b-instruct-q4_K_M', 'Q4_K_M'],
    ['q8_0', 'Q8_0'],
    ['70b-text-fp16', 'F16'],
    ['7b-f16', 'F16'],
    ['8b', null],
    ['latest', null],
    ['instruct', null],
    ['Q4_K_M', 'Q4_K_M'],
    ['IQ4_XS', 'IQ4_XS'],
    ['2b-iq2_xxs', 'IQ2_XXS'],
    ['8b-instruct-bf16', 'BF16'],
    ['70b-instruct-q2_K', 'Q2_K'],
    ['13b-q3_K_L', 'Q3_K_L'],
    ['7b-q4_0', 'Q4_0'],
    ['7b-q5_1', 'Q5_1'],
    ['7b-q6_K', 'Q6_K'],
    ['UD-Q4_K_XL', 'Q4_K_XL'],
    ['q4_k_m-extra', 'Q4_K_M'],
    ['q4_k_mm', null],
    ['q9_0', null],
  ])('%s → %s', (tag, quant) => {
    expect(tagQuantization(tag)).toBe(quant);
  });
});

describe('defaultTagCandidates', () => {
  const tags = (s: string) => defaultTagCandidates(parseModelName(s)).map(displayName);
  it.each([
    ['llama3', ['llama3:latest', 'llama3:q4_K_M', 'llama3:instruct-q4_K_M']],
    ['llama3:8b', ['llama3:8b', 'llama3:8b-q4_K_M', 'llama3:8b-instruct-q4_K_M']],
    ['Qwen2.5:1.5B', ['Qwen2.5:1.5B', 'Qwen2.5:1.5B-q4_K_M', 'Qwen2.5:1.5B-instruct-q4_K_M']],
    ['mixtral:8x7b', ['mixtral:8x7b', 'mixtral:8x7b-q4_K_M', 'mixtral:8x7b-instruct-q4_K_M']],
    ['llama3:8b-text', ['llama3:8b-text', 'llama3:8b-text-q4_K_M']],
    ['llama3:8b-instruct-q8_0', ['llama3:8b-instruct-q8_0']],
    ['ns/m:70b-fp16', ['ns/m:70b-fp16']],
    ['hf.co/u/r', ['hf.co/u/r:latest', 'hf.co/u/r:Q4_K_M']],
    ['hf.co/u/r:Q8_0', ['hf.co/u/r:Q8_0']],
    ['localhost:5000/Ns/M:2b', ['localhost:5000/Ns/M:2b', 'localhost:5000/Ns/M:2b-q4_K_M', 'localhost:5000/Ns/M:2b-instruct-q4_K_M']],
  ])('%s', (input, expected) => {
    expect(tags(input)).toEqual(expected);
  });

  it('keeps host, namespace and model of the request', () => {
    for (const c of defaultTagCandidates(parseModelName('localhost:5000/Ns/M'))) {
      expect([c.host, c.namespace, c.model]).toEqual(['localhost:5000', 'ns', 'm']);
    }
  });
});

describe('parseModelName on arbitrary input', () => {
  const root = path.resolve('/kiln-store');
  const inside = root + path.sep;

  function check(s: string): void {
    let name;
    try {
      name = parseModelName(s);
    } catch (e) {
      if (!isKilnError(e, 'E_INVALID_NAME')) throw e;
      return;
    }
    const rel = manifestRelPath(name);
    expect(rel.split('/')).not.toContain('..');
    expect(safeJoin(root, rel).startsWith(inside)).toBe(true);
    expect(nameKey(parseModelName(displayName(name)))).toBe(nameKey(name));
    expect(displayName(parseModelName(displayName(name)))).toBe(displayName(name));
  }

  it('holds for arbitrary unicode strings', () => {
    fc.assert(fc.property(fc.string({ unit: 'grapheme', maxLength: 60 }), check), { numRuns: 2000 });
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 60 }), check), { numRuns: 2000 });
  });

  it('holds for strings built from the name alphabet', () => {
    const token = fc.constantFrom('a', 'Z', '0', '9', '_', '-', '.', '..', '/', ':', '@', 'hf.co', 'localhost', '5000', 'sha256', 'q4_K_M');
    const name = fc.array(token, { maxLength: 14 }).map((ts) => ts.join(''));
    fc.assert(fc.property(name, check), { numRuns: 5000 });
  });

  it('holds for well-formed names built from random parts', () => {
    const word = fc.stringMatching(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}$/);
    const ns = fc.stringMatching(/^[A-Za-z0-9_][A-Za-z0-9_-]{0,20}$/);
    // A port is 1–65535 (URL refuses more); the host part stays within what a URL takes as a hostname.
    const host = fc.tuple(fc.stringMatching(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}$/), fc.option(fc.integer({ min: 1, max: 65535 })))
      .filter(([h]) => URL.canParse(`https://${h}/`))
      .map(([h, p]) => (p === null ? h : `${h}:${p}`));
    const full = fc.tuple(host, ns, word, word).map(([h, n, m, t]) => `${h}/${n}/${m}:${t}`);
    fc.assert(
      fc.property(full, (s) => {
        check(s);
        expect(() => parseModelName(s)).not.toThrow();
      }),
      { numRuns: 2000 },
    );
  });
});
