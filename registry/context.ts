import type { Store } from '../store/index.js';
import { loadCredentials } from './auth.js';
import { RegistryClient } from './client.js';
import { Downloader } from './download.js';
import { MEDIA } from '../common/manifest.js';
import type { ModelName } from '../common/model-name.js';

/** Settings of the registry client (pull, push, auth); the daemon fills them from its config. */
export interface RegistryConfig {
  /** Where credentials are read from, in order: kiln's own file, then Docker's. */
  authFiles: string[];
  realmHosts: string[];
  connections: number;
  partSize: number;
  stallMs: number;
  retryDelayMs: number;
  retries: number;
  pushChunkSize: number;
}

/** What pull, push and the archive commands need: the store, the one downloader, the settings. */
export interface RegistryContext {
  store: Store;
  downloader: Downloader;
  config: RegistryConfig;
  log: (m: string) => void;
}

export function createRegistryContext(store: Store, config: RegistryConfig, log: (m: string) => void = () => {}): RegistryContext {
  return {
    store,
    config,
    log,
    downloader: new Downloader(
      store,
      { connections: config.connections, partSize: config.partSize, stallMs: config.stallMs, retryDelayMs: config.retryDelayMs, retries: config.retries },
      log,
    ),
  };
}

export function clientFor(ctx: RegistryContext, host: string, insecure: boolean): RegistryClient {
  return new RegistryClient(host, {
    insecure,
    credentials: loadCredentials(host, ctx.config.authFiles),
    trustedRealms: ctx.config.realmHosts,
    retries: ctx.config.retries,
    retryDelayMs: ctx.config.retryDelayMs,
  });
}

/**
 * `namespace/model` for the registry's URL, spelled as the user wrote it (the
 * parser guarantees the characters). OCI registries want lower case and users
 * type it so; Hugging Face repositories (`hf.co/bartowski/Llama-3.2-1B-GGUF`)
 * keep their case, as Ollama sends them.
 */
export function repoOf(name: ModelName): string {
  const bare = name.display.slice(0, name.display.lastIndexOf(':'));
  const parts = bare.split('/');
  if (parts.length === 3) return `${parts[1]}/${parts[2]}`;
  if (parts.length === 2) return `${parts[0]}/${parts[1]}`;
  return `${name.namespace}/${parts[0]}`;
}

/** The tag as the user wrote it: registries compare tags case-sensitively (`q4_K_M`). */
export function tagOf(name: ModelName): string {
  return name.display.slice(name.display.lastIndexOf(':') + 1);
}

export const MANIFEST_ACCEPT = `${MEDIA.dockerManifest}, ${MEDIA.ociManifest}`;
