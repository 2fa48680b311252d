import { join } from 'node:path';
import type { RegistryConfig } from '../registry/context.js';
import { parseDurationOrSeconds } from '../settings/parse.js';
import { readSettings, type Env, type KernelVariant } from '../settings/settings.js';
import type { KvTypes } from '../common/kv-cache.js';

export { settingsHelp } from '../settings/settings.js';
export { parseBytes } from '../settings/parse.js';
export type { RegistryConfig } from '../registry/context.js';

/**
 * The daemon's (and the CLI's) configuration, built from the settings table
 * (settings/settings.ts), which holds every variable, default and parser.
 */
export interface Config {
  home: string;
  models: string;
  socketPath: string;
  dbPath: string;
  host: { hostname: string; port: number };
  origins: string[];
  allowedHosts: string[];
  keepAlive: string;
  /** KILN_RESPONSES_TTL in ms: how long stored /v1/responses answers live (negative: for ever). */
  responsesTtlMs: number;
  /** KILN_NUM_PARALLEL; 0: auto. */
  numParallel: number;
  /** KILN_PROMPT_CACHE in bytes; -1: the default share of available memory (the daemon works it out at start). */
  promptCache: number;
  /** KILN_KV_CACHE_TYPE(_K/_V): the KV cache types a model loads with unless its PARAMETERs or the request say. */
  kvCache: KvTypes;
  maxLoadedModels: number;
  maxQueue: number;
  /** Bytes all loaded models may take together (0: no cap beyond the system's available memory). */
  maxMemory: number;
  contextLength: number;
  maxBodyBytes: number;
  demoModel: boolean;
  /** KILN_DEBUG: log every request, runner and scheduler details. */
  debug: boolean;
  /** KILN_METRICS: serve GET /metrics. */
  metrics: boolean;
  /** KILN_ALLOW_OPEN: start on a non-loopback address with no API key. */
  allowOpen: boolean;
  /** The Ollama models folder `kiln import-ollama` adopts when given none. */
  ollamaModels: string;
  /** KILN_KERNELS, if set (else the best variant the CPU supports). */
  kernels: KernelVariant | undefined;
  registry: RegistryConfig;
}

/** Reads the environment through the settings table; a bad value throws E_CONFIG naming the variable. */
export function loadConfig(env: Env = process.env): Config {
  const s = readSettings(env);
  const home = s.home;
  return {
    home,
    models: s.models ?? join(home, 'models'),
    socketPath: join(home, 'kiln.sock'),
    dbPath: join(home, 'kiln.db'),
    host: { ...s.host },
    origins: [...s.origins],
    allowedHosts: [...s.allowedHosts],
    keepAlive: s.keepAlive,
    responsesTtlMs: parseDurationOrSeconds(s.responsesTtl) ?? 30 * 24 * 3600 * 1000,
    numParallel: s.numParallel,
    promptCache: s.promptCache,
    kvCache: { k: s.kvCacheTypeK ?? s.kvCacheType ?? 'f16', v: s.kvCacheTypeV ?? s.kvCacheType ?? 'f16' },
    maxLoadedModels: s.maxLoadedModels,
    maxQueue: s.maxQueue,
    maxMemory: s.maxMemory,
    contextLength: s.contextLength,
    maxBodyBytes: s.maxBodyBytes,
    demoModel: s.demoModel,
    debug: s.debug,
    metrics: s.metrics,
    allowOpen: s.allowOpen,
    ollamaModels: s.ollamaModels,
    kernels: s.kernels,
    registry: {
      authFiles: [join(home, 'auth.json'), join(s.dockerConfig, 'config.json')],
      realmHosts: [...s.realmHosts],
      connections: s.pullConnections,
      partSize: s.pullPartSize,
      stallMs: s.pullStallSeconds * 1000,
      retryDelayMs: s.pullRetryDelayMs,
      retries: s.pullRetries,
      pushChunkSize: s.pushChunkSize,
    },
  };
}
