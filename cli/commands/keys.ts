import { KilnError } from '../../common/errors.js';
import type { KeyCreateResponse, KeyListResponse, KeyRevokeResponse } from '../../daemon/api/types.js';
import type { Client } from '../client.js';
import { humanTime, table } from '../format.js';

/** `kiln keys create --scope inference|admin [--name N]`: the key on stdout (once), the rest on stderr. */
export async function keysCreate(client: Client, scope: string | undefined, name: string | undefined): Promise<{ key: string; note: string }> {
  if (scope === undefined) throw new KilnError('E_BAD_REQUEST', 'kiln keys create needs --scope inference or --scope admin');
  const k = await client.json<KeyCreateResponse>('POST', '/api/keys', { scope, ...(name !== undefined ? { name } : {}) });
  const label = k.name ? ` '${k.name}'` : '';
  return { key: k.key, note: `Created ${k.scope} key ${k.id}${label}. It is shown only now: store it somewhere safe.` };
}

/** `kiln keys list`: ID, NAME, SCOPE, CREATED, LAST USED, STATUS. */
export async function keysList(client: Client): Promise<string> {
  const { keys } = await client.json<KeyListResponse>('GET', '/api/keys');
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
export async function keysRevoke(client: Client, which: string): Promise<string> {
  const r = await client.json<KeyRevokeResponse>('DELETE', '/api/keys', { id: which });
  return r.revoked.map((id) => `revoked key ${id}`).join('\n');
}
