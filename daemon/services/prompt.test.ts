import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { Message } from '../api/types.js';
import { renderChatPrompt, renderChatPromptFitting, renderGeneratePrompt, templateCapabilities } from './prompt.js';
import type { RunnableModel } from './runnable.js';

const LLAMA3 =
  "{% for message in messages %}{% if loop.index0 == 0 %}{{ bos_token }}{% endif %}{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + message['content'] | trim + '<|eot_id|>' }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}";

function model(over: { template?: string; chatTemplate?: string; system?: string; messages?: Message[] } = {}): RunnableModel {
  return {
    name: 'm:latest',
    layers: { template: over.template, system: over.system, license: [], parameters: {}, messages: over.messages ?? [] },
    facts: { chatTemplate: over.chatTemplate, bosText: '<|begin_of_text|>', eosText: '<|end_of_text|>', trainCtx: 256, fileSize: 1, shape: {} as never },
    vision: false,
  } as unknown as RunnableModel;
}

describe('prompt rendering', () => {
  it('renders generate through the GGUF chat template when there is no Ollama template', () => {
    const p = renderGeneratePrompt(model({ chatTemplate: LLAMA3, system: 'Be kind.' }), { prompt: 'Hi', continuing: false });
    expect(p).toBe(
      '<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe kind.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n',
    );
  });

  it('prefers the Ollama template, a request template over both, and raw over everything', () => {
    const m = model({ template: '[{{ .System }}] {{ .Prompt }}', chatTemplate: LLAMA3, system: 'S' });
    expect(renderGeneratePrompt(m, { prompt: 'Hi', continuing: false })).toBe('[S] Hi');
    expect(renderGeneratePrompt(m, { prompt: 'Hi', template: '<{{ .Prompt }}>', continuing: false })).toBe('<Hi>');
    expect(renderGeneratePrompt(m, { prompt: 'Hi', raw: true, continuing: false })).toBe('Hi');
    // continuing an earlier context: the model's system prompt is not repeated
    expect(renderGeneratePrompt(m, { prompt: 'Hi', continuing: true })).toBe('[] Hi');
  });

  it('fills in the middle only with a template that has .Suffix', () => {
    const fim = model({ template: '<PRE>{{ .Prompt }}<SUF>{{ .Suffix }}<MID>' });
    expect(renderGeneratePrompt(fim, { prompt: 'a', suffix: 'b', continuing: false })).toBe('<PRE>a<SUF>b<MID>');
    expect(() => renderGeneratePrompt(model({ chatTemplate: LLAMA3 }), { prompt: 'a', suffix: 'b', continuing: false })).toThrow(/does not support insert/);
  });

  it('puts the model MESSAGEs and SYSTEM before the chat, unless the chat brings its own system', () => {
    const m = model({ template: '{{ range .Messages }}{{ .Role }}={{ .Content }};{{ end }}', system: 'S', messages: [{ role: 'user', content: 'u0' }, { role: 'assistant', content: 'a0' }] });
    expect(renderChatPrompt(m, [{ role: 'user', content: 'u1' }])).toBe('system=S;user=u0;assistant=a0;user=u1;');
    expect(renderChatPrompt(model({ template: '{{ range .Messages }}{{ .Role }}={{ .Content }};{{ end }}', system: 'S' }), [{ role: 'system', content: 'mine' }, { role: 'user', content: 'u' }])).toBe('system=mine;user=u;');
  });

  it('knows the capabilities a template gives', () => {
    expect(templateCapabilities('{{ if .Tools }}{{ .Tools }}{{ end }}{{ .Prompt }}', undefined)).toEqual(['completion', 'tools']);
    expect(templateCapabilities('{{ .Prompt }}<FIM>{{ .Suffix }}', undefined)).toEqual(['completion', 'insert']);
    expect(templateCapabilities(undefined, '{% if tools %}…{% endif %}')).toEqual(['completion', 'tools']);
    expect(templateCapabilities(undefined, LLAMA3)).toEqual(['completion']);
  });

  it('lists "thinking" for templates with inferable thinking tags (qwen3, deepseek-r1)', () => {
    const published = (n: string) => readFileSync(new URL(`../../engine/template/fixtures/${n}.gotmpl`, import.meta.url), 'utf8');
    expect(templateCapabilities(published('qwen3'), undefined)).toEqual(['completion', 'tools', 'thinking']);
    expect(templateCapabilities(published('deepseek-r1'), undefined)).toEqual(['completion', 'thinking']);
    expect(templateCapabilities(published('gpt-oss'), undefined)).toEqual(['completion', 'tools', 'thinking']);
    expect(templateCapabilities(published('qwen2.5'), undefined)).toEqual(['completion', 'tools']);
  });

  it('renders think into the template, for chat and generate', () => {
    const m = model({ template: '{{ range .Messages }}{{ .Content }}{{ end }}|{{ .Think }}|{{ .ThinkLevel }}|{{ .IsThinkSet }}' });
    expect(renderChatPrompt(m, [{ role: 'user', content: 'u' }], undefined, 'high')).toBe('u|true|high|true');
    expect(renderChatPrompt(m, [{ role: 'user', content: 'u' }])).toBe('u|false||false');
    expect(renderGeneratePrompt(m, { prompt: 'p', continuing: false, think: false })).toBe('p|false||true');
  });
});

describe('fitting a chat into the context', () => {
  const m = model({ template: '{{ range .Messages }}{{ .Role }}:{{ .Content }}\n{{ end }}' });
  const chars = (t: string) => t.length;
  const msgs: Message[] = [
    { role: 'system', content: 'rules' },
    { role: 'user', content: 'one'.repeat(10) },
    { role: 'assistant', content: 'two'.repeat(10) },
    { role: 'user', content: 'three' },
    { role: 'assistant', content: 'four' },
    { role: 'user', content: 'last' },
  ];

  it('leaves a chat that fits alone', () => {
    expect(renderChatPromptFitting(m, msgs, undefined, 1000, chars).dropped).toBe(0);
  });

  it('drops the oldest messages whole, keeping the system message and the last one', () => {
    const { prompt, dropped } = renderChatPromptFitting(m, msgs, undefined, 60, chars);
    expect(dropped).toBe(2);
    expect(prompt).toBe('system:rules\nuser:three\nassistant:four\nuser:last\n');
    expect(prompt.length).toBeLessThan(60);
  });

  it('keeps at least the system message and the last one when nothing else fits', () => {
    const { prompt } = renderChatPromptFitting(m, msgs, undefined, 10, chars);
    expect(prompt).toBe('system:rules\nuser:last\n');
  });
});
