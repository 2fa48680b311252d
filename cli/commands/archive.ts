import { createReadStream, createWriteStream, renameSync, rmSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { KilnError } from '../../common/errors.js';
import type { ExportRequest, ImportOllamaRequest, ProgressResponse, PruneResponse, VerifyProgress } from '../../daemon/api/types.js';
import type { Client } from '../client.js';
import { humanBytes } from '../format.js';
import { showProgress } from '../ui/progress.js';

/** `kiln export NAME -o FILE`: written to FILE.partial, renamed when complete. */
export async function exportCommand(client: Client, name: string, output: string): Promise<string> {
  const dest = resolve(output);
  const tmp = `${dest}.partial`;
  const req: ExportRequest = { model: name };
  const res = await client.raw('/api/export', req);
  try {
    await pipeline(res.body, createWriteStream(tmp, { mode: 0o644 }));
    renameSync(tmp, dest);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
  return `exported '${name}' to ${dest} (${humanBytes(statSync(dest).size)})`;
}

/** `kiln import FILE [NAME]`: the archive is streamed to the daemon, which checks every digest. */
export async function importCommand(client: Client, file: string, name?: string): Promise<void> {
  const path = resolve(file);
  try {
    if (!statSync(path).isFile()) throw new Error();
  } catch {
    throw new KilnError('E_BAD_REQUEST', `${file}: no such file`);
  }
  const q = new URLSearchParams({ stream: 'true', ...(name ? { model: name } : {}) });
  await showProgress(client.stream<ProgressResponse>(`/api/import?${q}`, undefined, createReadStream(path)));
}

/** `kiln import-ollama [DIR]` */
export async function importOllamaCommand(client: Client, dir?: string): Promise<void> {
  const req: ImportOllamaRequest = { stream: true, ...(dir ? { path: resolve(dir) } : {}) };
  await showProgress(client.stream<ProgressResponse>('/api/import-ollama', req));
}

/** `kiln verify`: exit status 1 when a blob is corrupt. */
export async function verifyCommand(client: Client): Promise<{ text: string; ok: boolean }> {
  let last: VerifyProgress | undefined;
  async function* events(): AsyncGenerator<ProgressResponse> {
    for await (const p of client.stream<VerifyProgress>('/api/verify', { stream: true })) {
      last = p;
      yield p;
    }
  }
  await showProgress(events());
  const corrupt = last?.corrupt ?? [];
  const lines = [`${last?.checked ?? 0} blob(s) verified, ${corrupt.length} corrupt`];
  for (const c of corrupt) {
    lines.push(`  ${c.digest}${c.models.length ? ` (used by ${c.models.join(', ')})` : ''}${c.quarantined ? `: moved to ${c.quarantined}` : ': missing'}`);
  }
  if (corrupt.some((c) => c.models.length)) lines.push('pull or create the models named above again');
  return { text: lines.join('\n'), ok: corrupt.length === 0 };
}

/** `kiln prune` */
export async function pruneCommand(client: Client): Promise<string> {
  const r = await client.json<PruneResponse>('POST', '/api/prune', {});
  return `removed ${r.removed.length} unused blob(s) and ${r.partial_downloads} partial download(s), ${humanBytes(r.freed_bytes)} freed`;
}
