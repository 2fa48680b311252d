/**
 * HTTP to one registry on undici: the scheme rule (https unless `insecure`),
 * auth challenges answered once per request, redirects followed by hand so that
 * the Authorization header never leaves the registry's own origin, and retries
 * with exponential backoff for network errors, 5xx and 429.
 */
import type { Readable } from 'node:stream';
import { Agent, request, type Dispatcher } from 'undici';
import { KilnError } from '../common/errors.js';
import { basicHeader, checkRealm, parseChallenge, type Challenge, type Credentials } from './auth.js';
import { networkError } from './network-error.js';

export interface ClientOptions {
  insecure: boolean;
  credentials?: Credentials;
  /** KILN_AUTH_REALM_HOSTS */
  trustedRealms: string[];
  retries: number;
  retryDelayMs: number;
  dispatcher?: Dispatcher;
}

export interface SendOptions {
  method?: Dispatcher.HttpMethod;
  headers?: Record<string, string>;
  /** A factory, so that an auth retry, a redirect or a backoff retry can send the body again. */
  body?: () => Buffer | Readable | null;
  /** Longest quiet gap inside a body (undici's bodyTimeout): a stalled transfer fails instead of hanging. */
  bodyTimeout?: number;
  /** Longest wait for the response headers. */
  headersTimeout?: number;
  signal?: AbortSignal;
  /** Retry network errors, 5xx and 429 (default: only GET and HEAD). */
  retry?: boolean;
}

export interface RegistryResponse {
  status: number;
  headers: Dispatcher.ResponseData['headers'];
  body: Dispatcher.ResponseData['body'];
  /** Where the answer finally came from, after redirects. */
  url: URL;
}

const MAX_REDIRECTS = 10;
const MAX_DELAY_MS = 30_000;
const RETRYABLE_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_RES_CONTENT_LENGTH_MISMATCH',
]);

let sharedAgent: Agent | undefined;
/** One keep-alive pool for all registry traffic of the process. */
export function registryAgent(): Agent {
  sharedAgent ??= new Agent({ keepAliveTimeout: 10_000, connectTimeout: 30_000, headersTimeout: 60_000, bodyTimeout: 60_000 });
  return sharedAgent;
}

/** True for failures worth another try: the network, timeouts, a body cut short. */
export function isTransient(e: unknown): boolean {
  let cur = e as { code?: string; cause?: unknown } | undefined;
  for (let depth = 0; cur && depth < 4; depth++) {
    if (cur.code && RETRYABLE_CODES.has(cur.code)) return true;
    cur = cur.cause as typeof cur;
  }
  return false;
}

export function abortError(signal: AbortSignal): KilnError {
  const r = signal.reason;
  return r instanceof KilnError ? r : new KilnError('E_CANCELLED', 'pull canceled');
}

/** Waits `ms`, or rejects as soon as `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(abortError(signal));
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(abortError(signal!));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Exponential backoff with jitter: base·2^n, at most 30 s. */
export function backoff(base: number, failures: number): number {
  const d = Math.min(MAX_DELAY_MS, base * 2 ** Math.max(0, failures - 1));
  return Math.round(d / 2 + (Math.random() * d) / 2);
}

/** Drops a response body without reading it (an undici body destroyed unread emits 'error'). */
export function discard(body: Dispatcher.ResponseData['body']): void {
  body.on('error', () => {});
  body.destroy();
}

/** Reads a body of at most `limit` bytes; more is an error (a manifest is KBs, a hostile one is not). */
export async function readLimited(body: Dispatcher.ResponseData['body'], limit: number, what: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of body) {
    n += (c as Buffer).length;
    if (n > limit) {
      discard(body);
      throw new KilnError('E_REGISTRY', `${what} is larger than the ${limit}-byte limit`);
    }
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks);
}

/** A registry error answer (`{"errors":[{"code","message"}]}`) as one line. */
export async function describeError(res: RegistryResponse): Promise<string> {
  let text = '';
  try {
    text = (await readLimited(res.body, 64 * 1024, 'error body')).toString('utf8');
  } catch {
    /* unreadable: status alone */
  }
  try {
    const errs = (JSON.parse(text) as { errors?: { code?: string; message?: string }[] }).errors;
    if (Array.isArray(errs) && errs.length) return errs.map((e) => [e.code, e.message].filter(Boolean).join(': ')).join('; ');
  } catch {
    /* not JSON */
  }
  return text.trim().slice(0, 200) || `HTTP ${res.status}`;
}

function header(h: Dispatcher.ResponseData['headers'], name: string): string | undefined {
  const v = h[name];
  return Array.isArray(v) ? v[0] : v;
}

export class RegistryClient {
  readonly host: string;
  readonly base: URL;
  private authorization: string | undefined;
  private readonly dispatcher: Dispatcher;

  constructor(
    host: string,
    private readonly opts: ClientOptions,
  ) {
    this.host = host;
    this.base = new URL(`${opts.insecure ? 'http' : 'https'}://${host}`);
    this.dispatcher = opts.dispatcher ?? registryAgent();
  }

  /** True when requests go out through the shared agent rather than a dispatcher given by the caller (a test's). */
  get ownSockets(): boolean {
    return this.opts.dispatcher === undefined;
  }

  /** The headers a request to `url` made outside `send` must carry: the registry's credentials, on its own origin only. */
  authHeaders(url: URL): Record<string, string> {
    return url.origin === this.base.origin && this.authorization ? { authorization: this.authorization } : {};
  }

  url(path: string): URL {
    return new URL(path, this.base);
  }

  /**
   * One request with auth, redirects and (for GET/HEAD, or when asked) retries.
   * Any status comes back; the caller decides what it means and must consume or
   * destroy the body.
   */
  async send(target: URL | string, opts: SendOptions = {}): Promise<RegistryResponse> {
    const method = opts.method ?? 'GET';
    const retry = opts.retry ?? (method === 'GET' || method === 'HEAD');
    const url = typeof target === 'string' ? this.url(target) : target;
    for (let failures = 0; ; ) {
      try {
        const res = await this.sendOnce(url, method, opts);
        if (retry && (res.status >= 500 || res.status === 429) && failures < this.opts.retries) {
          discard(res.body);
          failures++;
          await sleep(backoff(this.opts.retryDelayMs, failures), opts.signal);
          continue;
        }
        return res;
      } catch (e) {
        if (opts.signal?.aborted) throw abortError(opts.signal);
        if (!retry || !isTransient(e) || failures >= this.opts.retries) throw networkError(e, this.host, this.opts.insecure);
        failures++;
        await sleep(backoff(this.opts.retryDelayMs, failures), opts.signal);
      }
    }
  }

  private async sendOnce(start: URL, method: Dispatcher.HttpMethod, opts: SendOptions): Promise<RegistryResponse> {
    let url = start;
    let m = method;
    let authTried = false;
    const seen = new Set<string>();
    for (let hops = 0; ; ) {
      const own = url.origin === this.base.origin;
      const headers: Record<string, string> = { 'user-agent': 'kiln', ...opts.headers };
      // Credentials and tokens go to the registry's own origin only: a redirect
      // to a CDN (or anywhere else) is followed without them.
      if (own && this.authorization) headers.authorization = this.authorization;
      const res = await request(url, {
        method: m,
        headers,
        body: m === 'GET' || m === 'HEAD' ? undefined : (opts.body?.() ?? undefined),
        dispatcher: this.dispatcher,
        signal: opts.signal,
        bodyTimeout: opts.bodyTimeout,
        headersTimeout: opts.headersTimeout,
      });
      if (res.statusCode === 401 && own && !authTried) {
        const challenge = parseChallenge(header(res.headers, 'www-authenticate'));
        discard(res.body);
        await this.authenticate(challenge, opts.signal);
        authTried = true;
        continue;
      }
      const location = header(res.headers, 'location');
      if ([301, 302, 303, 307, 308].includes(res.statusCode) && location) {
        discard(res.body);
        const next = new URL(location, url);
        if (++hops > MAX_REDIRECTS || seen.has(next.href) || next.href === url.href) {
          throw new KilnError('E_REGISTRY', `${this.host}: redirect loop at ${next.origin}${next.pathname}`);
        }
        if (next.protocol !== 'https:' && !(next.protocol === 'http:' && this.opts.insecure)) {
          throw new KilnError('E_REGISTRY', `${this.host} redirected to ${next.protocol}//${next.host}, which is not https`);
        }
        seen.add(url.href);
        if (res.statusCode === 303) m = 'GET';
        url = next;
        continue;
      }
      return { status: res.statusCode, headers: res.headers, body: res.body, url };
    }
  }

  private async authenticate(challenge: Challenge | undefined, signal?: AbortSignal): Promise<void> {
    const creds = this.opts.credentials;
    if (!challenge) throw new KilnError('E_UNAUTHORIZED', `${this.host} requires authentication but sent no usable challenge`);
    if (challenge.scheme === 'basic') {
      if (!creds || !('username' in creds)) throw noCredentials(this.host);
      this.authorization = basicHeader(creds);
      return;
    }
    const realm = checkRealm(challenge.realm, this.host, { insecure: this.opts.insecure, trusted: this.opts.trustedRealms });
    const q = new URLSearchParams();
    if (challenge.service) q.set('service', challenge.service);
    for (const s of challenge.scopes) q.append('scope', s);
    let res: Dispatcher.ResponseData;
    if (creds && 'identityToken' in creds) {
      // OAuth2 refresh-token grant of the token spec, for `docker login` identity tokens.
      q.set('grant_type', 'refresh_token');
      q.set('refresh_token', creds.identityToken);
      q.set('client_id', 'kiln');
      res = await request(realm, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'user-agent': 'kiln' },
        body: q.toString(),
        dispatcher: this.dispatcher,
        signal,
      });
    } else {
      const url = new URL(realm);
      for (const [k, v] of q) url.searchParams.append(k, v);
      if (creds) url.searchParams.set('account', creds.username);
      const headers: Record<string, string> = { 'user-agent': 'kiln' };
      if (creds) headers.authorization = basicHeader(creds);
      res = await request(url, { method: 'GET', headers, dispatcher: this.dispatcher, signal });
    }
    if (res.statusCode !== 200) {
      const why = await describeError({ ...res, status: res.statusCode, url: realm });
      throw new KilnError('E_UNAUTHORIZED', `${this.host}: token server ${realm.host} refused (${res.statusCode}): ${why}`);
    }
    let token: unknown;
    try {
      const doc = JSON.parse((await readLimited(res.body, 1 << 20, 'token answer')).toString('utf8')) as { token?: unknown; access_token?: unknown };
      token = doc.token ?? doc.access_token;
    } catch (e) {
      if (e instanceof KilnError) throw e;
    }
    if (typeof token !== 'string' || !token || /[\r\n]/.test(token)) {
      throw new KilnError('E_UNAUTHORIZED', `${this.host}: token server ${realm.host} sent no token`);
    }
    this.authorization = `Bearer ${token}`;
  }
}

function noCredentials(host: string): KilnError {
  return new KilnError('E_UNAUTHORIZED', `${host} requires a login: add credentials for it to $KILN_HOME/auth.json or ~/.docker/config.json`);
}
