import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isKilnError } from '../../common/errors.js';
import { parseGoTemplate } from './go-template.js';
import { parseOllamaTemplate, renderOllamaTemplate, type ChatMessage } from './ollama.js';

// Templates arrive in Modelfiles and model files: any text must either render
// or fail with E_TEMPLATE, within the limits, and never crash or hang.
const FRAGMENTS = [
  '{{', '}}', '{{- ', ' -}}', 'if ', 'else ', 'else if ', 'end', 'range ', 'with ', 'define "a"', 'template "a" ', 'block "b" .',
  'break', 'continue', '.A', '.B.C', '.', '$', '$x', '$x := ', '$x = ', '$i, $v := ', '|', '(', ')', '"s"', '`r`', "'c'",
  '1', '-2', '0x1f', '1.5', 'nil', 'true', 'len ', 'index ', 'slice ', 'eq ', 'and ', 'or ', 'not ', 'printf "%d %s" ',
  'print ', 'json ', 'html ', ' ', '\n', 'text', '/*', '*/', ',', '"\\', '{{/* c */}}',
];

const DATA = { A: [1, 2, 3], B: { C: 'x' }, S: 'str' };

describe('fuzz', () => {
  it('any template text renders or fails with E_TEMPLATE', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...FRAGMENTS), { maxLength: 40 }), (parts) => {
        const src = parts.join('');
        try {
          parseGoTemplate(src).execute(DATA, { maxSteps: 20_000, maxOutput: 100_000, maxDepth: 20 });
        } catch (e) {
          if (!isKilnError(e, 'E_TEMPLATE')) throw e;
        }
      }),
      { numRuns: 1000, seed: 20240601 },
    );
  });

  it('arbitrary characters never escape as a non-template error', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 60 }), (src) => {
        try {
          parseGoTemplate(src).execute(DATA, { maxSteps: 20_000, maxOutput: 100_000 });
        } catch (e) {
          if (!isKilnError(e, 'E_TEMPLATE')) throw e;
        }
      }),
      { numRuns: 500, seed: 7 },
    );
  });

  it('Qwen 2.5 renders every non-system message of any conversation', () => {
    const t = parseOllamaTemplate(readFileSync(new URL('./fixtures/qwen2.5.gotmpl', import.meta.url), 'utf8'));
    const message = fc.record({
      role: fc.constantFrom('system', 'user', 'assistant', 'tool'),
      content: fc.string({ minLength: 1, maxLength: 20 }),
    });
    fc.assert(
      fc.property(fc.array(message, { minLength: 1, maxLength: 8 }), (messages: ChatMessage[]) => {
        const out = renderOllamaTemplate(t, { messages });
        for (const m of messages) expect(out).toContain(m.content);
        const last = messages[messages.length - 1];
        expect(out.endsWith(last.role === 'assistant' ? last.content : '<|im_start|>assistant\n')).toBe(true);
      }),
      { numRuns: 200, seed: 42 },
    );
  });
});
