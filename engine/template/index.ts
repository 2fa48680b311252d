/**
 * Prompt templates: a Go text/template engine (Ollama's TEMPLATE), Ollama's
 * template layer on top of it, and GGUF `tokenizer.chat_template` (Jinja).
 */
export { parseGoTemplate, GoTemplate } from './go-template.js';
export type { ExecOptions } from './exec.js';
export { DEFAULT_LIMITS } from './exec.js';
export { makeStruct, withMethods, STRINGER, MARSHAL_JSON } from './values.js';
export type { StructType, StructField, GoStruct } from './values.js';
export { isHarmonyTemplate, parseOllamaTemplate, renderOllamaTemplate } from './ollama.js';
export type { OllamaTemplate, OllamaRenderInput, ChatMessage, Tool, ToolCall, ToolProperty, ThinkingTags } from './ollama.js';
export { renderJinjaChat, MAX_RANGE } from './jinja.js';
export type { JinjaChatInput, JinjaMessage } from './jinja.js';
