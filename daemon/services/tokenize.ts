/**
 * POST /api/tokenize and /api/detokenize: llama-server's /tokenize and
 * /detokenize with a `model`. The tokenizer is read from the model's GGUF
 * header in the daemon (cached per blob, the one /api/chat uses to fit a
 * history to the context); no runner is started and no weights are loaded,
 * so tokenizing never waits behind generations in the model's queue nor
 * evicts a loaded model.
 */
import { detokenize as joinPieces, tokenize as encode, withPieces } from '../../engine/tokenize.js';
import type { DetokenizeRequest, DetokenizeResponse, TokenizeRequest, TokenizeResponse } from '../api/types.js';
import type { Store } from '../../store/index.js';
import { promptTokens } from '../runner/tokens.js';
import { renderChatPrompt } from './prompt.js';
import { requestName } from './resolve.js';
import { planThinking } from './thinking.js';
import { runnableModel, tokenizerOf } from './runnable.js';

export async function tokenize(store: Store, req: TokenizeRequest): Promise<TokenizeResponse> {
  const model = requestName(req);
  const m = await runnableModel(store, model);
  const tok = tokenizerOf(m.path);
  // With messages: the prompt exactly as /api/chat renders it (its `think` resolved the same way), and by
  // default the very tokens the runner feeds the model for it (BOS added unless the template wrote it).
  const prompt = req.messages !== undefined ? renderChatPrompt(m, req.messages, req.tools, planThinking(m, model, req.think).think) : undefined;
  const asChat = prompt !== undefined && req.add_special !== false && req.parse_special !== false;
  const ids = asChat
    ? promptTokens(tok, prompt)
    : encode(tok, prompt ?? req.content ?? '', { addSpecial: req.add_special ?? prompt !== undefined, parseSpecial: req.parse_special ?? true });
  return { model, tokens: req.with_pieces ? withPieces(tok, ids) : ids, ...(prompt !== undefined ? { prompt } : {}) };
}

export async function detokenize(store: Store, req: DetokenizeRequest): Promise<DetokenizeResponse> {
  const model = requestName(req);
  const m = await runnableModel(store, model);
  return { model, content: joinPieces(tokenizerOf(m.path), req.tokens) };
}
