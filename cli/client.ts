import { Agent, request, type Dispatcher } from 'undici';
import { KilnError } from '../common/errors.js';
import type { Config } from '../daemon/config.js';

export class DaemonNotRunning extends KilnError {
  constructor(socketPath: string) {
    super('E_DAEMON_NOT_RUNNING', `kiln is not running (no daemon at ${socketPath}).\nStart it with:  kiln serve`);
  }
}

/** Error answered by the daemon: the message of its `{"error": ...}` body and the HTTP status. */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

/**
 * The CLI's only way to the store: HTTP over the daemon's unix socket. The
 * host in URLs is a placeholder; the socket decides where requests go.
 */
export class Client {
  private readonly agent: Agent;

  constructor(private readonly config: Pick<Config, 'socketPath'>) {
    this.agent = new Agent({ connect: { socketPath: config.socketPath }, bodyTimeout: 0, headersTimeout: 0 });
  }

  async close(): Promise<void> {
    await this.agent.close();
  }

  private async send(method: Dispatcher.HttpMethod, path: string, body?: unknown, raw?: NodeJS.ReadableStream, signal?: AbortSignal): Promise<Dispatcher.ResponseData> {
    try {
      return await request(`http://localhost${path}`, {
        method,
        dispatcher: this.agent,
        signal,
        headers: raw ? { 'content-type': 'application/octet-stream' } : body !== undefined ? { 'content-type': 'application/json' } : {},
        body: raw ? (raw as never) : body !== undefined ? JSON.stringify(body) : undefined,
      });
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ECONNREFUSED' || code === 'ENOTSOCK') throw new DaemonNotRunning(this.config.socketPath);
      throw e;
    }
  }

  private static async fail(res: Dispatcher.ResponseData): Promise<never> {
    const text = await res.body.text();
    let msg = text;
    try {
      msg = (JSON.parse(text) as { error?: string }).error ?? text;
    } catch {
      /* not JSON */
    }
    throw new ApiError(msg || `HTTP ${res.statusCode}`, res.statusCode);
  }

  async json<T>(method: Dispatcher.HttpMethod, path: string, body?: unknown): Promise<T> {
    const res = await this.send(method, path, body);
    if (res.statusCode >= 400) await Client.fail(res);
    const text = await res.body.text();
    return (text ? JSON.parse(text) : {}) as T;
  }

  /** HEAD/POST-style call that only reports the status. */
  async status(method: Dispatcher.HttpMethod, path: string, raw?: NodeJS.ReadableStream): Promise<number> {
    const res = await this.send(method, path, undefined, raw);
    if (res.statusCode >= 400 && res.statusCode !== 404) await Client.fail(res);
    await res.body.dump();
    return res.statusCode;
  }

  /** A POST whose answer is not JSON (a tar from /api/export): the response, its body unread. */
  async raw(path: string, body: unknown): Promise<Dispatcher.ResponseData> {
    const res = await this.send('POST', path, body);
    if (res.statusCode >= 400) await Client.fail(res);
    return res;
  }

  /**
   * A streaming NDJSON endpoint; an `{"error"}` line is thrown. With `upload`, that stream is the request body.
   * Aborting `signal` hangs up, which cancels the work on the daemon (a generation stops at once).
   */
  async *stream<T>(path: string, body: unknown, upload?: NodeJS.ReadableStream, signal?: AbortSignal): AsyncGenerator<T> {
    const res = upload ? await this.send('POST', path, undefined, upload, signal) : await this.send('POST', path, body, undefined, signal);
    if (res.statusCode >= 400) await Client.fail(res);
    let buf = '';
    for await (const chunk of res.body) {
      buf += chunk.toString();
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        if (!line) continue;
        const obj = JSON.parse(line) as { error?: string };
        if (obj.error) throw new ApiError(obj.error, 500);
        yield obj as T;
      }
    }
    if (buf.trim()) {
      const obj = JSON.parse(buf) as { error?: string };
      if (obj.error) throw new ApiError(obj.error, 500);
      yield obj as T;
    }
  }
}
