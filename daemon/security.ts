import { hostname } from 'node:os';
import { isIP } from 'node:net';
import type { MiddlewareHandler } from 'hono';
import { KilnError } from '../common/errors.js';
import type { Config } from './config.js';

/** Strips the port (and IPv6 brackets) from a Host header value. */
export function hostOnly(host: string): string {
  const h = host.trim().toLowerCase();
  if (h.startsWith('[')) return h.slice(1, h.indexOf(']') > 0 ? h.indexOf(']') : undefined);
  const i = h.lastIndexOf(':');
  return i > 0 && h.indexOf(':') === i ? h.slice(0, i) : h;
}

/**
 * DNS rebinding (CVE-2024-28224): a web page on evil.example re-resolves its
 * name to 127.0.0.1 and talks to the daemon as "same origin". The browser
 * still sends `Host: evil.example`, so on TCP only names that mean this
 * machine are served. IP literals cannot be rebound, so they pass.
 */
export function hostAllowed(host: string | undefined, cfg: Pick<Config, 'allowedHosts'>): boolean {
  if (host === undefined || host === '') return true; // HTTP/1.0 clients send none; no browser does that
  const h = hostOnly(host);
  if (isIP(h)) return true;
  if (h === 'localhost' || h.endsWith('.localhost')) return true;
  if (h === hostname().toLowerCase()) return true;
  return cfg.allowedHosts.includes(h);
}

const LOCAL_ORIGIN = /^(https?):\/\/(localhost|127\.0\.0\.1|\[::1\]|0\.0\.0\.0)(:\d+)?$/i;
const APP_SCHEMES = /^(app|file|tauri|vscode-webview|vscode-file):\/\//i;

function globMatch(pattern: string, s: string): boolean {
  const re = new RegExp('^' + pattern.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*') + '$', 'i');
  return re.test(s);
}

/** Browser origins: localhost in any form and desktop app schemes, plus KILN_ORIGINS (with `*` wildcards). */
export function originAllowed(origin: string, cfg: Pick<Config, 'origins'>): boolean {
  if (LOCAL_ORIGIN.test(origin) || APP_SCHEMES.test(origin)) return true;
  return cfg.origins.some((o) => o === '*' || globMatch(o, origin));
}

/** Host check (TCP only) and CORS with the origin allow-list. */
export function guard(cfg: Config, transport: 'tcp' | 'unix'): MiddlewareHandler {
  return async (c, next) => {
    if (transport === 'tcp' && !hostAllowed(c.req.header('host'), cfg)) {
      throw new KilnError('E_FORBIDDEN_HOST', `host '${c.req.header('host')}' is not allowed; add it to KILN_ALLOWED_HOSTS`);
    }
    const origin = c.req.header('origin');
    if (origin !== undefined) {
      if (!originAllowed(origin, cfg)) throw new KilnError('E_FORBIDDEN_ORIGIN', `origin '${origin}' is not allowed; add it to KILN_ORIGINS`);
      c.header('Access-Control-Allow-Origin', origin);
      c.header('Vary', 'Origin');
      if (c.req.method === 'OPTIONS') {
        c.header('Access-Control-Allow-Methods', 'GET, POST, PUT, DELETE, HEAD, OPTIONS');
        c.header('Access-Control-Allow-Headers', c.req.header('access-control-request-headers') ?? 'Authorization, X-Api-Key, Content-Type, User-Agent, Accept, X-Requested-With');
        c.header('Access-Control-Max-Age', '86400');
        return c.body(null, 204);
      }
    }
    await next();
  };
}
