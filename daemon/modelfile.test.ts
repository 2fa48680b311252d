import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isKilnError } from '../common/errors.js';
import {
  formatModelfile,
  parametersToText,
  parseModelfile,
  PARAMETER_TYPES,
  type Modelfile,
} from './modelfile.js';

const EMPTY = { adapters: [], parameters: {}, license: [], messages: [] };

function modelfileError(text: string): string {
  try {
    parseModelfile(text);
  } catch (e) {
    if (isKilnError(e, 'E_MODELFILE')) return e.message;
    throw e;
  }
  throw new Error(`parsed without error: ${JSON.stringify(text)}`);
}

describe('parseModelfile', () => {
  it('reads the instructions of a typical Modelfile', () => {
    const text = [
      '# a mario blueprint',
      'FROM llama3.2',
      '',
      'PARAMETER temperature 1',
      'PARAMETER num_ctx 4096',
      'PARAMETER stop <|start_header_id|>',
      'PARAMETER stop "<|eot_id|>"',
      'PARAMETER use_mmap false',
      'SYSTEM You are Mario from super mario bros, acting as an assistant.',
      'TEMPLATE """{{ if .System }}<|start_header_id|>system<|end_header_id|>',
      '',
      '{{ .System }}<|eot_id|>{{ end }}"""',
      'ADAPTER ./lora.gguf',
      'MESSAGE user Is Toronto in Canada?',
      'MESSAGE assistant "yes"',
      'LICENSE """MIT"""',
      'LICENSE Apache-2.0',
    ].join('\n');
    expect(parseModelfile(text)).toEqual({
      from: 'llama3.2',
      adapters: ['./lora.gguf'],
      template: '{{ if .System }}<|start_header_id|>system<|end_header_id|>\n\n{{ .System }}<|eot_id|>{{ end }}',
      system: 'You are Mario from super mario bros, acting as an assistant.',
      parameters: { temperature: 1, num_ctx: 4096, stop: ['<|start_header_id|>', '<|eot_id|>'], use_mmap: false },
      license: ['MIT', 'Apache-2.0'],
      messages: [
        { role: 'user', content: 'Is Toronto in Canada?' },
        { role: 'assistant', content: 'yes' },
      ],
    });
  });

  it.each<[string, string, Partial<Modelfile>]>([
    ['instructions are case-insensitive', 'from m\nSystem hi\nparameter TOP_K 5', { from: 'm', system: 'hi', parameters: { top_k: 5 } }],
    ['blanks around values are trimmed', '  FROM \t m  \t\nSYSTEM   a  b  ', { from: 'm', system: 'a  b' }],
    ['CRLF reads as LF', 'FROM m\r\nSYSTEM """a\r\nb"""\r\n', { from: 'm', system: 'a\nb' }],
    ['# only starts a comment at line start', 'FROM m\nSYSTEM #1 rule\n  # indented comment', { from: 'm', system: '#1 rule' }],
    ['"..." may span lines', 'FROM m\nSYSTEM "a\nb"', { from: 'm', system: 'a\nb' }],
    ['escaped quote and backslash', 'FROM m\nSYSTEM "say \\"hi\\" \\\\ bye"', { from: 'm', system: 'say "hi" \\ bye' }],
    ['other backslashes stay as written', 'FROM m\nSYSTEM """use \\n and \\t"""', { from: 'm', system: 'use \\n and \\t' }],
    ['escaped quotes inside """', 'FROM m\nSYSTEM """a \\"\\"\\" b"""', { from: 'm', system: 'a """ b' }],
    ['empty quoted values', 'FROM m\nSYSTEM ""\nTEMPLATE """"""', { from: 'm', system: '', template: '' }],
    ['quoted FROM path with spaces', 'FROM "/models/my model.gguf"', { from: '/models/my model.gguf' }],
    ['plain FROM path with spaces', 'FROM /models/my model.gguf', { from: '/models/my model.gguf' }],
    ['later SYSTEM and TEMPLATE win', 'FROM m\nSYSTEM a\nSYSTEM b\nTEMPLATE x\nTEMPLATE y', { from: 'm', system: 'b', template: 'y' }],
    ['a later scalar parameter wins', 'FROM m\nPARAMETER temperature 0.2\nPARAMETER temperature 0.7', { from: 'm', parameters: { temperature: 0.7 } }],
    ['negative integers and exponents', 'FROM m\nPARAMETER seed -1\nPARAMETER num_predict -2\nPARAMETER mirostat_eta 1e-1', { from: 'm', parameters: { seed: -1, num_predict: -2, mirostat_eta: 0.1 } }],
    ['Go ParseBool spellings', 'FROM m\nPARAMETER numa TRUE\nPARAMETER use_mlock 0\nPARAMETER penalize_newline t', { from: 'm', parameters: { numa: true, use_mlock: false, penalize_newline: true } }],
    ['a single stop is still a list', 'FROM m\nPARAMETER stop User:', { from: 'm', parameters: { stop: ['User:'] } }],
    ['think: a boolean or a level', 'FROM m\nPARAMETER think false\nPARAMETER think HIGH', { from: 'm', parameters: { think: 'high' } }],
    ['think false', 'FROM m\nPARAMETER think false', { from: 'm', parameters: { think: false } }],
    ['KV cache types, of both or of K and V', 'FROM m\nPARAMETER kv_cache_type Q8_0\nPARAMETER kv_cache_type_v q4_0', { from: 'm', parameters: { kv_cache_type: 'q8_0', kv_cache_type_v: 'q4_0' } }],
    ['message roles are case-insensitive', 'FROM m\nMESSAGE System be brief', { from: 'm', messages: [{ role: 'system', content: 'be brief' }] }],
    ['multi-line MESSAGE', 'FROM m\nMESSAGE user """line 1\nline 2"""', { from: 'm', messages: [{ role: 'user', content: 'line 1\nline 2' }] }],
    ['FROM need not come first', 'SYSTEM s\nFROM m', { from: 'm', system: 's' }],
  ])('%s', (_, text, expected) => {
    expect(parseModelfile(text)).toEqual({ ...EMPTY, ...expected });
  });

  it.each([
    ['no FROM', 'SYSTEM hi', /no FROM/],
    ['empty text', '', /no FROM/],
    ['FROM twice', 'FROM a\nFROM b', /line 2: FROM given twice/],
    ['FROM without value', 'FROM', /line 1: FROM needs a value/],
    ['FROM ""', 'FROM ""', /line 1: FROM needs a value/],
    ['SYSTEM without value', 'FROM m\nSYSTEM   ', /line 2: SYSTEM needs a value/],
    ['unknown instruction', 'FROM m\n\nRUN rm -rf /', /line 3: unknown instruction 'RUN'/],
    ['unknown parameter', 'FROM m\nPARAMETER temprature 1', /line 2: unknown parameter 'temprature'/],
    ['PARAMETER without name', 'FROM m\nPARAMETER', /line 2: PARAMETER needs a name/],
    ['PARAMETER without value', 'FROM m\nPARAMETER num_ctx', /line 2: PARAMETER num_ctx needs a value/],
    ['fractional integer', 'FROM m\nPARAMETER num_ctx 4096.5', /line 2: PARAMETER num_ctx must be an integer, got '4096.5'/],
    ['integer out of range', 'FROM m\nPARAMETER seed 99999999999999999999', /must be an integer/],
    ['not a number', 'FROM m\nPARAMETER temperature hot', /line 2: PARAMETER temperature must be a number/],
    ['infinite number', 'FROM m\nPARAMETER temperature 1e999', /must be a number/],
    ['hex number', 'FROM m\nPARAMETER top_k 0x10', /must be an integer/],
    ['an unknown KV cache type', 'FROM m\nPARAMETER kv_cache_type q5_1', /line 2: PARAMETER kv_cache_type must be f16, q8_0 or q4_0, got 'q5_1'/],
    ['think of another word', 'FROM m\nPARAMETER think maybe', /line 2: PARAMETER think must be true, false, high, medium or low, got 'maybe'/],
    ['an Object.prototype name as parameter', 'FROM m\nPARAMETER constructor 1', /unknown parameter 'constructor'/],
    ['__proto__ as parameter', 'FROM m\nPARAMETER __proto__ 1', /unknown parameter '__proto__'/],
    ['an Object.prototype name as boolean', 'FROM m\nPARAMETER numa constructor', /must be true or false/],
    ['not a boolean', 'FROM m\nPARAMETER use_mmap yes', /line 2: PARAMETER use_mmap must be true or false/],
    ['bad role', 'FROM m\nMESSAGE tool hi', /line 2: MESSAGE role must be system, user or assistant, got 'tool'/],
    ['MESSAGE without role', 'FROM m\nMESSAGE', /line 2: MESSAGE role must be/],
    ['MESSAGE without content', 'FROM m\nMESSAGE user', /line 2: MESSAGE needs a value/],
    ['unterminated """', 'FROM m\nSYSTEM """abc\n\n', /line 2: unterminated """ string/],
    ['unterminated "', 'FROM m\nSYSTEM "abc', /line 2: unterminated " string/],
    ['text after closing quote', 'FROM m\nSYSTEM """a\nb""" trailing', /line 3: unexpected text after closing quote/],
  ])('rejects %s', (_, text, message) => {
    expect(modelfileError(text)).toMatch(message);
  });

  it('throws nothing but E_MODELFILE on arbitrary text', () => {
    const piece = fc.constantFrom('FROM', 'from ', 'PARAMETER ', 'stop', 'num_ctx', ' 1', 'MESSAGE', ' user', 'SYSTEM', ' ', '\n', '"', '\"\"\"', '\\', '#', 'x', '\r\n');
    const text = fc.oneof(fc.string({ unit: 'binary' }), fc.array(piece, { maxLength: 30 }).map((a) => a.join('')));
    fc.assert(
      fc.property(text, (t) => {
        try {
          parseModelfile(t);
        } catch (e) {
          if (!isKilnError(e, 'E_MODELFILE')) throw e;
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('counts lines inside multi-line values when reporting errors', () => {
    expect(modelfileError('FROM m\nTEMPLATE """a\nb\nc"""\nPARAMETER bogus 1')).toMatch(/^Modelfile line 5: /);
  });
});

describe('formatModelfile', () => {
  const mf: Modelfile = {
    from: '/root/.kiln/blobs/sha256-abc',
    adapters: [],
    template: '{{ .Prompt }}',
    system: 'Be "brief".',
    parameters: { num_ctx: 8192, stop: ['<|eot_id|>', 'User: '], temperature: 0.7, use_mmap: true },
    license: ['MIT'],
    messages: [{ role: 'user', content: 'hi' }],
  };

  it('prints what `ollama show --modelfile` prints', () => {
    expect(formatModelfile(mf, 'llama3.2:latest')).toBe(
      [
        '# Modelfile generated by "kiln show"',
        '# To build a new Modelfile based on this, replace FROM with:',
        '# FROM llama3.2:latest',
        '',
        'FROM /root/.kiln/blobs/sha256-abc',
        'TEMPLATE """{{ .Prompt }}"""',
        'SYSTEM """Be "brief"."""',
        'PARAMETER num_ctx 8192',
        'PARAMETER stop <|eot_id|>',
        'PARAMETER stop "User: "',
        'PARAMETER temperature 0.7',
        'PARAMETER use_mmap true',
        'MESSAGE user hi',
        'LICENSE """MIT"""',
        '',
      ].join('\n'),
    );
  });

  it.each<[string, Modelfile]>([
    ['the example', mf],
    ['quotes at the edges of """ values', { ...EMPTY, from: 'm', system: '"a"', template: '""""', license: ['x\\', '\\"""\\'] }],
    ['values that need quoting', { ...EMPTY, from: ' m ', adapters: ['"q', ''], messages: [{ role: 'assistant', content: 'a\nb' }] }],
    ['backslashes before quotes', { ...EMPTY, from: 'm', system: '\\"\\\\"', parameters: { stop: ['\\', '"', '\\"'] } }],
  ])('round-trips %s', (_, value) => {
    expect(parseModelfile(formatModelfile(value, 'x'))).toEqual(value);
  });

  it('round-trips arbitrary Modelfiles', () => {
    // CRLF is the one thing the format cannot carry: the reader folds it to LF.
    const quoteHeavy = fc.array(fc.constantFrom('"', '\\', '\n', ' ', 'a', '\r', '#', '\t'), { maxLength: 12 }).map((a) => a.join(''));
    const anyText = fc
      .oneof(fc.string({ unit: 'grapheme-ascii', maxLength: 30 }), quoteHeavy, fc.string({ unit: 'binary', maxLength: 20 }))
      .filter((s) => !s.includes('\r\n'));
    const number = (key: string) =>
      PARAMETER_TYPES[key] === 'int'
        ? fc.integer({ min: -1_000_000, max: 1_000_000 })
        : fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e6, max: 1e6 }).filter((d) => !Object.is(d, -0));
    const keys = Object.keys(PARAMETER_TYPES);
    const param = fc.constantFrom(...keys).chain((key) => {
      const type = PARAMETER_TYPES[key];
      const value =
        type === 'strings'
          ? fc.array(anyText, { minLength: 1, maxLength: 3 })
          : type === 'bool'
            ? fc.boolean()
            : type === 'think'
              ? fc.constantFrom(true, false, 'high', 'medium', 'low')
              : type === 'kvtype'
                ? fc.constantFrom('f16', 'q8_0', 'q4_0')
                : number(key);
      return fc.tuple(fc.constant(key), value as fc.Arbitrary<unknown>);
    });
    const modelfile = fc.record({
      from: anyText.filter((s) => s !== ''),
      adapters: fc.array(anyText, { maxLength: 2 }),
      template: fc.option(anyText, { nil: undefined }),
      system: fc.option(anyText, { nil: undefined }),
      parameters: fc.array(param, { maxLength: 4 }).map((ps) => Object.fromEntries(ps)),
      license: fc.array(anyText, { maxLength: 2 }),
      messages: fc.array(fc.record({ role: fc.constantFrom('system', 'user', 'assistant'), content: anyText }), { maxLength: 3 }),
    });
    fc.assert(
      fc.property(modelfile, (value) => {
        const clean = JSON.parse(JSON.stringify(value)) as Modelfile; // drop undefined fields
        expect(parseModelfile(formatModelfile(clean))).toEqual(clean);
      }),
      { numRuns: 1000 },
    );
  });
});

describe('parametersToText', () => {
  it('pads keys to 30 columns and quotes each stop value', () => {
    expect(parametersToText({ num_ctx: 8192, stop: ['<|eot_id|>', 'a "b"'], temperature: 0.6, use_mmap: false })).toBe(
      [
        'num_ctx                        8192',
        'stop                           "<|eot_id|>"',
        'stop                           "a \\"b\\""',
        'temperature                    0.6',
        'use_mmap                       false',
      ].join('\n'),
    );
  });

  it('is empty for no parameters', () => {
    expect(parametersToText({})).toBe('');
  });
});
