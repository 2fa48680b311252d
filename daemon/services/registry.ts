import type { Config } from '../config.js';
import type { Store } from '../store/index.js';
import { createRegistryContext, type RegistryContext } from '../../registry/context.js';

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
