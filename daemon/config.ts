import { homedir } from 'node:os';
import { join } from 'node:path';
import { KilnError } from '../engine/errors.js';

/**
 * Every setting kiln reads, in one place: Ollama's settings under the KILN_
 * prefix with the same meanings and defaults. `kiln serve --help` prints this table.
 */
export const SETTINGS = [
  { env: 'KILN_HOME', def: '~/.kiln', help: 'Where kiln keeps its database, socket and (by default) models' },
  { env: 'KILN_MODELS', def: '$KILN_HOME/models', help: 'Where model blobs are stored' },
  { env: 'KILN_HOST', def: '127.0.0.1:11434', help: 'TCP address of the REST API (Ollama\'s port)' },
  { env: 'KILN_ORIGINS', def: '', help: 'Extra browser origins allowed (comma separated; localhost is always allowed)' },
  { env: 'KILN_ALLOWED_HOSTS', def: '', help: 'Extra Host header names accepted on TCP (comma separated)' },
  { env: 'KILN_KEEP_ALIVE', def: '5m', help: 'How long a model stays loaded after a request' },
  { env: 'KILN_NUM_PARALLEL', def: '1', help: 'Parallel requests per loaded model' },
  { env: 'KILN_MAX_LOADED_MODELS', def: '3', help: 'Models loaded at once' },
  { env: 'KILN_MAX_MEMORY', def: '0', help: 'Memory all loaded models may take together: bytes or 512MiB, 8GiB, 8GB (0: what the system, or its cgroup, has available)' },
  { env: 'KILN_MAX_QUEUE', def: '512', help: 'Requests queued per model before 503' },
  { env: 'KILN_CONTEXT_LENGTH', def: '4096', help: 'Default context length' },
  { env: 'KILN_MAX_BODY', def: '33554432', help: 'Largest JSON request body in bytes (413 above)' },
  { env: 'KILN_DEMO_MODEL', def: '1', help: 'Import the bundled kjv demo model on first start (0 to skip)' },
  { env: 'KILN_AUTH_REALM_HOSTS', def: '', help: 'Token realm hosts trusted for any registry (comma separated); a realm elsewhere than the registry\'s own host is refused (CVE-2025-51471)' },
  { env: 'KILN_PULL_CONNECTIONS', def: '4', help: 'Parallel Range requests per blob when pulling' },
  { env: 'KILN_PULL_PART_SIZE', def: '0', help: 'Bytes per Range part (0: about 1/64 of the blob, 16 MiB to 256 MiB)' },
  { env: 'KILN_PULL_STALL_TIMEOUT', def: '30', help: 'Seconds without bytes after which a part is restarted' },
  { env: 'KILN_PULL_RETRY_DELAY', def: '1000', help: 'First retry delay in ms (doubles per failure, up to 30 s)' },
  { env: 'KILN_PULL_RETRIES', def: '6', help: 'Failures in a row (without progress) before a request gives up' },
  { env: 'KILN_PUSH_CHUNK_SIZE', def: '67108864', help: 'Blobs larger than this are uploaded in PATCH chunks of this size' },
  { env: 'DOCKER_CONFIG', def: '~/.docker', help: 'Folder of the Docker config.json read for registry credentials (after $KILN_HOME/auth.json)' },
  { env: 'KILN_DEBUG', def: '0', help: 'Verbose logging' },
] as const;

export interface Config {
  home: string;
  models: string;
  socketPath: string;
  dbPath: string;
  host: { hostname: string; port: number };
  origins: string[];
  allowedHosts: string[];
  keepAlive: string;
  numParallel: number;
  maxLoadedModels: number;
  maxQueue: number;
  /** Bytes all loaded models may take together (0: no cap beyond the system's available memory). */
  maxMemory: number;
  contextLength: number;
  maxBodyBytes: number;
  demoModel: boolean;
  debug: boolean;
  registry: RegistryConfig;
}

/** Settings of the registry client (pull, push, auth). */
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

type Env = Record<string, string | undefined>;

function str(env: Env, key: string, def: string): string {
  const v = env[key];
  return v === undefined || v.trim() === '' ? def : v.trim();
}

function int(env: Env, key: string, def: number, min = 0): number {
  const raw = env[key];
  if (raw === undefined || raw.trim() === '') return def;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) throw new KilnError('E_BAD_REQUEST', `${key}=${raw} is not an integer ≥ ${min}`);
  return n;
}

const UNITS: Record<string, number> = { '': 1, b: 1, kb: 1e3, mb: 1e6, gb: 1e9, tb: 1e12, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3, tib: 1024 ** 4 };

/** A byte count: plain bytes or a number with a unit (KB/MB/GB decimal, KiB/MiB/GiB binary). */
export function parseBytes(raw: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(raw.trim());
  const unit = m ? UNITS[m[2].toLowerCase()] : undefined;
  if (!m || unit === undefined) return undefined;
  const n = Math.round(Number(m[1]) * unit);
  return Number.isSafeInteger(n) ? n : undefined;
}

function bytes(env: Env, key: string, def: number): number {
  const raw = env[key];
  if (raw === undefined || raw.trim() === '') return def;
  const n = parseBytes(raw);
  if (n === undefined) throw new KilnError('E_BAD_REQUEST', `${key}=${raw} is not a size (bytes, or a number with KB, MB, GB, KiB, MiB or GiB)`);
  return n;
}

function bool(env: Env, key: string, def: boolean): boolean {
  const raw = env[key];
  if (raw === undefined || raw.trim() === '') return def;
  return !['0', 'false', 'no', 'off'].includes(raw.trim().toLowerCase());
}

function list(env: Env, key: string): string[] {
  return str(env, key, '').split(',').map((s) => s.trim()).filter(Boolean);
}

/** Parses KILN_HOST the way Ollama parses OLLAMA_HOST: scheme optional, port optional. */
export function parseHostSetting(raw: string): { hostname: string; port: number } {
  let s = raw.trim().replace(/^https?:\/\//, '').replace(/\/+$/, '');
  let port = 11434;
  let hostname = s;
  const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(s);
  if (v6) {
    hostname = v6[1];
    if (v6[2]) port = Number(v6[2]);
  } else if (s.includes(':') && s.indexOf(':') === s.lastIndexOf(':')) {
    const [h, p] = s.split(':');
    hostname = h;
    port = Number(p);
  }
  if (hostname === '') hostname = '127.0.0.1';
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new KilnError('E_BAD_REQUEST', `KILN_HOST=${raw}: bad port`);
  }
  return { hostname, port };
}

export function loadConfig(env: Env = process.env): Config {
  const home = str(env, 'KILN_HOME', join(homedir(), '.kiln')).replace(/^~(?=$|\/)/, homedir());
  const models = str(env, 'KILN_MODELS', join(home, 'models')).replace(/^~(?=$|\/)/, homedir());
  return {
    home,
    models,
    socketPath: join(home, 'kiln.sock'),
    dbPath: join(home, 'kiln.db'),
    host: parseHostSetting(str(env, 'KILN_HOST', '127.0.0.1:11434')),
    origins: list(env, 'KILN_ORIGINS'),
    allowedHosts: list(env, 'KILN_ALLOWED_HOSTS').map((h) => h.toLowerCase()),
    keepAlive: str(env, 'KILN_KEEP_ALIVE', '5m'),
    numParallel: int(env, 'KILN_NUM_PARALLEL', 1, 1),
    maxLoadedModels: int(env, 'KILN_MAX_LOADED_MODELS', 3, 1),
    maxQueue: int(env, 'KILN_MAX_QUEUE', 512, 1),
    maxMemory: bytes(env, 'KILN_MAX_MEMORY', 0),
    contextLength: int(env, 'KILN_CONTEXT_LENGTH', 4096, 1),
    maxBodyBytes: int(env, 'KILN_MAX_BODY', 32 * 1024 * 1024, 1024),
    demoModel: bool(env, 'KILN_DEMO_MODEL', true),
    debug: bool(env, 'KILN_DEBUG', false),
    registry: {
      authFiles: [join(home, 'auth.json'), join(str(env, 'DOCKER_CONFIG', join(homedir(), '.docker')).replace(/^~(?=$|\/)/, homedir()), 'config.json')],
      realmHosts: list(env, 'KILN_AUTH_REALM_HOSTS').map((h) => h.toLowerCase()),
      connections: int(env, 'KILN_PULL_CONNECTIONS', 4, 1),
      partSize: int(env, 'KILN_PULL_PART_SIZE', 0, 0),
      stallMs: int(env, 'KILN_PULL_STALL_TIMEOUT', 30, 1) * 1000,
      retryDelayMs: int(env, 'KILN_PULL_RETRY_DELAY', 1000, 0),
      retries: int(env, 'KILN_PULL_RETRIES', 6, 0),
      pushChunkSize: int(env, 'KILN_PUSH_CHUNK_SIZE', 64 * 1024 * 1024, 1),
    },
  };
}

export function settingsHelp(): string {
  const w = Math.max(...SETTINGS.map((s) => s.env.length));
  return SETTINGS.map((s) => `  ${s.env.padEnd(w)}  ${s.help} (default: ${s.def || 'none'})`).join('\n');
}
