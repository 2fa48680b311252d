import type { IncomingMessage } from 'node:http';
import type { Context } from 'hono';
import { KilnError, isKilnError } from '../engine/errors.js';
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

/** Streams being served, so shutdown can end them. */
export const openStreams = new Set<AbortController>();

/**
 * Runs `work`, which reports progress objects, as Ollama does: with `stream`
 * (the API's default) each object is one NDJSON line and a failure becomes a
 * final `{"error": ...}` line; without it, the last object (or the error with
 * its status) is the whole answer.
 */
export async function progressResponse<T extends object>(
  c: Context,
  stream: boolean,
  work: (emit: (p: T) => void, signal: AbortSignal) => Promise<void>,
): Promise<Response> {
  const ac = new AbortController();
  c.req.raw.signal?.addEventListener('abort', () => ac.abort(), { once: true });
  if (!stream) {
    let last: T | undefined;
    await work((p) => (last = p), ac.signal);
    return c.json(last ?? { status: 'success' });
  }
  openStreams.add(ac);
  const enc = new TextEncoder();
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      const line = (o: object) => {
        try {
          controller.enqueue(enc.encode(JSON.stringify(o) + '\n'));
        } catch {
          // client gone; the abort signal stops the work
        }
      };
      ac.signal.addEventListener('abort', () => {
        try {
          controller.close();
        } catch {
          /* already closed */
        }
      });
      work(line, ac.signal)
        .catch((e) => line(errorBody(e).body))
        .finally(() => {
          openStreams.delete(ac);
          try {
            controller.close();
          } catch {
            /* already closed */
          }
        });
    },
    cancel() {
      ac.abort();
    },
  });
  return new Response(body, { status: 200, headers: { 'content-type': 'application/x-ndjson' } });
}
