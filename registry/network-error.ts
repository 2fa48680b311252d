/**
 * What a failed connection to a registry means, in words a user can act on:
 * the registry cannot be reached (DNS, refused, timed out, no route), or an
 * https request met a plain-http server (the fix is --insecure). Anything else
 * keeps its own message.
 */
import { KilnError } from '../common/errors.js';

const UNREACHABLE: Record<string, string> = {
  ENOTFOUND: 'its name does not resolve',
  EAI_AGAIN: 'its name does not resolve (no DNS answer)',
  EAI_NONAME: 'its name does not resolve',
  ECONNREFUSED: 'the connection was refused',
  ETIMEDOUT: 'the connection timed out',
  UND_ERR_CONNECT_TIMEOUT: 'the connection timed out',
  UND_ERR_HEADERS_TIMEOUT: 'it did not answer in time',
  ENETUNREACH: 'the network is unreachable',
  EHOSTUNREACH: 'there is no route to it',
  ENETDOWN: 'the network is down',
};

/** OpenSSL's ways of saying that the answer to a TLS hello was not TLS (a plain-http server). */
const NOT_TLS = /wrong version number|packet length too long|http request|unknown protocol/i;

/** The first `code` and message along an error's cause chain. */
function codeOf(e: unknown): { code?: string; message: string } {
  let cur = e as { code?: string; message?: string; cause?: unknown } | undefined;
  const message = String(cur?.message ?? e);
  for (let depth = 0; cur && depth < 4; depth++) {
    if (typeof cur.code === 'string') return { code: cur.code, message: String(cur.message ?? message) };
    cur = cur.cause as typeof cur;
  }
  return { message };
}

/** A network failure talking to `host` as a KilnError (E_REGISTRY) whose message says what went wrong. */
export function networkError(e: unknown, host: string, insecure: boolean): KilnError {
  if (e instanceof KilnError) return e;
  const { code, message } = codeOf(e);
  if (!insecure && (code === 'ERR_SSL_WRONG_VERSION_NUMBER' || code === 'ERR_SSL_PACKET_LENGTH_TOO_LONG' || NOT_TLS.test(message))) {
    return new KilnError('E_REGISTRY', `${host} does not speak https (it answered the TLS handshake in plain http); if it is a plain-http registry, add --insecure`, { cause: e });
  }
  if (code && UNREACHABLE[code]) {
    return new KilnError('E_REGISTRY', `cannot reach the registry ${host}: ${UNREACHABLE[code]} (${code}); check the network connection and the registry's address`, { cause: e });
  }
  return new KilnError('E_REGISTRY', `${host}: ${message}${code ? ` (${code})` : ''}`, { cause: e });
}
