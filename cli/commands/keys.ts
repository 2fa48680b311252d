import { KilnError } from '../../common/errors.js';
import type { KeyCreateResponse, KeyListResponse, KeyRevokeResponse } from '../../daemon/api/types.js';
import type { Config } from '../../daemon/config.js';
import { createKey, listKeys, revokeKey } from '../../daemon/services/keys.js';
import { Store } from '../../store/index.js';
import { DaemonNotRunning, type Client } from '../client.js';
import { humanTime, table } from '../format.js';

/**
 * Key management goes through the daemon's unix socket; when no daemon runs
 * (it refused to start on a public address for want of a key, say), the
 * same service works on the store directly.
 */
async function viaDaemonOrStore<T>(client: Client, config: Config, remote: (c: Client) => Promise<T>, local: (s: Store) => T): Promise<T> {
  try {
    return await remote(client);
  } catch (e) {
    if (!(e instanceof DaemonNotRunning)) throw e;
    const store = new Store(config.dbPath, config.models);
    try {
      return local(store);
    } finally {
      store.close();
    }
  }
}

/** `kiln keys create --scope inference|admin [--name N]`: the key on stdout (once), the rest on stderr. */
export async function keysCreate(client: Client, config: Config, scope: string | undefined, name: string | undefined): Promise<{ key: string; note: string }> {
  if (scope !== 'inference' && scope !== 'admin') throw new KilnError('E_BAD_REQUEST', 'kiln keys create needs --scope inference or --scope admin');
  const req = { scope, ...(name !== undefined ? { name } : {}) } as const;
  const k = await viaDaemonOrStore(client, config, (c) => c.json<KeyCreateResponse>('POST', '/api/keys', req), (s) => createKey(s, req));
  const label = k.name ? ` '${k.name}'` : '';
  return { key: k.key, note: `Created ${k.scope} key ${k.id}${label}. It is shown only now: store it somewhere safe.` };
}

/** `kiln keys list`: ID, NAME, SCOPE, CREATED, LAST USED, STATUS. */
export async function keysList(client: Client, config: Config): Promise<string> {
  const { keys } = await viaDaemonOrStore(client, config, (c) => c.json<KeyListResponse>('GET', '/api/keys'), listKeys);
  const rows = keys.map((k) => [
    k.id,
    k.name || '-',
    k.scope,
    humanTime(new Date(k.created_at)),
    k.last_used_at ? humanTime(new Date(k.last_used_at)) : 'never',
    k.revoked_at ? 'revoked' : 'active',
  ]);
  return table(['ID', 'NAME', 'SCOPE', 'CREATED', 'LAST USED', 'STATUS'], rows);
}

/** `kiln keys revoke ID|NAME` */
export async function keysRevoke(client: Client, config: Config, which: string): Promise<string> {
  const r = await viaDaemonOrStore(client, config, (c) => c.json<KeyRevokeResponse>('DELETE', '/api/keys', { id: which }), (s) => revokeKey(s, config, which));
  return r.revoked.map((id) => `revoked key ${id}`).join('\n');
}
