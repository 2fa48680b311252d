import type { IncomingMessage } from 'node:http';
import type { Context } from 'hono';
import { KilnError, isKilnError } from '../common/errors.js';
import type { ErrorResponse } from './api/types.js';

/**
 * Reads a JSON request body of at most `limit` bytes: 413 past it (checked
 * against Content-Length first, then while reading, so a lying client cannot
 * make the daemon buffer more), 400 for an empty or malformed body.
 */
export async function readJson<T = Record<string, unknown>>(c: Context, limit: number): Promise<T> {
  const declared = Number(c.req.header('content-length') ?? NaN);
  if (declared > limit) throw new KilnError('E_PAYLOAD_TOO_LARGE', `request body of ${declared} bytes is larger than the ${limit}-byte limit`);
  // Under @hono/node-server the Node request is at hand: reading it directly
  // skips the web-stream adapter (about half a millisecond a request).
  const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
  const source: AsyncIterable<Uint8Array> = incoming ?? webChunks(c.req.raw.body);
  const chunks: Uint8Array[] = [];
  let size = 0;
  // Leaving the loop early (the limit) ends the iterator, which stops reading the body.
  for await (const value of source) {
    size += value.byteLength;
    if (size > limit) throw new KilnError('E_PAYLOAD_TOO_LARGE', `request body is larger than the ${limit}-byte limit`);
    chunks.push(value);
  }
  if (size === 0) throw new KilnError('E_INVALID_JSON', 'missing request body');
  let v: unknown;
  try {
    v = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch (e) {
    throw new KilnError('E_INVALID_JSON', `invalid JSON: ${(e as Error).message}`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new KilnError('E_INVALID_JSON', 'request body must be a JSON object');
  return v as T;
}

async function* webChunks(body: ReadableStream<Uint8Array> | null): AsyncGenerator<Uint8Array> {
  if (!body) return;
  const reader = body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      yield value;
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
}

export function errorBody(e: unknown): { status: number; body: ErrorResponse } {
  if (isKilnError(e)) return { status: e.httpStatus, body: { error: e.message } };
  return { status: 500, body: { error: (e as Error)?.message ?? String(e) } };
}

/** Requests being served (see requestScope in stream.ts), so shutdown can end them. */
export const openStreams = new Set<AbortController>();
