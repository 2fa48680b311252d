/**
 * The prompt of a chat for the library API: the messages rendered with the
 * model's template and tokenized. An Ollama (Go) template, when the caller
 * has one, takes precedence, as in Ollama; otherwise the GGUF's
 * `tokenizer.chat_template` (Jinja) renders with add_generation_prompt, so
 * the text ends where the assistant's reply begins.
 *
 * Rendered text holds the template's control tokens spelled out
 * (`<|eot_id|>`), so it is tokenized with special-token parsing and without
 * adding specials; BOS is prepended only when the model wants one and the
 * template did not already write it (Jinja templates often do).
 */
import { KilnError } from '../common/errors.js';
import type { GGUFFile } from './gguf/parser.js';
import { renderJinjaChat, renderOllamaTemplate, type ChatMessage, type JinjaMessage } from './template/index.js';
import type { Tokenizer } from './tokenizer/index.js';

export interface ChatTurn {
  role: 'system' | 'user' | 'assistant' | 'tool' | (string & {});
  content: string;
}

export function renderChatPrompt(file: GGUFFile, tokenizer: Tokenizer, messages: ChatTurn[], ollamaTemplate?: string): string {
  if (ollamaTemplate !== undefined) return renderOllamaTemplate(ollamaTemplate, { messages: messages as ChatMessage[] });
  const jinja = file.kv.get('tokenizer.chat_template')?.value;
  if (typeof jinja !== 'string' || jinja === '') {
    throw new KilnError('E_TEMPLATE', 'the model has no chat template (tokenizer.chat_template); pass one as the template option or use complete()');
  }
  const special = (id: number | undefined) => (id === undefined ? '' : tokenizer.tokenText(id));
  return renderJinjaChat(jinja, {
    messages: messages.map((m): JinjaMessage => ({ ...m })),
    addGenerationPrompt: true,
    bosToken: special(tokenizer.bos),
    eosToken: special(tokenizer.eos),
  });
}

export function chatPromptTokens(file: GGUFFile, tokenizer: Tokenizer, messages: ChatTurn[], ollamaTemplate?: string): number[] {
  const text = renderChatPrompt(file, tokenizer, messages, ollamaTemplate);
  const tokens = tokenizer.encode(text, { addSpecial: false, parseSpecial: true });
  const bos = tokenizer.bos;
  if (tokenizer.addBos && bos !== undefined && tokens[0] !== bos) tokens.unshift(bos);
  return tokens;
}
