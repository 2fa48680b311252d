import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { isKilnError } from '../../common/errors.js';
import { readGGUFFileSync } from '../gguf/reader.js';
import { kvString } from '../gguf/metadata.js';
import { renderJinjaChat, MAX_RANGE } from './jinja.js';

import { KJV_F32 } from '../../test/helpers/fixtures.js';

const KJV = KJV_F32;

function kjvTemplate(): { template: string; bos: string; eos: string } {
  const file = readGGUFFileSync(KJV);
  const tokens = file.kv.get('tokenizer.ggml.tokens');
  const bosId = file.kv.get('tokenizer.ggml.bos_token_id');
  const eosId = file.kv.get('tokenizer.ggml.eos_token_id');
  if (tokens?.type !== 9 || bosId?.type !== 4 || eosId?.type !== 4) throw new Error('kjv metadata changed');
  const vocab = tokens.value as string[];
  return { template: kvString(file, 'tokenizer.chat_template')!, bos: vocab[bosId.value], eos: vocab[eosId.value] };
}

function expectTemplateError(fn: () => unknown, message: string | RegExp): void {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(isKilnError(err, 'E_TEMPLATE'), `expected E_TEMPLATE, got ${String(err)}`).toBe(true);
  expect((err as Error).message).toMatch(message);
}

describe('kjv tokenizer.chat_template (from the GGUF)', () => {
  const { template, bos, eos } = kjvTemplate();

  it('reads the special tokens the template needs', () => {
    expect([bos, eos]).toEqual(['<|begin_of_text|>', '<|end_of_text|>']);
  });

  it('renders a two-message conversation, trimming only the content', () => {
    const out = renderJinjaChat(template, {
      messages: [
        { role: 'user', content: '  In the beginning God created  ' },
        { role: 'assistant', content: 'the heaven and the earth.\n' },
      ],
      bosToken: bos,
      eosToken: eos,
    });
    expect(out).toBe(
      '<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nIn the beginning God created<|eot_id|>' +
        '<|start_header_id|>assistant<|end_header_id|>\n\nthe heaven and the earth.<|eot_id|>',
    );
  });

  it('opens an assistant turn with add_generation_prompt', () => {
    const out = renderJinjaChat(template, {
      messages: [
        { role: 'system', content: 'Speak as the King James Bible.' },
        { role: 'user', content: 'And God said' },
      ],
      addGenerationPrompt: true,
      bosToken: bos,
    });
    expect(out).toBe(
      '<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nSpeak as the King James Bible.<|eot_id|>' +
        '<|start_header_id|>user<|end_header_id|>\n\nAnd God said<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n',
    );
  });
});

describe('Gemma 2 chat_template', () => {
  const template = readFileSync(new URL('./fixtures/gemma2.jinja', import.meta.url), 'utf8');

  it('renders alternating turns with the model role', () => {
    const out = renderJinjaChat(template, {
      messages: [
        { role: 'user', content: 'Hi ' },
        { role: 'assistant', content: 'Hello.' },
        { role: 'user', content: 'Bye' },
      ],
      addGenerationPrompt: true,
      bosToken: '<bos>',
    });
    expect(out).toBe(
      '<bos><start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\nHello.<end_of_turn>\n' +
        '<start_of_turn>user\nBye<end_of_turn>\n<start_of_turn>model\n',
    );
  });

  it('raise_exception fails the render with E_TEMPLATE and the template’s message', () => {
    expectTemplateError(
      () => renderJinjaChat(template, { messages: [{ role: 'system', content: 'x' }, { role: 'user', content: 'y' }] }),
      /raise_exception: System role not supported/,
    );
    expectTemplateError(
      () => renderJinjaChat(template, { messages: [{ role: 'user', content: 'a' }, { role: 'user', content: 'b' }] }),
      /Conversation roles must alternate/,
    );
  });
});

describe('renderJinjaChat', () => {
  const toolsTemplate =
    '{% if tools is not none %}{% for t in tools %}{{ t.function.name }}({{ t.function.parameters | tojson }});{% endfor %}{% else %}no tools{% endif %}' +
    '{% for m in messages %}|{{ m.role }}{% if m.tool_calls %}:{{ m.tool_calls[0].function.name }}{{ m.tool_calls[0].function.arguments | tojson }}{% endif %}{% endfor %}';

  it('passes tools and tool calls through, and none when there are no tools', () => {
    const messages = [
      { role: 'user', content: 'q' },
      { role: 'assistant', content: '', tool_calls: [{ function: { name: 'f', arguments: { a: 1 } } }] },
    ];
    const tools = [{ type: 'function', function: { name: 'f', parameters: { type: 'object' } } }];
    expect(renderJinjaChat(toolsTemplate, { messages, tools })).toBe('f({"type": "object"});|user|assistant:f{"a": 1}');
    expect(renderJinjaChat(toolsTemplate, { messages })).toBe('no tools|user|assistant:f{"a": 1}');
  });

  it('passes extra variables', () => {
    expect(renderJinjaChat('{{ enable_thinking }}', { messages: [], variables: { enable_thinking: false } })).toBe('false');
  });

  it('reports syntax errors as E_TEMPLATE', () => {
    expectTemplateError(() => renderJinjaChat('{% for m in messages %}', { messages: [] }), /^chat_template: /);
  });

  it('refuses huge ranges instead of allocating them', () => {
    expectTemplateError(
      () => renderJinjaChat('{% for i in range(100000000) %}x{% endfor %}', { messages: [] }),
      new RegExp(`range\\(\\) of 100000000 items exceeds ${MAX_RANGE}`),
    );
    expect(renderJinjaChat('{% for i in range(1, 7, 2) %}{{ i }}{% endfor %}', { messages: [] })).toBe('135');
  });
});
