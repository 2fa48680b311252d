import type { ChatRequest } from '../api/types.js';
import { prepare, type ServeDeps } from './inference.js';
import { renderChatPrompt, rejectImages } from './prompt.js';
import { requestName } from './resolve.js';
import { promptTokenCount } from './runnable.js';
import { planThinking } from './thinking.js';

/** Tokens of the prompt a chat request renders to (Anthropic's count_tokens); nothing is loaded. */
export async function countChatTokens(deps: ServeDeps, req: ChatRequest): Promise<number> {
  const name = requestName(req);
  const p = await prepare(deps, name, req);
  const plan = planThinking(p.model, name, req.think);
  const messages = req.messages ?? [];
  rejectImages(p.model, messages.flatMap((m) => m.images ?? []));
  return promptTokenCount(p.model.path, renderChatPrompt(p.model, messages, req.tools, plan.think));
}
