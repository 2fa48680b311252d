import { Readable } from 'node:stream';
import { KilnError } from '../../common/errors.js';
import { exportModel, importArchive } from '../../registry/oci-layout.js';
import type { ProgressResponse } from '../api/types.js';
import type { Store } from '../../store/index.js';
import { findModel } from './resolve.js';

/** POST /api/export: the model (default-tag rule applied) as an OCI image-layout tar stream. */
export function exportResponse(store: Store, typed: string): Response {
  const { name } = findModel(store, typed);
  const tar = exportModel(store, name, typed);
  return new Response(Readable.toWeb(tar) as unknown as ReadableStream<Uint8Array>, {
    headers: { 'content-type': 'application/x-tar', 'content-disposition': `attachment; filename="${name.model}.tar"` },
  });
}

/** POST /api/import: the request body is the tar. */
export async function importRequest(store: Store, body: ReadableStream<Uint8Array> | null, name: string | undefined, emit: (p: ProgressResponse) => void, signal: AbortSignal): Promise<void> {
  if (!body) throw new KilnError('E_BAD_REQUEST', 'missing archive body');
  const names = await importArchive(store, Readable.fromWeb(body as never), { name: name || undefined, signal }, emit);
  if (names.length === 0) throw new KilnError('E_BAD_REQUEST', 'the archive holds no model');
}
