import { describe, expect, it } from 'vitest';
import { isKilnError } from '../../common/errors.js';
import { parseGoTemplate } from './go-template.js';
import { makeStruct } from './values.js';

const render = (src: string, data?: unknown, opts?: Parameters<ReturnType<typeof parseGoTemplate>['execute']>[1]) =>
  parseGoTemplate(src).execute(data, opts);

/** [name, template, data, expected output] */
type Case = [string, string, unknown, string];

const point = makeStruct({ name: 'main.Point', fields: [{ name: 'X' }, { name: 'Y' }] }, { X: 1, Y: 2 });

const constructs: Case[] = [
  ['plain text passes through', 'hello {world}', undefined, 'hello {world}'],
  ['field of a map', '{{.A}}', { A: 'x' }, 'x'],
  ['nested fields', '{{.A.B.C}}', { A: { B: { C: 3 } } }, '3'],
  ['missing map key prints <no value>', '[{{.Missing}}]', {}, '[<no value>]'],
  ['nil value prints <no value>', '[{{.A}}]', { A: null }, '[<no value>]'],
  ['field of a missing value is empty, not an error', '[{{.A.B}}]', {}, '[<no value>]'],
  ['print of a missing value is <nil>', '{{print .Missing}}', {}, '<nil>'],
  ['dot', '{{.}}', 'str', 'str'],
  ['struct fields and %v', '{{.X}},{{.Y}} {{.}}', point, '1,2 {1 2}'],
  ['slices and maps print like Go', '{{.L}} {{.M}}', { L: [1, 'a', true], M: { b: 2, a: 1 } }, '[1 a true] map[a:1 b:2]'],
  ['integer literals', '{{1}} {{-2}} {{+3}} {{0x1F}} {{1_000}} {{0o17}} {{017}} {{0b101}}', undefined, '1 -2 3 31 1000 15 15 5'],
  ['float and char literals', "{{1.5}} {{.25}} {{1e3}} {{0x1p-2}} {{'a'}} {{'\\n'}}", undefined, '1.5 0.25 1000 0.25 97 10'],
  ['interpreted string escapes', '{{"a\\tb\\u00e9\\x41\\101\\"q\\\\"}}', undefined, 'a\tbéAA"q\\'],
  ['UTF-8 byte escapes join into characters', '{{"\\xc3\\xa9"}}', undefined, 'é'],
  ['raw strings keep backslashes and new lines', '{{`x\\n\ny`}}', undefined, 'x\\n\ny'],
  ['booleans', '{{true}} {{false}}', undefined, 'true false'],
  ['floats print with Go %v', '{{.A}} {{.B}} {{.C}} {{.D}}', { A: 0.1, B: 1.5e-7, C: 123456.5, D: 1234567.5 }, '0.1 1.5e-07 123456.5 1.2345675e+06'],
  ['declare, use, assign a variable', '{{$x := 1}}{{$x}}{{$x = 2}}{{$x}}', undefined, '12'],
  ['$ is the data', '{{with .A}}{{$.B}}{{end}}', { A: 1, B: 'top' }, 'top'],
  ['$ fields', '{{$.A}}', { A: 'a' }, 'a'],
  ['inner declaration shadows until end', '{{$x := 1}}{{if true}}{{$x := 2}}{{$x}}{{end}}{{$x}}', undefined, '21'],
  ['assignment inside a block is visible after it', '{{$x := 1}}{{if true}}{{$x = 2}}{{end}}{{$x}}', undefined, '2'],
  ['declaration in an if condition', '{{if $v := .A}}{{$v}}{{end}}', { A: 'yes' }, 'yes'],
  ['pipeline passes the value as last argument', '{{"x" | printf "%s-%s" "a"}}', undefined, 'a-x'],
  ['multi-stage pipeline', '{{.L | len | printf "%03d"}}', { L: [1, 2] }, '002'],
  ['parenthesized pipelines', '{{len (slice .L 1)}}', { L: [1, 2, 3] }, '2'],
  ['field of a parenthesized value', '{{(index .L 1).Name}}', { L: [{ Name: 'a' }, { Name: 'b' }] }, 'b'],
  ['new lines inside an action', '{{if\n  (and\n    .A\n    .B)\n}}both{{end}}', { A: 1, B: 1 }, 'both'],
  ['if', '{{if .A}}yes{{end}}|{{if .B}}yes{{end}}', { A: 1, B: 0 }, 'yes|'],
  ['if/else', '{{if .A}}a{{else}}not a{{end}}', { A: '' }, 'not a'],
  ['else if chain', '{{range .L}}{{if eq . 1}}one{{else if eq . 2}}two{{else}}many{{end}},{{end}}', { L: [1, 2, 3] }, 'one,two,many,'],
  ['with sets dot', '{{with .A}}[{{.}}]{{end}}', { A: 'v' }, '[v]'],
  ['with/else keeps dot in else', '{{with .A}}[{{.}}]{{else}}{{.B}}{{end}}', { A: 0, B: 'b' }, 'b'],
  ['with declaration', '{{with $x := .A}}{{$x}}{{.}}{{end}}', { A: 'z' }, 'zz'],
  ['else with chain', '{{with .A}}a{{else with .B}}b={{.}}{{else}}c{{end}}', { B: 'x' }, 'b=x'],
  ['range over a slice sets dot', '{{range .L}}<{{.}}>{{end}}', { L: ['a', 'b'] }, '<a><b>'],
  ['range with index and element', '{{range $i, $v := .L}}{{$i}}={{$v}};{{end}}', { L: ['a', 'b'] }, '0=a;1=b;'],
  ['range with one variable gets the element', '{{range $v := .L}}{{$v}}{{end}}', { L: ['a', 'b'] }, 'ab'],
  ['range over a map is in key order', '{{range $k, $v := .M}}{{$k}}:{{$v}} {{end}}', { M: { b: 2, a: 1, c: 3 } }, 'a:1 b:2 c:3 '],
  ['range else on empty', '{{range .L}}x{{else}}empty{{end}}', { L: [] }, 'empty'],
  ['range else on missing', '{{range .Nope}}x{{else}}none{{end}}', {}, 'none'],
  ['range over an integer', '{{range 3}}{{.}}{{end}}', undefined, '012'],
  ['break', '{{range .L}}{{if eq . 3}}{{break}}{{end}}{{.}}{{end}}', { L: [1, 2, 3, 4] }, '12'],
  ['continue', '{{range .L}}{{if eq . 2}}{{continue}}{{end}}{{.}}{{end}}', { L: [1, 2, 3] }, '13'],
  ['break in a nested if of an inner range only leaves that range', '{{range .L}}[{{range $.L}}{{if eq . 2}}{{break}}{{end}}{{.}}{{end}}]{{end}}', { L: [1, 2] }, '[1][1]'],
  ['range body variables do not leak between iterations', '{{range .L}}{{$x := .}}{{$x}}{{end}}', { L: [1, 2] }, '12'],
  ['assignment to an outer variable across iterations', '{{$n := 0}}{{range .L}}{{$n = .}}{{end}}{{$n}}', { L: [5, 6] }, '6'],
  ['range over a slice of $ inside nested range', '{{range $i, $_ := .L}}{{len (slice $.L $i)}}{{end}}', { L: ['a', 'b', 'c'] }, '321'],
  ['define and template', '{{define "T"}}<{{.}}>{{end}}{{template "T" "x"}}{{template "T" 1}}', undefined, '<x><1>'],
  ['template without argument has nil dot', '{{define "T"}}[{{.}}]{{end}}{{template "T"}}', 'ignored', '[<no value>]'],
  ['template gets a fresh $', '{{define "T"}}{{$}}{{end}}{{$x := 1}}{{template "T" "in"}}', 'out', 'in'],
  ['block defines and invokes', '{{block "B" .}}default {{.}}{{end}}', 'v', 'default v'],
  ['recursive template', '{{define "R"}}{{if .}}{{index . 0}}{{template "R" (slice . 1)}}{{end}}{{end}}{{template "R" .L}}', { L: ['a', 'b', 'c'] }, 'abc'],
  ['comments vanish', 'a{{/* a comment\nover lines */}}b', undefined, 'ab'],
  ['comments with trim markers', 'a  {{- /* c */ -}}  b', undefined, 'ab'],
];

const trimming: Case[] = [
  ['left trim removes preceding white space', 'a \n\t {{- .A}}', { A: 'x' }, 'ax'],
  ['right trim removes following white space', '{{.A -}} \n\t b', { A: 'x' }, 'xb'],
  ['both', 'a\n{{- .A -}}\nb', { A: 'x' }, 'axb'],
  ['trim only touches white space', 'a.{{- .A -}}.b', { A: 'x' }, 'a.x.b'],
  ['a dash without a space is a number', 'x{{-3}}', undefined, 'x-3'],
  ['trim markers on control keywords', '{{- if true -}}\n  yes\n{{- end -}}\n', undefined, 'yes'],
  ['trim across an empty text run', '{{1 -}}   {{- 2}}', undefined, '12'],
  ['no trim without markers', 'a {{.A}} b', { A: 'x' }, 'a x b'],
];

describe('Go template constructs', () => {
  it.each([...constructs, ...trimming])('%s', (_name, src, data, expected) => {
    expect(render(src, data)).toBe(expected);
  });
});

describe('truthiness (if/with/not/and/or)', () => {
  const falsy: [string, unknown][] = [
    ['false', false], ['0', 0], ['empty string', ''], ['empty slice', []], ['empty map', {}], ['nil', null], ['missing', undefined],
  ];
  const truthy: [string, unknown][] = [
    ['true', true], ['1', 1], ['-1', -1], ['0.5', 0.5], ['"0"', '0'], ['" "', ' '], ['[0]', [0]], ['{a:0}', { a: 0 }], ['struct', point],
  ];
  it.each(falsy)('%s is false', (_n, v) => {
    expect(render('{{if .V}}T{{else}}F{{end}}{{not .V}}', { V: v })).toBe('Ftrue');
  });
  it.each(truthy)('%s is true', (_n, v) => {
    expect(render('{{if .V}}T{{else}}F{{end}}{{not .V}}', { V: v })).toBe('Tfalse');
  });
});

describe('functions', () => {
  const funcs: Case[] = [
    ['and returns the first falsy argument', '{{and 1 0 2}}|{{and 1 2}}', undefined, '0|2'],
    ['or returns the first truthy argument', '{{or 0 "" "x" "y"}}|{{or 0 ""}}', undefined, 'x|'],
    ['and short-circuits (no index error)', '{{and 0 (index .L 99)}}', { L: [] }, '0'],
    ['or short-circuits', '{{or 1 (index .L 99)}}', { L: [] }, '1'],
    ['and takes the pipeline value last', '{{1 | and 2}}', undefined, '1'],
    ['len counts UTF-8 bytes of strings', '{{len "héllo"}} {{len .L}} {{len .M}}', { L: [1, 2, 3], M: { a: 1 } }, '6 3 1'],
    ['index into slices, maps and nested', '{{index .L 1}} {{index .M "k"}} {{index .N 0 1}}', { L: ['a', 'b'], M: { k: 'v' }, N: [[1, 2]] }, 'b v 2'],
    ['index of a missing map key', '[{{index .M "nope"}}]', { M: {} }, '[<no value>]'],
    ['index of a string is a byte', '{{index "AB" 1}}', undefined, '66'],
    ['slice of a slice', '{{slice .L 1}} {{slice .L 1 2}} {{slice .L}} {{slice .L 0 1 2}}', { L: [1, 2, 3] }, '[2 3] [2] [1 2 3] [1]'],
    ['slice of a string is by bytes', '{{slice "control:x" 0 7}}|{{slice "abc" 1}}', undefined, 'control|bc'],
    ['eq compares against any of several', '{{eq .R "a" "b" "user"}} {{eq .R "a"}}', { R: 'user' }, 'true false'],
    ['eq with numbers and booleans', '{{eq 1 1}} {{eq 1 2}} {{eq true true}}', undefined, 'true false true'],
    ['eq with a missing value is false', '{{eq .Nope "x"}}', {}, 'false'],
    ['ne', '{{ne .R "user"}} {{ne .R "tool"}}', { R: 'user' }, 'false true'],
    ['ordered comparisons', '{{lt 1 2}} {{le 2 2}} {{gt 1 2}} {{ge 3 2}} {{lt "a" "b"}}', undefined, 'true true false true true'],
    ['print spaces between non-string operands', '{{print 1 2 "a" 3 "b" "c"}}', undefined, '1 2a3bc'],
    ['println', '{{println "a" 1}}', undefined, 'a 1\n'],
    ['printf verbs', '{{printf "%s|%d|%5.2f|%q|%v|%x|%t|%c|%-3s|%03d|%+d|%e|%g" "s" 42 3.14159 "q\\"" .L 255 true 65 "ab" 7 5 1234.5 0.000012}}', { L: [1, 2] }, 's|42| 3.14|"q\\""|[1 2]|ff|true|A|ab |007|+5|1.234500e+03|1.2e-05'],
    ['printf * width and %%', '{{printf "%*d%%" 4 7}}', undefined, '   7%'],
    ['printf reports bad verbs and missing or extra arguments', '{{printf "%d %s" "x"}}|{{printf "%s" "a" 1}}', undefined, '%!d(string=x) %!s(MISSING)|a%!(EXTRA int=1)'],
    ['printf refuses huge widths like Go', '{{printf "%*d" 100000000 1}}', undefined, '%!(BADWIDTH)1'],
    ['html', `{{html "<a href='x'>&\\"</a>"}}`, undefined, '&lt;a href=&#39;x&#39;&gt;&amp;&#34;&lt;/a&gt;'],
    ['js', `{{js "it's <b>\\"=\\"</b>\\n"}}`, undefined, "it\\'s \\u003Cb\\u003E\\\"\\u003D\\\"\\u003C/b\\u003E\\u000A"],
    ['urlquery', '{{urlquery "a b&c=d/é"}}', undefined, 'a+b%26c%3Dd%2F%C3%A9'],
    ['json encodes like Go: sorted keys, HTML-safe', '{{json .}}', { b: [1, 'x<y & z>'], a: null, c: true }, '{"a":null,"b":[1,"x\\u003cy \\u0026 z\\u003e"],"c":true}'],
    ['json of a struct keeps field order', '{{json .}}', point, '{"X":1,"Y":2}'],
    ['json of an unencodable value is empty, as in Ollama', '[{{json .}}]', Number.NaN, '[]'],
  ];
  it.each(funcs)('%s', (_name, src, data, expected) => {
    expect(render(src, data)).toBe(expected);
  });

  it('currentDate and yesterdayDate use the local date (Ollama)', () => {
    const now = () => new Date(2025, 0, 1, 12, 0, 0);
    expect(render('{{currentDate}} {{yesterdayDate}} {{currentDate "ignored"}}', undefined, { now })).toBe('2025-01-01 2024-12-31 2025-01-01');
  });
});

/** The error message starts with template:LINE:COL and contains `message`. */
function expectTemplateError(fn: () => unknown, line: number, col: number, message: string): void {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(isKilnError(err, 'E_TEMPLATE'), `expected E_TEMPLATE, got ${String(err)}`).toBe(true);
  const msg = (err as Error).message;
  expect(msg.startsWith(`template:${line}:${col}: `), msg).toBe(true);
  expect(msg).toContain(message);
}

describe('parse errors carry line and column', () => {
  const cases: [string, string, number, number, string][] = [
    ['unclosed action', 'ab\n{{ .A ', 2, 7, 'unclosed action'],
    ['unexpected EOF in if', '{{if .A}}x', 1, 11, 'unexpected EOF'],
    ['stray end', 'x{{end}}', 1, 4, 'unexpected {{end}}'],
    ['stray else', '{{else}}', 1, 3, 'unexpected {{else}}'],
    ['unknown function', '{{ foo 1 }}', 1, 4, 'function "foo" not defined'],
    ['undefined variable', 'line\n  {{ $x }}', 2, 6, 'undefined variable "$x"'],
    ['variable out of scope after end', '{{if true}}{{$x := 1}}{{end}}{{$x}}', 1, 32, 'undefined variable "$x"'],
    ['break outside range', '{{break}}', 1, 3, '{{break}} outside {{range}}'],
    ['continue outside range', '{{if 1}}{{continue}}{{end}}', 1, 11, '{{continue}} outside {{range}}'],
    ['non-executable pipeline stage', 'x\n{{ .A | 3 }}', 2, 9, 'non executable command in pipeline stage 2'],
    ['empty action', '{{ }}', 1, 4, 'missing value for command'],
    ['unterminated string', '{{ "abc }}', 1, 4, 'unterminated quoted string'],
    ['bad escape', '{{ "\\q" }}', 1, 4, 'invalid syntax in quoted string'],
    ['bad number', '{{ 1x }}', 1, 4, 'bad number syntax'],
    ['unclosed comment', 'a{{/* x }}', 1, 2, 'unclosed comment'],
    ['comment not filling the action', '{{/* x */ .A}}', 1, 8, 'comment ends before closing delimiter'],
    ['too many range variables', '{{range $i, $v, $w := .L}}{{end}}', 1, 15, 'too many declarations in range'],
    ['two variables outside range', '{{with $a, $b := .L}}{{end}}', 1, 10, 'too many declarations in with'],
    ['unclosed paren', '{{ len (1 }}', 1, 11, 'unclosed left paren'],
    ['unexpected right paren', '{{ 1) }}', 1, 5, 'unexpected right paren'],
    ['dot after a literal', '{{ "a".B }}', 1, 4, 'unexpected . after term'],
    ['else if cannot continue with', '{{with 1}}{{else if 1}}{{end}}', 1, 13, 'cannot continue {{with}}'],
    ['duplicate definitions', '{{define "a"}}1{{end}}{{define "a"}}2{{end}}', 1, 25, 'multiple definition of template "a"'],
    ['define inside a block', '{{if 1}}{{define "a"}}{{end}}{{end}}', 1, 11, 'only allowed at top level'],
    ['nil is not a command', '{{ nil }}', 1, 4, 'nil is not a command'],
  ];
  it.each(cases)('%s', (_name, src, line, col, message) => {
    expectTemplateError(() => render(src, {}), line, col, message);
  });
});

describe('execution errors carry position and the failing command', () => {
  const cases: [string, string, unknown, number, number, string][] = [
    ['index out of range', 'ab\n{{ index .L 5 }}', { L: [1] }, 2, 4, 'executing at <index .L 5>: error calling index: index out of range: 5'],
    ['field of a string', '{{ .A.B }}', { A: 's' }, 1, 4, "can't evaluate field B in type string"],
    ['missing struct field', '{{ .Z }}', point, 1, 4, "can't evaluate field Z in type main.Point"],
    ['incompatible comparison', '{{ eq 1 "1" }}', undefined, 1, 4, 'error calling eq: incompatible types for comparison'],
    ['ordering booleans', '{{ lt true false }}', undefined, 1, 4, 'error calling lt: invalid type for comparison'],
    ['wrong argument count', '{{ len 1 2 }}', undefined, 1, 4, 'wrong number of args for len: want 1 got 2'],
    ['len of a number', '{{ len 3 }}', undefined, 1, 4, 'error calling len: len of type int'],
    ['arguments to a non-function', '{{ .A 1 }}', { A: 1 }, 1, 4, 'A is not a method but has arguments'],
    ['range over a string', '{{ range "abc" }}{{ end }}', undefined, 1, 4, "range can't iterate over abc"],
    ['undefined template', '{{ template "nope" }}', undefined, 1, 4, 'no such template "nope"'],
    ['slice bounds', '{{ slice .L 2 1 }}', { L: [1, 2, 3] }, 1, 4, 'invalid slice index: 2 > 1'],
  ];
  it.each(cases)('%s', (_name, src, data, line, col, message) => {
    expectTemplateError(() => render(src, data), line, col, message);
  });
});

describe('execution never hangs', () => {
  it('stops a billion-iteration range at the step budget', () => {
    const t0 = Date.now();
    expectTemplateError(() => render('{{range 1000000000}}{{end}}', undefined, { maxSteps: 100_000 }), 1, 3, 'execution exceeded 100000 steps');
    expect(Date.now() - t0).toBeLessThan(2000);
  });

  it('stops nested ranges with the default budget', () => {
    const t0 = Date.now();
    expectTemplateError(() => render('{{range 10000}}{{range 10000}}{{range 10000}}{{end}}{{end}}{{end}}'), 1, 33, 'execution exceeded');
    expect(Date.now() - t0).toBeLessThan(20_000);
  }, 30_000);

  it('stops unbounded template recursion', () => {
    expectTemplateError(() => render('{{define "r"}}x{{template "r" .}}{{end}}{{template "r" .}}'), 1, 18, 'exceeded maximum template depth (100)');
  });

  it('refuses nesting deep enough to exhaust the stack', () => {
    expectTemplateError(() => render('{{ ' + '('.repeat(5000) + '1' + ')'.repeat(5000) + ' }}'), 1, 204, 'exceeded maximum nesting depth (200)');
    expectTemplateError(() => render('{{if 1}}'.repeat(5000) + '{{end}}'.repeat(5000)), 1, 1603, 'exceeded maximum nesting depth (200)');
  });

  it('caps the output', () => {
    expectTemplateError(() => render('{{range 100000}}0123456789{{end}}', undefined, { maxOutput: 1000 }), 1, 17, 'output exceeds 1000 characters');
  });

  it('caps strings built by doubling before they exhaust memory', () => {
    const src = '{{$s := "ab"}}{{range 64}}{{$s = print $s $s}}{{end}}{{len $s}}';
    expectTemplateError(() => render(src, undefined, { maxOutput: 1 << 20 }), 1, 34, 'print result exceeds 1048576 characters');
  });
});
