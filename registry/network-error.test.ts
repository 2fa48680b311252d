import { describe, expect, it } from 'vitest';
import { KilnError } from '../common/errors.js';
import { networkError } from './network-error.js';

const err = (code: string, message: string, wrap = false) => {
  const e = Object.assign(new Error(message), { code });
  return wrap ? new TypeError('fetch failed', { cause: e }) : e;
};

describe('network errors talking to a registry', () => {
  it('says the registry cannot be reached for DNS failures, refusals and timeouts', () => {
    const cases: [string, string][] = [
      ['ENOTFOUND', 'getaddrinfo ENOTFOUND registry.ollama.ai'],
      ['EAI_AGAIN', 'getaddrinfo EAI_AGAIN registry.ollama.ai'],
      ['ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:1'],
      ['ETIMEDOUT', 'connect ETIMEDOUT'],
      ['UND_ERR_CONNECT_TIMEOUT', 'Connect Timeout Error'],
      ['ENETUNREACH', 'connect ENETUNREACH'],
    ];
    for (const [code, message] of cases) {
      for (const wrap of [false, true]) {
        const e = networkError(err(code, message, wrap), 'registry.ollama.ai', false);
        expect(e.code).toBe('E_REGISTRY');
        expect(e.message).toMatch(new RegExp(`^cannot reach the registry registry\\.ollama\\.ai: .*\\(${code}\\)`));
      }
    }
  });

  it('tells a plain-http registry met over https from other TLS trouble, and says to add --insecure', () => {
    const tls = err('ERR_SSL_WRONG_VERSION_NUMBER', '0A00010B:SSL routines:ssl3_get_record:wrong version number');
    expect(networkError(tls, '127.0.0.1:5000', false).message).toMatch(/^127\.0\.0\.1:5000 does not speak https .*add --insecure$/);
    expect(networkError(err('EPROTO', 'write EPROTO ... packet length too long'), 'h', false).message).toMatch(/add --insecure/);
    // with --insecure already given there is no https to blame
    expect(networkError(tls, 'h', true).message).not.toMatch(/--insecure/);
    expect(networkError(err('CERT_HAS_EXPIRED', 'certificate has expired'), 'h', false).message).toBe('h: certificate has expired (CERT_HAS_EXPIRED)');
  });

  it('leaves kiln errors as they are', () => {
    const k = new KilnError('E_UNAUTHORIZED', 'h requires a login');
    expect(networkError(k, 'h', false)).toBe(k);
  });
});
