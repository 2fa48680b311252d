import type { Context, MiddlewareHandler } from 'hono';
import { errorBody, openStreams } from './http.js';

const scopes = new WeakMap<Context, AbortController>();
/** Controllers whose request answered with a stream: the stream now owns the registration. */
const handedOff = new WeakSet<AbortController>();

/**
 * Middleware: one AbortController per request, aborted when the client goes
 * away (Hono's request signal fires on the connection's close) or the daemon
 * shuts down (it aborts every controller in `openStreams`), so the work behind
 * it stops at once. It is registered for the request's lifetime only: the
 * registration ends when the handler returns or throws, unless the answer is
 * a stream (streamObjects), which then ends it when the stream does.
 */
export const requestScope: MiddlewareHandler = async (c, next) => {
  const ac = new AbortController();
  const sig = c.req.raw.signal;
  const onClose = () => ac.abort();
  if (sig.aborted) ac.abort();
  else sig.addEventListener('abort', onClose, { once: true });
  scopes.set(c, ac);
  openStreams.add(ac);
  try {
    await next();
  } finally {
    if (!handedOff.has(ac)) {
      openStreams.delete(ac);
      sig.removeEventListener('abort', onClose);
    }
  }
};

/** The request's AbortController (see requestScope). */
export function requestAbort(c: Context): AbortController {
  const ac = scopes.get(c);
  if (!ac) throw new Error('requestAbort: the route is not under the requestScope middleware');
  return ac;
}

/** How objects are framed on the wire. */
export interface Framing {
  contentType: string;
  frame(o: object): string;
  /** Written after the last object (SSE's `data: [DONE]`). */
  end?: string;
  /** The object that reports an error after the response has started. */
  error(e: unknown): object;
}

export const NDJSON: Framing = {
  contentType: 'application/x-ndjson',
  frame: (o) => JSON.stringify(o) + '\n',
  error: (e) => errorBody(e).body,
};

/**
 * Streams the objects of `items` as they come, pulled one at a time so a
 * slow reader holds the producer back. When the client disconnects the
 * stream is cancelled: the controller aborts (cancelling the generation) and
 * the iterator is closed, which releases what it holds.
 */
export function streamObjects(ac: AbortController, items: AsyncGenerator<object, unknown>, framing: Framing): Response {
  handedOff.add(ac);
  const enc = new TextEncoder();
  let finished = false;
  const finish = () => {
    finished = true;
    openStreams.delete(ac);
  };
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (finished) return;
      try {
        const r = await items.next();
        if (!r.done) {
          controller.enqueue(enc.encode(framing.frame(r.value)));
          return;
        }
        if (framing.end) controller.enqueue(enc.encode(framing.end));
      } catch (e) {
        if (!ac.signal.aborted) controller.enqueue(enc.encode(framing.frame(framing.error(e))));
      }
      finish();
      try {
        controller.close();
      } catch {
        /* already closed */
      }
    },
    async cancel() {
      finish();
      ac.abort();
      await items.return(undefined).catch(() => {});
    },
  });
  ac.signal.addEventListener('abort', () => {
    // Shutdown or disconnect while a pull waits on the producer: end the iterator too.
    if (!finished) void items.return(undefined).catch(() => {});
  }, { once: true });
  return new Response(body, { status: 200, headers: { 'content-type': framing.contentType, 'cache-control': 'no-cache' } });
}

/** Drains `items` into an array (non-streaming answers). */
export async function collect<T>(items: AsyncGenerator<T, unknown>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of items) out.push(x);
  return out;
}

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
  const ac = requestAbort(c);
  if (!stream) {
    let last: T | undefined;
    await work((p) => (last = p), ac.signal);
    return c.json(last ?? { status: 'success' });
  }
  handedOff.add(ac);
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
