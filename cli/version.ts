import { loadConfig } from '../daemon/config.js';
import { kilnVersion } from '../daemon/version.js';
import { Client } from './client.js';

/** `kiln --version`: the daemon's version, and the client's when they differ or no daemon answers. */
export async function versionCommand(): Promise<number> {
  const client = new Client(loadConfig());
  try {
    const v = await client.json<{ version: string }>('GET', '/api/version');
    console.log(`kiln version is ${v.version}`);
    if (v.version !== kilnVersion()) console.log(`Warning: client version is ${kilnVersion()}`);
  } catch {
    console.log('Warning: could not connect to a running kiln instance');
    console.log(`Warning: client version is ${kilnVersion()}`);
  } finally {
    await client.close();
  }
  return 0;
}
