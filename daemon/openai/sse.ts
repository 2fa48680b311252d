import type { Framing } from '../stream.js';
import { openaiError } from './errors.js';

/** Server-sent events as OpenAI streams them: `data: {json}` per chunk, `data: [DONE]` at the end. */
export const SSE: Framing = {
  contentType: 'text/event-stream',
  frame: (o) => `data: ${JSON.stringify(o)}\n\n`,
  end: 'data: [DONE]\n\n',
  error: (e) => openaiError(e).body,
};
