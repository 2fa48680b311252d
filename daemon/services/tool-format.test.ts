import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Tool } from '../api/types.js';
import { Recognizer } from '../../engine/grammar/grammar.js';
import { toolCallGrammar } from '../../engine/grammar/tool-call.js';
import type { RunnableModel } from './runnable.js';
import { BARE_FORMAT, toolCallFormat } from './tool-format.js';
import { ToolCallParser } from './tool-calls.js';

const fixture = (name: string) => readFileSync(join(import.meta.dirname, '..', '..', 'engine', 'template', 'fixtures', name), 'utf8');

function model(template: string): RunnableModel {
  return {
    name: 'm:latest',
    layers: { template, license: [], parameters: {}, messages: [] },
    facts: { bosText: '<s>', eosText: '</s>', trainCtx: 256, fileSize: 1, shape: {} as never },
    vision: false,
  } as unknown as RunnableModel;
}

const tools: Tool[] = [{ type: 'function', function: { name: 'get_time', parameters: { type: 'object', properties: { zone: { enum: ['UTC', 'CET'] } }, required: ['zone'] } } }];

describe("the template's tool-call format", () => {
  it.each([
    ['qwen3.gotmpl', { open: '<tool_call>\n', close: '\n</tool_call>', argsKey: 'arguments' }],
    ['qwen2.5.gotmpl', { open: '<tool_call>\n', close: '\n</tool_call>', argsKey: 'arguments' }],
    ['llama3.1.gotmpl', { open: '', close: '', argsKey: 'parameters' }],
    ['mistral.gotmpl', { open: '[TOOL_CALLS] [', close: ']', argsKey: 'arguments' }],
  ])('is read from the published %s template', (name, want) => {
    expect(toolCallFormat(model(fixture(name)), tools)).toEqual(want);
  });

  it('is a bare JSON object when the template does not show past calls', () => {
    expect(toolCallFormat(model('{{ if .Tools }}{{ json .Tools }}{{ end }}{{ range .Messages }}{{ .Role }}: {{ .Content }}\n{{ end }}'), tools)).toEqual(BARE_FORMAT);
  });

  it.each(['qwen3.gotmpl', 'llama3.1.gotmpl', 'mistral.gotmpl'])('what the grammar writes for %s, the parser reads back as the calls', (name) => {
    const f = toolCallFormat(model(fixture(name)), tools);
    const spec = { tools: [{ name: 'get_time', parameters: tools[0].function.parameters }], ...f, parallel: true };
    const one = `${f.open}{"name": "get_time", ${JSON.stringify(f.argsKey)}: {"zone": "CET"}}${f.close}`;
    const text = `${one}\n${one}`;
    const r = new Recognizer(toolCallGrammar(spec));
    expect(r.feed(r.start(), text)?.complete).toBe(true);
    const p = new ToolCallParser(tools, { wrapper: f });
    const a = p.push(text);
    const b = p.finish();
    expect(a.content + b.content).toBe('');
    expect([...a.toolCalls, ...b.toolCalls]).toEqual([0, 1].map((index) => ({ function: { index, name: 'get_time', arguments: { zone: 'CET' } } })));
    // parallel_tool_calls false: the first call only
    const single = new ToolCallParser(tools, { wrapper: f, maxCalls: 1 });
    const c = single.push(text);
    const d = single.finish();
    expect([...c.toolCalls, ...d.toolCalls]).toHaveLength(1);
  });
});
