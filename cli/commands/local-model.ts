/**
 * Which GGUF file a local tool (`kiln perplexity`, `kiln kl`) opens: a path
 * to a file (a blob path included) is used as it is; anything else is a model
 * name, looked up in the store under $KILN_HOME the way the daemon looks it
 * up (default tags, Q4_K_M rule) and read from its model blob. The store is
 * only read, so this works with or without a running daemon; no store is
 * created where there is none.
 */
import { existsSync, statSync } from 'node:fs';
import type { Config } from '../../daemon/config.js';
import { findModel } from '../../daemon/services/resolve.js';
import { Store } from '../../store/index.js';
import { KilnError, modelNotFound } from '../../common/errors.js';
import { MEDIA } from '../../common/manifest.js';

export function localModelPath(config: Config, arg: string): string {
  if (existsSync(arg) && statSync(arg).isFile()) return arg;
  if (arg.endsWith('.gguf') || arg.startsWith('.') || arg.startsWith('/')) {
    throw new KilnError('E_NOT_FOUND', `no such file: ${arg}`);
  }
  if (!existsSync(config.dbPath)) throw modelNotFound(arg);
  const store = new Store(config.dbPath, config.models);
  try {
    const { record } = findModel(store, arg);
    const layer = record.manifest.layers.find((l) => l.mediaType === MEDIA.model);
    if (!layer) throw new KilnError('E_BAD_REQUEST', `model '${arg}' has no GGUF layer`);
    return store.blobs.path(layer.digest);
  } finally {
    store.close();
  }
}
