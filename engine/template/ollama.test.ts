import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseOllamaTemplate, renderOllamaTemplate, type ChatMessage, type Tool } from './ollama.js';

const fixture = (name: string): string => readFileSync(new URL(`./fixtures/${name}.gotmpl`, import.meta.url), 'utf8');

/**
 * The fixtures are byte-for-byte the template blobs of Ollama's library
 * models; the digests are the blobs' registry digests (the layer names that
 * `ollama pull` prints and manifests list).
 */
const PUBLISHED: Record<string, string> = {
  'llama3.1': '948af2743fc78a328dcb3b0f5a31b3d75f415840fdb699e8b1235978392ecf85',
  mistral: '491dfa501e59ed17239711477601bdc7f559de5407fbd4a2a79078b271045621',
  'qwen2.5': 'eb4402837c7829a690fa845de4d7f3fd842c2adee476d5341da8a46ea9255175',
  gemma2: 'e0a42594d802e5d31cdc786deb4823edb8adff66094d49de8fffe976d753e348',
  llama3: '8ab4849b038cf0abc5b1c9b8ee1443dca6b93a045c2272180d985126eb40bf6f',
  // qwen3 (qwen3:8b and siblings) and deepseek-r1 (deepseek-r1:8b, the 0528 distill) after Ollama's
  // thinking update. The text was found with the code search in public repositories that vendor it
  // verbatim (a Go test pinning deepseek-r1's template by this digest; a TypeScript proxy embedding
  // qwen3's), and its digest checked against the layer digest `ollama pull qwen3` prints (ae370d884f10);
  // qwen3's blob starts with a newline.
  qwen3: 'ae370d884f108d16e7cc8fd5259ebc5773a0afa6e078b11f4ed7e39a27e0dfc4',
  'deepseek-r1': 'c5ad996bda6eed4df6e3b605a9869647624851ac248209d22fd5e2c0cc1121d3',
  // gpt-oss (gpt-oss:20b and :120b): the layer `ollama pull gpt-oss:20b` prints as fa6710a93d78 (7.2 KB).
  // The text was found with the code search in public repositories that vendor it verbatim (one names this
  // blob as its source; Ollama's own x/create embeds it with the browser tool's comments reworded), and
  // the full digest of the layer in a public `ollama create` log; the blob has no final newline.
  'gpt-oss': 'fa6710a93d78da62641e192361344be7a8c0a1c3737f139cf89f20ce1626b99c',
};

describe('fixtures', () => {
  it.each(Object.entries(PUBLISHED))('%s.gotmpl is the published template blob', (name, digest) => {
    const sha = createHash('sha256').update(readFileSync(new URL(`./fixtures/${name}.gotmpl`, import.meta.url))).digest('hex');
    expect(sha).toBe(digest);
  });
});

// ---- conversations ----

const single: ChatMessage[] = [{ role: 'user', content: 'Why is the sky blue?' }];

const multiTurn: ChatMessage[] = [
  { role: 'system', content: 'You are a concise assistant.' },
  { role: 'user', content: 'Hello!' },
  { role: 'assistant', content: 'Hi! How can I help?' },
  { role: 'user', content: 'Name a color.' },
];

const continuation: ChatMessage[] = [
  { role: 'user', content: 'Write a haiku about rain.' },
  { role: 'assistant', content: 'Soft rain on the roof' },
];

const weatherTool: Tool = {
  type: 'function',
  function: {
    name: 'get_current_weather',
    description: 'Get the current weather for a location',
    parameters: {
      type: 'object',
      properties: {
        location: { type: 'string', description: 'City & country, e.g. Paris, France' },
        format: { type: 'string', description: 'The temperature unit to use.', enum: ['celsius', 'fahrenheit'] },
      },
      required: ['location', 'format'],
    },
  },
};

const toolQuestion: ChatMessage[] = [{ role: 'user', content: 'What is the weather in Paris?' }];

const toolRoundTrip: ChatMessage[] = [
  ...toolQuestion,
  {
    role: 'assistant',
    content: '',
    tool_calls: [{ function: { name: 'get_current_weather', arguments: { location: 'Paris, France', format: 'celsius' } } }],
  },
  { role: 'tool', content: '22', tool_name: 'get_current_weather' },
];

// How Ollama's Go code encodes the tool: struct field order, property and
// argument keys sorted, and "&" escaped as \u0026.
const FUNCTION_JSON =
  '{"name":"get_current_weather","description":"Get the current weather for a location","parameters":{"type":"object","required":["location","format"],' +
  '"properties":{"format":{"type":"string","description":"The temperature unit to use.","enum":["celsius","fahrenheit"]},' +
  '"location":{"type":"string","description":"City \\u0026 country, e.g. Paris, France"}}}}';
const TOOL_JSON = `{"type":"function","function":${FUNCTION_JSON}}`;
const ARGS_JSON = '{"format":"celsius","location":"Paris, France"}';

describe('Llama 3.1 (library/llama3.1)', () => {
  const t = parseOllamaTemplate(fixture('llama3.1'));
  const H = (role: string) => `<|start_header_id|>${role}<|end_header_id|>\n\n`;

  it('takes the messages path', () => {
    expect(t.usesMessages).toBe(true);
  });

  it('renders a single user message with the assistant header open', () => {
    expect(renderOllamaTemplate(t, { messages: single })).toBe(`${H('user')}Why is the sky blue?<|eot_id|>${H('assistant')}`);
  });

  it('renders system and a multi-turn conversation', () => {
    expect(renderOllamaTemplate(t, { messages: multiTurn })).toBe(
      `${H('system')}You are a concise assistant.<|eot_id|>` +
        `${H('user')}Hello!<|eot_id|>${H('assistant')}Hi! How can I help?<|eot_id|>` +
        `${H('user')}Name a color.<|eot_id|>${H('assistant')}`,
    );
  });

  it('puts the tool definitions into the last user message', () => {
    expect(renderOllamaTemplate(t, { messages: toolQuestion, tools: [weatherTool] })).toBe(
      '<|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\n\n' +
        'When you receive a tool call response, use the output to format an answer to the orginal user question.\n\n' +
        'You are a helpful assistant with tool calling capabilities.<|eot_id|>' +
        `${H('user')}Given the following functions, please respond with a JSON for a function call with its proper arguments that best answers the given prompt.\n\n` +
        'Respond in the format {"name": function name, "parameters": dictionary of argument name and its value}. Do not use variables.\n\n' +
        `${TOOL_JSON}\n\nQuestion: What is the weather in Paris?<|eot_id|>${H('assistant')}`,
    );
  });

  it('renders a tool call and the tool response as ipython', () => {
    expect(renderOllamaTemplate(t, { messages: toolRoundTrip, tools: [weatherTool] })).toBe(
      '<|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\n\n' +
        'When you receive a tool call response, use the output to format an answer to the orginal user question.\n\n' +
        'You are a helpful assistant with tool calling capabilities.<|eot_id|>' +
        `${H('user')}What is the weather in Paris?<|eot_id|>` +
        `<|start_header_id|>assistant<|end_header_id|>\n\n{"name": "get_current_weather", "parameters": ${ARGS_JSON}}<|eot_id|>` +
        `${H('ipython')}22<|eot_id|>${H('assistant')}`,
    );
  });

  it('leaves a last assistant message open for continuation', () => {
    expect(renderOllamaTemplate(t, { messages: continuation })).toBe(
      `${H('user')}Write a haiku about rain.<|eot_id|>${H('assistant')}Soft rain on the roof`,
    );
  });

  it('uses the model system prompt unless the chat brings its own', () => {
    const withModelSystem = renderOllamaTemplate(t, { system: 'Model default.', messages: single });
    expect(withModelSystem.startsWith(`${H('system')}Model default.<|eot_id|>${H('user')}`)).toBe(true);
    const own = renderOllamaTemplate(t, { system: 'Model default.', messages: multiTurn });
    expect(own).not.toContain('Model default.');
  });
});

describe('Mistral (library/mistral, v0.3)', () => {
  const t = parseOllamaTemplate(fixture('mistral'));

  it('renders a single user message (with the template’s trailing space)', () => {
    expect(renderOllamaTemplate(t, { messages: single })).toBe('[INST] Why is the sky blue?[/INST] ');
  });

  it('puts the system prompt into the last user turn', () => {
    expect(renderOllamaTemplate(t, { messages: multiTurn })).toBe(
      '[INST] Hello![/INST] Hi! How can I help?</s>[INST] You are a concise assistant.\n\nName a color.[/INST] ',
    );
  });

  it('lists tools as a JSON array before the last user message', () => {
    expect(renderOllamaTemplate(t, { messages: toolQuestion, tools: [weatherTool] })).toBe(
      `[AVAILABLE_TOOLS] [${TOOL_JSON}][/AVAILABLE_TOOLS][INST] What is the weather in Paris?[/INST] `,
    );
  });

  it('renders tool calls and results', () => {
    expect(renderOllamaTemplate(t, { messages: toolRoundTrip, tools: [weatherTool] })).toBe(
      '[INST] What is the weather in Paris?[/INST]' +
        `[TOOL_CALLS] [{"name": "get_current_weather", "arguments": ${ARGS_JSON}}]</s>` +
        '[TOOL_RESULTS] {"content": 22} [/TOOL_RESULTS] ',
    );
  });

  it('closes a last assistant message (this template has no $last check)', () => {
    expect(renderOllamaTemplate(t, { messages: continuation })).toBe(
      '[INST] Write a haiku about rain.[/INST] Soft rain on the roof</s> ',
    );
  });
});

describe('Qwen 2.5 (library/qwen2.5)', () => {
  const t = parseOllamaTemplate(fixture('qwen2.5'));
  const TOOLS_SYSTEM =
    '<|im_start|>system\n\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\n' +
    'You are provided with function signatures within <tools></tools> XML tags:\n<tools>\n' +
    `{"type": "function", "function": ${FUNCTION_JSON}}\n</tools>\n\n` +
    'For each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n' +
    '<tool_call>\n{"name": <function-name>, "arguments": <args-json-object>}\n</tool_call><|im_end|>\n';

  it('renders a single user message', () => {
    expect(renderOllamaTemplate(t, { messages: single })).toBe('<|im_start|>user\nWhy is the sky blue?<|im_end|>\n<|im_start|>assistant\n');
  });

  it('renders system and a multi-turn conversation', () => {
    expect(renderOllamaTemplate(t, { messages: multiTurn })).toBe(
      '<|im_start|>system\nYou are a concise assistant.<|im_end|>\n' +
        '<|im_start|>user\nHello!<|im_end|>\n<|im_start|>assistant\nHi! How can I help?<|im_end|>\n' +
        '<|im_start|>user\nName a color.<|im_end|>\n<|im_start|>assistant\n',
    );
  });

  it('describes the tools in the system turn', () => {
    expect(renderOllamaTemplate(t, { messages: toolQuestion, tools: [weatherTool] })).toBe(
      `${TOOLS_SYSTEM}<|im_start|>user\nWhat is the weather in Paris?<|im_end|>\n<|im_start|>assistant\n`,
    );
  });

  it('renders a tool call and the tool response', () => {
    expect(renderOllamaTemplate(t, { messages: toolRoundTrip, tools: [weatherTool] })).toBe(
      TOOLS_SYSTEM +
        '<|im_start|>user\nWhat is the weather in Paris?<|im_end|>\n' +
        `<|im_start|>assistant\n<tool_call>\n{"name": "get_current_weather", "arguments": ${ARGS_JSON}}\n</tool_call><|im_end|>\n` +
        '<|im_start|>user\n<tool_response>\n22\n</tool_response><|im_end|>\n<|im_start|>assistant\n',
    );
  });

  it('leaves a last assistant message open for continuation', () => {
    expect(renderOllamaTemplate(t, { messages: continuation })).toBe(
      '<|im_start|>user\nWrite a haiku about rain.<|im_end|>\n<|im_start|>assistant\nSoft rain on the roof',
    );
  });

  it('renders /api/generate input (system + prompt) through the messages branch', () => {
    expect(renderOllamaTemplate(t, { system: 'Be terse.', prompt: 'Hi' })).toBe(
      '<|im_start|>system\nBe terse.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n',
    );
  });
});

describe('Gemma 2 (library/gemma2)', () => {
  const t = parseOllamaTemplate(fixture('gemma2'));

  it('renders a single user message', () => {
    expect(renderOllamaTemplate(t, { messages: single })).toBe(
      '<start_of_turn>user\nWhy is the sky blue?<end_of_turn>\n<start_of_turn>model\n',
    );
  });

  it('renders the system message as a user turn, then the conversation', () => {
    expect(renderOllamaTemplate(t, { messages: multiTurn })).toBe(
      '<start_of_turn>user\nYou are a concise assistant.<end_of_turn>\n' +
        '<start_of_turn>user\nHello!<end_of_turn>\n<start_of_turn>model\nHi! How can I help?<end_of_turn>\n' +
        '<start_of_turn>user\nName a color.<end_of_turn>\n<start_of_turn>model\n',
    );
  });

  it('leaves a last assistant message open for continuation', () => {
    expect(renderOllamaTemplate(t, { messages: continuation })).toBe(
      '<start_of_turn>user\nWrite a haiku about rain.<end_of_turn>\n<start_of_turn>model\nSoft rain on the roof',
    );
  });
});

describe('legacy templates (no .Messages)', () => {
  it('Llama 3’s legacy template renders what Llama 3.1’s messages template renders', () => {
    const legacy = parseOllamaTemplate(fixture('llama3'));
    const modern = parseOllamaTemplate(fixture('llama3.1'));
    expect(legacy.usesMessages).toBe(false);
    for (const messages of [single, multiTurn, continuation]) {
      expect(renderOllamaTemplate(legacy, { messages })).toBe(renderOllamaTemplate(modern, { messages }));
    }
  });

  // One conversation, three spellings of the same prompt format: Ollama renders them identically.
  const conversation: ChatMessage[] = [
    { role: 'user', content: 'Hello friend!' },
    { role: 'assistant', content: 'Hello human!' },
    { role: 'user', content: 'Your name?' },
  ];
  it.each([
    ['without .Response (appended)', '[INST] {{ .Prompt }}[/INST] '],
    ['with .Response', '[INST] {{ .Prompt }}[/INST] {{ .Response }}'],
    ['with .Messages', '{{- range .Messages }}{{ if eq .Role "user" }}[INST] {{ .Content }}[/INST] {{ else }}{{ .Content }}{{ end }}{{ end }}'],
  ])('renders one prompt per turn, concatenated: %s', (_name, src) => {
    expect(renderOllamaTemplate(src, { messages: conversation })).toBe('[INST] Hello friend![/INST] Hello human![INST] Your name?[/INST] ');
  });

  it('continues a last assistant message by cutting the template after .Response', () => {
    const src = '[INST] {{ .Prompt }}[/INST] {{ .Response }}</s>';
    expect(renderOllamaTemplate(src, { messages: [...conversation, { role: 'assistant', content: 'My name is' }] })).toBe(
      '[INST] Hello friend![/INST] Hello human!</s>[INST] Your name?[/INST] My name is',
    );
  });

  it('a system message flushes the pending turn and starts the next', () => {
    const src = '{{ if .System }}<<{{ .System }}>>{{ end }}[{{ .Prompt }}]{{ .Response }};';
    const messages: ChatMessage[] = [
      { role: 'system', content: 'S1' },
      { role: 'user', content: 'a' },
      { role: 'assistant', content: 'b' },
      { role: 'system', content: 'S2' },
      { role: 'user', content: 'c' },
      { role: 'tool', content: 'ignored in legacy templates' },
    ];
    expect(renderOllamaTemplate(src, { messages })).toBe('<<S1>>[a]b;<<S2>>[c]');
  });

  it('only a field node cuts: a .Response in a condition or as $.Response does not', () => {
    expect(renderOllamaTemplate('{{ if .Response }}R{{ end }}[{{ .Prompt }}]{{ .Response }}<end>', { prompt: 'p', response: 'r' })).toBe('R[p]r');
    expect(renderOllamaTemplate('{{ .Prompt }}:{{ $.Response }}<end>', { prompt: 'p', response: 'r' })).toBe('p:r<end>');
  });

  it('/api/generate: system and prompt fill one turn', () => {
    const src = fixture('llama3');
    expect(renderOllamaTemplate(src, { system: 'Sys', prompt: 'Hi' })).toBe(
      '<|start_header_id|>system<|end_header_id|>\n\nSys<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n',
    );
  });
});

describe('template layer rules', () => {
  it.each([
    ['{{ .Prompt }}', ['prompt', 'response']],
    ['{{ .System }} {{ .Prompt }} {{ .Response }}', ['prompt', 'response', 'system']],
    ['{{ with .Tools }}{{ . }}{{ end }}{{ .Prompt }}', ['prompt', 'response', 'tools']],
    ['{{ range $i, $m := .Messages }}{{ $m.Role }}{{ end }}', ['$m', 'messages', 'role']],
    ['{{ define "x" }}{{ .ToolName }}{{ end }}{{ len (slice $.Messages 0) }}', ['$', 'messages', 'toolname']],
  ])('vars of %s', (src, vars) => {
    expect([...parseOllamaTemplate(src).vars].sort()).toEqual(vars);
  });

  it('fill-in-the-middle when both prompt and suffix are set', () => {
    const src = '{{- if .Suffix }}<PRE> {{ .Prompt }} <SUF>{{ .Suffix }} <MID>{{- else }}{{ .Prompt }}{{- end }}';
    expect(renderOllamaTemplate(src, { prompt: 'def add(', suffix: 'return x' })).toBe('<PRE> def add( <SUF>return x <MID>');
    expect(renderOllamaTemplate(src, { prompt: 'hello' })).toBe('hello');
  });

  it('merges consecutive messages of one role, but never tool messages', () => {
    const src = '{{ range .Messages }}{{ .Role }}={{ .Content }}|{{ end }}/{{ .System }}';
    const messages: ChatMessage[] = [
      { role: 'system', content: 'A' },
      { role: 'system', content: 'B' },
      { role: 'user', content: 'u1' },
      { role: 'user', content: 'u2' },
      { role: 'tool', content: 't1' },
      { role: 'tool', content: 't2' },
    ];
    expect(renderOllamaTemplate(src, { messages })).toBe('system=A\n\nB|user=u1\n\nu2|tool=t1|tool=t2|/A\n\nB');
  });

  it('exposes tool names, tool call ids and think settings', () => {
    const src = '{{ range .Messages }}{{ .ToolName }}{{ .ToolCallID }}{{ range .ToolCalls }}{{ .ID }}:{{ .Function.Name }}{{ end }}{{ end }}|{{ .Think }} {{ .ThinkLevel }} {{ .IsThinkSet }}';
    const messages: ChatMessage[] = [
      { role: 'assistant', content: '', tool_calls: [{ id: 'c1', function: { name: 'f', arguments: {} } }] },
      { role: 'tool', content: 'x', tool_name: 'f', tool_call_id: 'c1' },
    ];
    expect(renderOllamaTemplate(src, { messages, think: 'high' })).toBe('c1:ffc1|true high true');
    expect(renderOllamaTemplate(src, { messages: [] })).toBe('|false  false');
  });

  it('ranges over tool parameters in key order and prints single property types bare', () => {
    const src = '{{ len .Messages }}:{{ range .Tools }}{{ range $name, $p := .Function.Parameters.Properties }}{{ $name }}:{{ $p.Type }} {{ end }}{{ end }}';
    expect(renderOllamaTemplate(src, { messages: single, tools: [weatherTool] })).toBe('1:format:string location:string ');
  });

  it('prints .Tools as null without tools, as Ollama does for a nil slice', () => {
    expect(renderOllamaTemplate('{{ .Messages | len }}{{ .Tools }}', { messages: single })).toBe('1null');
  });

  it('rejects a struct field that Ollama’s message type lacks', () => {
    expect(() => renderOllamaTemplate('{{ range .Messages }}{{ .Name }}{{ end }}', { messages: single })).toThrow(
      /can't evaluate field Name in type template.templateMessage/,
    );
  });

  it('a template can be parsed once and rendered many times', () => {
    const t = parseOllamaTemplate(fixture('qwen2.5'));
    expect(renderOllamaTemplate(t, { messages: single })).toBe(renderOllamaTemplate(t, { messages: single }));
  });
});

describe('thinking templates (qwen3, deepseek-r1)', () => {
  const withThinking: ChatMessage[] = [
    { role: 'user', content: 'Hi' },
    { role: 'assistant', content: 'Hello!', thinking: 'Greet back.' },
  ];

  it('qwen3 adds /think or /no_think to the last user turn, and an empty think block for think=false', () => {
    const t = parseOllamaTemplate(fixture('qwen3'));
    expect(renderOllamaTemplate(t, { messages: single })).toBe('<|im_start|>user\nWhy is the sky blue?<|im_end|>\n<|im_start|>assistant\n');
    expect(renderOllamaTemplate(t, { messages: single, think: true })).toBe('<|im_start|>user\nWhy is the sky blue? /think<|im_end|>\n<|im_start|>assistant\n');
    expect(renderOllamaTemplate(t, { messages: single, think: false })).toBe(
      '<|im_start|>user\nWhy is the sky blue? /no_think<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n',
    );
  });

  it('qwen3 shows the last answer’s reasoning only when think is set', () => {
    const t = parseOllamaTemplate(fixture('qwen3'));
    expect(renderOllamaTemplate(t, { messages: withThinking })).toBe('<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello!');
    expect(renderOllamaTemplate(t, { messages: withThinking, think: true })).toBe(
      '<|im_start|>user\nHi /think<|im_end|>\n<|im_start|>assistant\n<think>Greet back.</think>\nHello!',
    );
  });

  it('deepseek-r1 ends at the assistant marker, with an empty think block for think=false', () => {
    const t = parseOllamaTemplate(fixture('deepseek-r1'));
    expect(renderOllamaTemplate(t, { messages: single })).toBe('<｜User｜>Why is the sky blue?<｜Assistant｜>');
    expect(renderOllamaTemplate(t, { messages: single, think: true })).toBe('<｜User｜>Why is the sky blue?<｜Assistant｜>');
    expect(renderOllamaTemplate(t, { messages: single, think: false })).toBe('<｜User｜>Why is the sky blue?<｜Assistant｜><think>\n\n</think>\n\n');
    expect(renderOllamaTemplate(t, { messages: withThinking, think: true })).toBe('<｜User｜>Hi<｜Assistant｜><think>\nGreet back.\n</think>Hello!');
  });

  it('infers the thinking tags as Ollama does, only for templates that show past .Thinking inside range .Messages', () => {
    expect(parseOllamaTemplate(fixture('qwen3')).thinkingTags).toEqual({ open: '<think>', close: '</think>' });
    expect(parseOllamaTemplate(fixture('deepseek-r1')).thinkingTags).toEqual({ open: '<think>', close: '</think>' });
    for (const name of ['llama3.1', 'mistral', 'qwen2.5', 'gemma2', 'llama3']) expect(parseOllamaTemplate(fixture(name)).thinkingTags).toBeUndefined();
    // .Thinking outside a range over .Messages, or through a variable, does not count
    expect(parseOllamaTemplate('<t>{{ .Thinking }}</t>').thinkingTags).toBeUndefined();
    expect(parseOllamaTemplate('{{ range .Messages }}<t>{{ $.Thinking }}</t>{{ end }}').thinkingTags).toBeUndefined();
    expect(parseOllamaTemplate('{{ range .Messages }}[R]{{ .Thinking }}[/R]\n{{ .Content }}{{ end }}').thinkingTags).toBeUndefined();
    expect(parseOllamaTemplate('{{ range .Messages }}{{ if .Thinking }} [R]{{ .Thinking }}[/R] {{ end }}{{ .Content }}{{ end }}').thinkingTags).toEqual({ open: '[R]', close: '[/R]' });
  });

  it('a level sets .Think and .ThinkLevel; true alone reads as level "medium", as Ollama passes it', () => {
    const src = '{{ .Think }}|{{ .ThinkLevel }}|{{ .IsThinkSet }}';
    expect(renderOllamaTemplate(src, { prompt: 'x', think: 'low' })).toBe('true|low|true');
    expect(renderOllamaTemplate(src, { prompt: 'x', think: true })).toBe('true|medium|true');
    expect(renderOllamaTemplate(src, { prompt: 'x', think: false })).toBe('false||true');
    expect(renderOllamaTemplate(src, { prompt: 'x' })).toBe('false||false');
  });
});

describe('gpt-oss (library/gpt-oss, harmony)', () => {
  const t = parseOllamaTemplate(fixture('gpt-oss'));
  const exec = { now: () => new Date(2025, 7, 5) };
  const HEAD = '<|start|>system<|message|>You are ChatGPT, a large language model trained by OpenAI.\nKnowledge cutoff: 2024-06\nCurrent date: 2025-08-05\n\n';
  const CHANNELS = '# Valid channels: analysis, commentary, final. Channel must be included for every message.';
  const user = '<|start|>user<|message|>Why is the sky blue?<|end|><|start|>assistant';

  it('is read as harmony, with no thinking tags to split on', () => {
    expect(t.harmony).toBe(true);
    expect(t.thinkingTags).toBeUndefined();
    for (const name of ['llama3.1', 'mistral', 'qwen2.5', 'gemma2', 'llama3', 'qwen3', 'deepseek-r1']) expect(parseOllamaTemplate(fixture(name)).harmony).toBe(false);
  });

  it('writes the reasoning level: the one asked for, medium for true or nothing said, none for false', () => {
    for (const level of ['low', 'medium', 'high']) {
      expect(renderOllamaTemplate(t, { messages: single, think: level, exec })).toBe(`${HEAD}Reasoning: ${level}\n\n${CHANNELS}<|end|>${user}`);
    }
    expect(renderOllamaTemplate(t, { messages: single, think: true, exec })).toBe(`${HEAD}Reasoning: medium\n\n${CHANNELS}<|end|>${user}`);
    expect(renderOllamaTemplate(t, { messages: single, exec })).toBe(`${HEAD}Reasoning: medium\n\n${CHANNELS}<|end|>${user}`);
    expect(renderOllamaTemplate(t, { messages: single, think: false, exec })).toBe(`${HEAD}${CHANNELS}<|end|>${user}`);
  });

  it('lists tools as a TypeScript namespace in the developer message, with the system prompt as instructions', () => {
    const tool: Tool = {
      type: 'function',
      function: {
        name: 'get_weather',
        description: 'Weather of a city',
        parameters: {
          type: 'object',
          required: ['city'],
          properties: {
            city: { type: 'string', description: 'The city' },
            days: { type: ['integer', 'null'] },
            tags: { type: 'array' },
            opts: { type: 'object' },
            unit: { anyOf: [{ type: 'string' }, { type: 'boolean' }] },
            any: {},
          },
        },
      },
    };
    const noArgs: Tool = { type: 'function', function: { name: 'now', parameters: { type: 'object', properties: {} } } };
    const out = renderOllamaTemplate(t, { system: 'Be brief.', messages: single, tools: [tool, noArgs], think: 'low', exec });
    expect(out).toBe(
      `${HEAD}Reasoning: low\n\n${CHANNELS}\nCalls to these tools must go to the commentary channel: 'functions'.<|end|>` +
        '<|start|>developer<|message|># Tools\n\n## functions\n\nnamespace functions {\n\n// Weather of a city\ntype get_weather = (_: {\n' +
        '  any: any,\n  // The city\n  city: string,\n  days: number | null,\n  opts: Record<string, any>,\n  tags: any[],\n  unit: string | boolean,\n' +
        '}) => any;\n\ntype now = () => any;\n\n} // namespace functions\n\n# Instructions\n\nBe brief.<|end|>' +
        user,
    );
  });

  it('renders past reasoning, calls and tool results in harmony messages', () => {
    const msgs: ChatMessage[] = [
      { role: 'user', content: 'Weather?' },
      { role: 'assistant', content: '', thinking: 'Use the tool.', tool_calls: [{ function: { name: 'get_weather', arguments: { city: 'Paris' } } }] },
      { role: 'tool', content: '{"t":20}', tool_name: 'get_weather' },
    ];
    expect(renderOllamaTemplate(t, { messages: msgs, think: false, exec })).toBe(
      `${HEAD}${CHANNELS}<|end|><|start|>user<|message|>Weather?<|end|>` +
        '<|start|>assistant<|channel|>analysis<|message|>Use the tool.<|end|>' +
        '<|start|>assistant<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>{"city":"Paris"}<|call|>' +
        '<|start|>functions.get_weather to=assistant<|message|>{"t":20}<|end|><|start|>assistant',
    );
  });
});
