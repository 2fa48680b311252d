/** API key management, served on the unix socket only (`kiln keys`). */
import { KilnError } from '../../common/errors.js';
import type { KeyRecord, Store } from '../../store/index.js';
import type { KeyCreateRequest, KeyCreateResponse, KeyInfo, KeyListResponse, KeyRevokeResponse } from '../api/types.js';
import { isLoopback, newKey } from '../auth.js';
import type { Config } from '../config.js';

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

function info(r: KeyRecord): KeyInfo {
  return { id: r.id, name: r.name, scope: r.scope, created_at: iso(r.createdAt)!, last_used_at: iso(r.lastUsedAt), revoked_at: iso(r.revokedAt) };
}

export function createKey(store: Store, req: KeyCreateRequest): KeyCreateResponse {
  const k = newKey();
  const now = Date.now();
  store.keys.add(k.id, req.name ?? '', req.scope, k.hash, now);
  return { ...info({ id: k.id, name: req.name ?? '', scope: req.scope, createdAt: now, lastUsedAt: null, revokedAt: null }), key: k.key };
}

export function listKeys(store: Store): KeyListResponse {
  return { keys: store.keys.list().map(info) };
}

/**
 * Revokes by id or name. Revoking the last active key while listening beyond
 * loopback would open the daemon to the network, which it refused to start
 * as; that is refused too (unless KILN_ALLOW_OPEN).
 */
export function revokeKey(store: Store, config: Pick<Config, 'host' | 'allowOpen'>, which: string): KeyRevokeResponse {
  const active = store.keys.active().length;
  const matching = store.keys.list().filter((k) => k.revokedAt === null && (k.id === which || (k.name !== '' && k.name === which))).length;
  if (matching === 0) throw new KilnError('E_NOT_FOUND', `no active API key with id or name '${which}'`);
  if (matching === active && !config.allowOpen && !isLoopback(config.host.hostname)) {
    throw new KilnError('E_CONFLICT', `revoking the last API key would leave ${config.host.hostname}:${config.host.port} open to anyone; create another key first, or set KILN_ALLOW_OPEN=1`);
  }
  return { revoked: store.keys.revoke(which) };
}
