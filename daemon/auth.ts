/**
 * API keys on the TCP listener. While an unrevoked key exists, every TCP
 * request presents one (`Authorization: Bearer KEY` or `x-api-key: KEY`);
 * the unix socket is owner-only and needs none (the CLI uses it, and it is
 * the only door to key management). A key is `kiln_` and 256 random bits;
 * the store keeps its SHA-256 only.
 *
 * Failures: a missing, malformed, wrong or revoked key is the same 401 with
 * the same words (the log says which, with the client's address); a valid key
 * whose scope does not cover the route is a 403. Inference keys may generate,
 * chat, embed, rerank, tokenize, list, show and use every /v1 route and
 * /metrics; everything else (pull, push, create, copy, delete, blobs,
 * import/export, verify, prune) needs an admin key.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';
import type { Context, MiddlewareHandler } from 'hono';
import { KilnError } from '../common/errors.js';
import type { ActiveKey, KeyScope, Store } from '../store/index.js';
import type { Config } from './config.js';

export const KEY_PREFIX = 'kiln_';

export interface NewKey {
  id: string;
  key: string;
  hash: string;
}

export function hashKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

export function newKey(): NewKey {
  const key = KEY_PREFIX + randomBytes(32).toString('base64url');
  return { id: randomBytes(4).toString('hex'), key, hash: hashKey(key) };
}

/** The key a request presents: a Bearer token, else x-api-key; undefined when none. */
export function presentedKey(authorization: string | undefined, xApiKey: string | undefined): string | undefined {
  if (authorization !== undefined) {
    const m = /^\s*bearer\s+(\S+)\s*$/i.exec(authorization);
    if (m) return m[1];
  }
  const x = xApiKey?.trim();
  return x ? x : undefined;
}

/**
 * The active key whose hash equals the presented key's, comparing against
 * every key in constant time (no early exit, fixed-length digests), so the
 * time taken says nothing about how close a guess was.
 */
export function matchKey(keys: readonly ActiveKey[], presented: string): ActiveKey | undefined {
  const digest = createHash('sha256').update(presented, 'utf8').digest();
  let found: ActiveKey | undefined;
  for (const k of keys) {
    const stored = Buffer.from(k.hash, 'hex');
    const same = stored.length === digest.length && timingSafeEqual(stored, digest);
    if (same && !found) found = k;
  }
  return found;
}

const INFERENCE_POST = new Set(['/api/generate', '/api/chat', '/api/embed', '/api/embeddings', '/api/show', '/api/fit', '/api/tokenize', '/api/detokenize', '/api/rerank']);
const INFERENCE_GET = new Set(['/', '/api/version', '/api/tags', '/api/ps', '/metrics']);

/** The least scope a route needs. */
export function requiredScope(method: string, path: string): KeyScope {
  if (path === '/v1' || path.startsWith('/v1/')) return 'inference';
  if ((method === 'GET' || method === 'HEAD') && INFERENCE_GET.has(path)) return 'inference';
  if (method === 'POST' && INFERENCE_POST.has(path)) return 'inference';
  return 'admin';
}

/** A loopback address (127.0.0.0/8, ::1, localhost): only this machine can reach it. */
export function isLoopback(hostname: string): boolean {
  const h = hostname.toLowerCase().replace(/^\[|\]$/g, '');
  if (h === 'localhost' || h.endsWith('.localhost')) return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  if (isIP(h) === 6) return h === '::1' || h === '0:0:0:0:0:0:0:1' || /^::ffff:127\./.test(h);
  return false;
}

/**
 * Refuses to start on an address other machines can reach when no key
 * exists: everyone there could pull, delete and run models. KILN_ALLOW_OPEN=1
 * overrides.
 */
export function checkExposure(config: Pick<Config, 'host' | 'allowOpen'>, store: Store): void {
  if (config.allowOpen || isLoopback(config.host.hostname) || store.keys.activeCount() > 0) return;
  throw new KilnError(
    'E_CONFIG',
    `refusing to listen on ${config.host.hostname}:${config.host.port} with no API key: anyone who can reach that address could use and delete your models. ` +
      'Create a key first (kiln keys create --scope admin; it works while the daemon is stopped), or set KILN_ALLOW_OPEN=1 to serve without keys.',
  );
}

function clientAddress(c: Context): string {
  const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
  return incoming?.socket?.remoteAddress ?? 'unknown';
}

/** The key check of the TCP app. OPTIONS (CORS preflight, which carries no credentials) passes. */
export function requireKey(store: Store, log: (m: string) => void): MiddlewareHandler {
  const touched = new Map<string, number>();
  return async (c, next) => {
    if (c.req.method === 'OPTIONS') return next();
    const keys = store.keys.active();
    if (keys.length === 0) return next();
    const presented = presentedKey(c.req.header('authorization'), c.req.header('x-api-key'));
    const key = presented === undefined ? undefined : matchKey(keys, presented);
    if (!key) {
      log(`auth: refused ${c.req.method} ${c.req.path} from ${clientAddress(c)}: ${presented === undefined ? 'no API key' : 'invalid API key'}`);
      c.header('WWW-Authenticate', 'Bearer realm="kiln"');
      throw new KilnError('E_INVALID_API_KEY', 'unauthorized: a valid API key is required');
    }
    const need = requiredScope(c.req.method, c.req.path);
    if (need === 'admin' && key.scope !== 'admin') {
      log(`auth: refused ${c.req.method} ${c.req.path} from ${clientAddress(c)}: key ${key.id} has scope ${key.scope}, the route needs admin`);
      throw new KilnError('E_FORBIDDEN', `forbidden: ${c.req.method} ${c.req.path} needs an admin key`);
    }
    // last_used_at, written at most once a minute a key (each write is an fsync).
    const now = Date.now();
    if ((touched.get(key.id) ?? 0) < now - 60_000) {
      touched.set(key.id, now);
      store.keys.touch(key.id, now);
    }
    return next();
  };
}
