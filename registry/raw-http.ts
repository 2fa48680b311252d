/**
 * A plain-http GET whose body is read straight into memory the caller hands
 * out (net.Socket's `onread`), for blob bodies from `http:` registries. No
 * per-read Buffer is allocated and no byte is copied in JavaScript: on
 * loopback that is most of what separates a Node download from `curl -o`.
 *
 * Deliberately small: one request per connection (`Connection: close`), a
 * status line, headers and a Content-Length body. Anything else (redirects,
 * auth challenges, chunked bodies) is for the caller to hand to the full
 * client (client.ts).
 */
import { connect, type Socket } from 'node:net';

/** Errors carry the codes client.ts's isTransient() knows. */
function netError(message: string, code: string): Error {
  return Object.assign(new Error(message), { code });
}

const HEAD_MAX = 64 * 1024;

export interface RawHead {
  status: number;
  /** Lower-cased names; a repeated header keeps its first value. */
  headers: Record<string, string>;
}

export interface BodyTarget {
  /** Memory for the next read, or undefined when none is free (reading pauses until `resume()`). */
  region(): Buffer | undefined;
  /** `n` bytes were read into `buf`: the last region handed out, or (`own` false) memory of the reader's that must be copied now. */
  data(buf: Buffer, n: number, own: boolean): void;
}

export class RawGet {
  head!: RawHead;
  private sock!: Socket;
  private readonly headBuf = Buffer.allocUnsafe(HEAD_MAX);
  private headLen = 0;
  private bodyStart = 0;
  private target: BodyTarget | undefined;
  private handed: Buffer | undefined;
  private next: Buffer | undefined;
  private paused = false;
  private remaining = 0;
  private settle: { resolve: () => void; reject: (e: unknown) => void } | undefined;
  private failure: unknown;

  private constructor(private readonly timeoutMs: number) {}

  /** Connects, sends the GET and resolves once the status line and headers are in. */
  static open(url: URL, headers: Record<string, string>, opts: { timeoutMs: number; signal?: AbortSignal }): Promise<RawGet> {
    const g = new RawGet(opts.timeoutMs);
    return new Promise<RawGet>((resolve, reject) => {
      g.settle = { resolve: () => resolve(g), reject };
      const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
      const lines = [`GET ${url.pathname}${url.search} HTTP/1.1`, `Host: ${url.host}`, 'Connection: close'];
      for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`);
      g.sock = connect({
        host,
        port: Number(url.port || 80),
        onread: { buffer: () => g.nextBuffer(), callback: (n: number, buf: Uint8Array) => g.onRead(n, buf as Buffer) },
      });
      g.sock.setNoDelay(true);
      g.sock.setTimeout(opts.timeoutMs, () => g.fail(netError(`no bytes for ${opts.timeoutMs} ms`, g.head ? 'UND_ERR_BODY_TIMEOUT' : 'UND_ERR_HEADERS_TIMEOUT')));
      g.sock.on('error', (e) => g.fail(e));
      g.sock.on('close', () => g.fail(netError(g.head ? `connection closed with ${g.remaining} bytes of the body missing` : 'connection closed before the headers', 'UND_ERR_SOCKET')));
      g.sock.on('connect', () => g.sock.write(lines.join('\r\n') + '\r\n\r\n'));
      const signal = opts.signal;
      if (signal) {
        const onAbort = () => g.fail(signal.reason);
        if (signal.aborted) onAbort();
        else {
          signal.addEventListener('abort', onAbort, { once: true });
          g.sock.once('close', () => signal.removeEventListener('abort', onAbort));
        }
      }
    });
  }

  /** Body length from Content-Length (undefined when absent or chunked). */
  get contentLength(): number | undefined {
    if (this.head.headers['transfer-encoding']) return undefined;
    const v = this.head.headers['content-length'];
    return v !== undefined && /^\d+$/.test(v) ? Number(v) : undefined;
  }

  /** Reads the whole body (contentLength bytes) into `target`; resolves after the last byte. */
  read(target: BodyTarget): Promise<void> {
    const len = this.contentLength;
    if (len === undefined) return Promise.reject(new Error('raw GET: no Content-Length'));
    if (this.failure) return Promise.reject(this.failure);
    this.remaining = len;
    this.target = target;
    return new Promise<void>((resolve, reject) => {
      this.settle = { resolve, reject };
      // Body bytes that came with the headers.
      const early = Math.min(this.headLen - this.bodyStart, this.remaining);
      if (early > 0) {
        this.remaining -= early;
        target.data(this.headBuf.subarray(this.bodyStart, this.bodyStart + early), early, false);
      }
      if (this.remaining === 0) return this.finish();
      this.resume();
    });
  }

  /** The target has memory again. */
  resume(): void {
    if (!this.paused || this.failure) return;
    this.paused = false;
    this.sock.setTimeout(this.timeoutMs);
    this.sock.resume();
  }

  /** Stops with `e` (a failed write, say): read() rejects with it. */
  abort(e: unknown): void {
    this.fail(e);
  }

  destroy(): void {
    this.failure ??= netError('closed', 'UND_ERR_CLOSED');
    this.sock.destroy();
  }

  private nextBuffer(): Uint8Array {
    if (!this.head) return this.headBuf.subarray(this.headLen);
    // Without a region (paused, or before read()) the next read lands in the head buffer and is copied.
    this.handed = this.next;
    this.next = undefined;
    return this.handed ?? this.headBuf;
  }

  private onRead(n: number, buf: Buffer): boolean {
    if (this.failure) return false;
    if (!this.head) {
      this.headLen += n;
      const end = this.headBuf.subarray(0, this.headLen).indexOf('\r\n\r\n');
      if (end < 0) {
        if (this.headLen >= HEAD_MAX) this.fail(netError(`response headers longer than ${HEAD_MAX} bytes`, 'UND_ERR_SOCKET'));
        return true;
      }
      try {
        this.head = parseHead(this.headBuf.toString('latin1', 0, end));
      } catch (e) {
        this.fail(e);
        return false;
      }
      this.bodyStart = end + 4;
      this.paused = true; // until read()
      this.sock.setTimeout(0);
      const s = this.settle;
      this.settle = undefined;
      s?.resolve();
      return false;
    }
    const target = this.target;
    if (!target) return false;
    if (n > this.remaining) {
      this.fail(netError('the server sent more than the Content-Length it declared', 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH'));
      return false;
    }
    this.remaining -= n;
    target.data(buf, n, buf === this.handed);
    if (this.remaining === 0) {
      this.finish();
      return false;
    }
    // Memory for the next read (handed out by nextBuffer right after this); none: pause until resume().
    this.next = target.region();
    if (!this.next) {
      this.paused = true;
      this.sock.setTimeout(0); // waiting for our own disk and hasher is not a stall
      return false;
    }
    return true;
  }

  private finish(): void {
    const s = this.settle;
    this.settle = undefined;
    this.failure ??= netError('done', 'UND_ERR_CLOSED');
    this.sock.destroy();
    s?.resolve();
  }

  private fail(e: unknown): void {
    if (this.failure) return;
    this.failure = e;
    this.sock.destroy();
    const s = this.settle;
    this.settle = undefined;
    s?.reject(e);
  }
}

function parseHead(text: string): RawHead {
  const lines = text.split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0]);
  if (!m) throw netError(`not an HTTP/1.1 answer: ${lines[0].slice(0, 80)}`, 'UND_ERR_SOCKET');
  const headers: Record<string, string> = {};
  for (const l of lines.slice(1)) {
    const i = l.indexOf(':');
    if (i <= 0) continue;
    const k = l.slice(0, i).trim().toLowerCase();
    headers[k] ??= l.slice(i + 1).trim();
  }
  return { status: Number(m[1]), headers };
}
