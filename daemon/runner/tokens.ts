import type { Tokenizer } from '../../engine/tokenizer/index.js';

/**
 * The tokens of a rendered prompt. Control tokens written by the template
 * (`<|start_header_id|>`) are parsed as such. BOS is added where the model
 * asks for it, unless the template already wrote it (Jinja chat templates
 * print bos_token) or the prompt continues an earlier `context`.
 */
export function promptTokens(tok: Tokenizer, prompt: string, context?: number[]): number[] {
  const continuing = context !== undefined && context.length > 0;
  const ids = tok.encode(prompt, { addSpecial: !continuing, parseSpecial: true });
  if (!continuing && tok.addBos && ids.length >= 2 && ids[0] === tok.bos && ids[1] === tok.bos) ids.shift();
  return continuing ? [...context, ...ids] : ids;
}

/**
 * Fits a prompt into the context window, as llama.cpp's context shift does:
 * a prompt that leaves no room to generate keeps its first `keep` tokens
 * (BOS, a system prompt's start) and the newest tokens, filling half the
 * window, so there is still half the window to answer in.
 */
export function fitPrompt(tokens: number[], nCtx: number, keep: number): { tokens: number[]; truncated: number } {
  if (tokens.length < nCtx) return { tokens, truncated: 0 };
  const k = Math.max(0, Math.min(keep, Math.floor(nCtx / 4)));
  const tail = Math.max(1, Math.floor(nCtx / 2) - k);
  const out = [...tokens.slice(0, k), ...tokens.slice(tokens.length - tail)];
  return { tokens: out, truncated: tokens.length - out.length };
}

/** Scales a vector to unit length (Ollama's /api/embed answers normalized embeddings). */
export function l2normalize(v: Float32Array): Float32Array {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i] * v[i];
  const n = Math.sqrt(s);
  if (n === 0) return v;
  const out = new Float32Array(v.length);
  for (let i = 0; i < v.length; i++) out[i] = v[i] / n;
  return out;
}
