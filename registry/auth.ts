/**
 * Registry authentication: the `WWW-Authenticate` challenge of a 401, the
 * credentials a user has stored, and the rule for where a token may be fetched.
 *
 * Bearer (Docker token auth): the challenge names a `realm` URL, a `service`
 * and the `scope`s the request needs; the client GETs
 * `realm?service=…&scope=…` (with Basic credentials when it has them) and
 * gets `{token}` or `{access_token}` back. Basic: the credentials go straight
 * to the registry.
 *
 * CVE-2025-51471: Ollama fetched the token from whatever realm a registry
 * named, sending the user's credentials along, so a hostile registry could
 * harvest them. A realm is accepted only on the registry's own host name (any
 * port: the same machine) or on a host the user configured.
 */
import { readFileSync } from 'node:fs';
import { KilnError } from '../common/errors.js';

export interface Challenge {
  scheme: 'bearer' | 'basic';
  realm: string;
  service?: string;
  /** Space-separated in the header; one entry per scope here. */
  scopes: string[];
}

/**
 * Parses the first Bearer or Basic challenge of a `WWW-Authenticate` value:
 * `Bearer realm="https://auth.example/token",service="reg",scope="repository:a/b:pull"`.
 * Parameter values may be quoted (with `\` escapes) or bare tokens.
 */
export function parseChallenge(header: string | undefined): Challenge | undefined {
  if (!header) return undefined;
  const m = /^\s*(bearer|basic)\b\s*/i.exec(header);
  if (!m) return undefined;
  const scheme = m[1].toLowerCase() as Challenge['scheme'];
  const params = new Map<string, string>();
  let i = m[0].length;
  const s = header;
  while (i < s.length) {
    while (i < s.length && /[\s,]/.test(s[i])) i++;
    const km = /^([A-Za-z0-9_-]+)\s*=\s*/.exec(s.slice(i));
    if (!km) break;
    i += km[0].length;
    let value = '';
    if (s[i] === '"') {
      i++;
      while (i < s.length && s[i] !== '"') {
        if (s[i] === '\\' && i + 1 < s.length) i++;
        value += s[i++];
      }
      i++;
    } else {
      const vm = /^[^\s,]*/.exec(s.slice(i))!;
      value = vm[0];
      i += value.length;
    }
    params.set(km[1].toLowerCase(), value);
  }
  return {
    scheme,
    realm: params.get('realm') ?? '',
    service: params.get('service'),
    scopes: (params.get('scope') ?? '').split(' ').filter(Boolean),
  };
}

export type Credentials = { username: string; password: string } | { identityToken: string };

/** Docker's config keys are `host[:port]` or a URL like `https://index.docker.io/v1/`. */
function keyHost(key: string): string {
  return key
    .replace(/^[a-z]+:\/\//i, '')
    .replace(/\/.*$/, '')
    .toLowerCase();
}

// Docker Hub's credentials are filed under its legacy index name.
const ALIASES: Record<string, string[]> = {
  'registry-1.docker.io': ['index.docker.io', 'docker.io'],
  'docker.io': ['index.docker.io', 'registry-1.docker.io'],
};

interface AuthEntry {
  auth?: unknown;
  username?: unknown;
  password?: unknown;
  identitytoken?: unknown;
}

function fromEntry(e: AuthEntry): Credentials | undefined {
  if (typeof e.identitytoken === 'string' && e.identitytoken) return { identityToken: e.identitytoken };
  if (typeof e.username === 'string' && typeof e.password === 'string') return { username: e.username, password: e.password };
  if (typeof e.auth === 'string' && e.auth) {
    const plain = Buffer.from(e.auth, 'base64').toString('utf8');
    const colon = plain.indexOf(':');
    if (colon > 0) return { username: plain.slice(0, colon), password: plain.slice(colon + 1) };
  }
  return undefined;
}

/**
 * Credentials for a registry host from the first file that has an entry:
 * `$KILN_HOME/auth.json`, then the Docker config. Both use Docker's shape,
 * `{"auths": {"host:port": {"auth": base64("user:pass")}}}` (or `username` and
 * `password`, or `identitytoken`). Docker credential helpers (`credsStore`)
 * are not run: kiln does not execute programs named in a config file.
 */
export function loadCredentials(host: string, files: string[]): Credentials | undefined {
  const want = [host.toLowerCase(), ...(ALIASES[host.toLowerCase()] ?? [])];
  for (const file of files) {
    let doc: unknown;
    try {
      doc = JSON.parse(readFileSync(file, 'utf8'));
    } catch {
      continue; // missing or unreadable: try the next
    }
    const auths = (doc as { auths?: unknown })?.auths;
    if (!auths || typeof auths !== 'object') continue;
    for (const [key, entry] of Object.entries(auths as Record<string, AuthEntry>)) {
      if (!want.includes(keyHost(key)) || !entry || typeof entry !== 'object') continue;
      const c = fromEntry(entry);
      if (c) return c;
    }
  }
  return undefined;
}

// Realms of the public registries that live on a host of their own.
const KNOWN_REALMS: Record<string, string[]> = {
  'registry.ollama.ai': ['ollama.com'],
  'registry-1.docker.io': ['auth.docker.io'],
  'docker.io': ['auth.docker.io'],
  'ghcr.io': ['ghcr.io'],
  'hf.co': ['huggingface.co'],
};

function hostnameOf(hostPort: string): string {
  return new URL(`http://${hostPort}`).hostname.toLowerCase();
}

/**
 * The token URL for a challenge, or E_FORBIDDEN_REALM: the realm must be an
 * absolute http(s) URL (http only when the registry itself is insecure), on
 * the registry's host name, a known realm of that registry, or a host the user
 * trusts with KILN_AUTH_REALM_HOSTS.
 */
export function checkRealm(realm: string, registryHost: string, opts: { insecure: boolean; trusted: string[] }): URL {
  let url: URL;
  try {
    url = new URL(realm);
  } catch {
    throw new KilnError('E_FORBIDDEN_REALM', `registry ${registryHost} sent an unusable token realm ${JSON.stringify(realm.slice(0, 200))}`);
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && opts.insecure)) {
    throw new KilnError('E_FORBIDDEN_REALM', `token realm ${url.origin} of ${registryHost} is not https (use --insecure for a plain-http registry)`);
  }
  if (url.username || url.password) throw new KilnError('E_FORBIDDEN_REALM', `token realm of ${registryHost} carries credentials`);
  const own = hostnameOf(registryHost);
  const realmHost = url.hostname.toLowerCase();
  const allowed = new Set([own, ...(KNOWN_REALMS[own] ?? []), ...opts.trusted.map((h) => h.toLowerCase())]);
  if (!allowed.has(realmHost)) {
    throw new KilnError(
      'E_FORBIDDEN_REALM',
      `registry ${registryHost} asked for credentials to be sent to ${realmHost}, another host; refused (add it to KILN_AUTH_REALM_HOSTS if you trust it)`,
    );
  }
  return url;
}

export function basicHeader(c: { username: string; password: string }): string {
  return `Basic ${Buffer.from(`${c.username}:${c.password}`).toString('base64')}`;
}
