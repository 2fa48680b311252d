import type { Config } from '../config.js';
import type { Store } from '../../store/index.js';
import { createRegistryContext, type RegistryContext } from '../../registry/context.js';
import { MEDIA, type Descriptor } from '../../common/manifest.js';
import { readGGUFFile } from '../../engine/gguf/reader.js';

const contexts = new WeakMap<Store, RegistryContext>();

/**
 * The registry context of a store: one per store, so that both listeners (unix
 * socket and TCP) share one downloader and concurrent pulls of a blob share
 * one transfer.
 */
export function registryContext(deps: { store: Store; config: Config; log: (m: string) => void }): RegistryContext {
  let ctx = contexts.get(deps.store);
  if (!ctx) {
    ctx = createRegistryContext(deps.store, deps.config.registry, deps.log);
    contexts.set(deps.store, ctx);
  }
  return ctx;
}

/**
 * What the daemon checks before a push: every GGUF layer (model, adapter,
 * projector) must parse, its tensors inside the file and apart from each other,
 * so a file that would never load is never sent on.
 */
export async function checkPushLayer(desc: Descriptor, path: string): Promise<void> {
  if (desc.mediaType === MEDIA.model || desc.mediaType === MEDIA.adapter || desc.mediaType === MEDIA.projector) await readGGUFFile(path);
}
