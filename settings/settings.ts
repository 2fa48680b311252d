/**
 * Every environment setting kiln reads, in one table: its variable, its typed
 * default (written here and nowhere else), its parser, and its help line.
 * Ollama's settings under the KILN_ prefix, with the same meanings and
 * defaults. daemon/config.ts builds the Config from it, `kiln serve --help`
 * prints it, and the kernels read KILN_KERNELS through it. A leaf module:
 * it imports nothing of kiln's but the error type.
 */
import { homedir } from 'node:os';
import { KilnError } from '../common/errors.js';
import { KV_CACHE_TYPES } from '../common/kv-cache.js';
import { parseBool, parseBytes, parseDurationOrSeconds, parseHostPort, parseInteger, type HostPort } from './parse.js';

export type Env = Readonly<Record<string, string | undefined>>;

export interface Setting<T> {
  readonly env: string;
  readonly help: string;
  /** The value when the variable is unset or blank. */
  readonly def: T;
  /** The default as `kiln serve --help` shows it. */
  readonly shown: string;
  /** What a value must be, for the error: `KILN_X=v is not <form>`. */
  readonly form: string;
  /** The value of a set variable (trimmed), or undefined when it is not of the form. */
  readonly parse: (raw: string) => T | undefined;
}

/** `~` or `~/…` at the start of a path means the user's home folder, as in a shell. */
export function expandHome(p: string): string {
  return p.replace(/^~(?=$|\/)/, homedir());
}

const text = (env: string, def: string, help: string): Setting<string> => ({
  env, help, def, shown: def || 'none', form: 'text', parse: (s) => s,
});

/** A folder; `def` undefined means it is derived from another setting (shown as `shown`). */
const path = <D extends string | undefined>(env: string, def: D, shown: string, help: string): Setting<string | D> => ({
  env, help, def: (def === undefined ? def : expandHome(def)) as D, shown, form: 'a path', parse: expandHome,
});

const list = (env: string, help: string, lower = false): Setting<readonly string[]> => ({
  env, help, def: [], shown: 'none', form: 'a comma separated list',
  parse: (s) => s.split(',').map((x) => (lower ? x.trim().toLowerCase() : x.trim())).filter(Boolean),
});

const int = (env: string, def: number, min: number, help: string): Setting<number> => ({
  env, help, def, shown: String(def), form: `an integer ≥ ${min}`, parse: (s) => parseInteger(s, min),
});

/** An integer ≥ 1, or "auto" (0). */
const intOrAuto = (env: string, help: string): Setting<number> => ({
  env, help, def: 0, shown: 'auto', form: 'an integer ≥ 1 or "auto"',
  parse: (s) => (s.trim().toLowerCase() === 'auto' ? 0 : parseInteger(s, 1)),
});

const bool = (env: string, def: boolean, help: string): Setting<boolean> => ({
  env, help, def, shown: def ? '1' : '0', form: 'a boolean (1, true, yes, on, or 0, false, no, off)', parse: parseBool,
});

const bytes = (env: string, def: number, help: string): Setting<number> => ({
  env, help, def, shown: String(def), form: 'a size (bytes, or a number with KB, MB, GB, KiB, MiB or GiB)', parse: parseBytes,
});

/** A duration kept as the text given (a request's keep_alive overrides it; both parse alike). */
const duration = (env: string, def: string, help: string): Setting<string> => ({
  env, help, def, shown: def, form: 'a duration ("5m", "1h30m", seconds, 0, or negative for never)',
  parse: (s) => (parseDurationOrSeconds(s) === undefined ? undefined : s),
});

const choice = <C extends string>(env: string, choices: readonly C[], shown: string, help: string): Setting<C | undefined> => ({
  env, help, def: undefined, shown, form: `one of ${choices.join(', ')}`,
  parse: (s) => choices.find((c) => c === s.toLowerCase()),
});

const host = (env: string, def: string, help: string): Setting<HostPort> => ({
  env, help, def: parseHostPort(def)!, shown: def, form: 'an address host[:port] with a port in 0-65535', parse: parseHostPort,
});

/** The kernel variants, worst first (kernels/cpu.ts uses this list). */
export const KERNEL_VARIANTS = ['scalar', 'avx2', 'avx512'] as const;
export type KernelVariant = (typeof KERNEL_VARIANTS)[number];

/** The KV cache element types (common/kv-cache.ts, with their sizes). */
export { KV_CACHE_TYPES, type KvCacheType } from '../common/kv-cache.js';

export const SETTINGS = {
  home: path('KILN_HOME', '~/.kiln', '~/.kiln', 'Where kiln keeps its database, socket and (by default) models'),
  models: path('KILN_MODELS', undefined, '$KILN_HOME/models', 'Where model blobs are stored'),
  host: host('KILN_HOST', '127.0.0.1:11434', "TCP address of the REST API (Ollama's port)"),
  origins: list('KILN_ORIGINS', 'Extra browser origins allowed (comma separated; localhost is always allowed)'),
  allowedHosts: list('KILN_ALLOWED_HOSTS', 'Extra Host header names accepted on TCP (comma separated)', true),
  keepAlive: duration('KILN_KEEP_ALIVE', '5m', 'How long a model stays loaded after a request'),
  responsesTtl: duration('KILN_RESPONSES_TTL', '720h', 'How long a stored /v1/responses answer is kept for GET and previous_response_id'),
  numParallel: intOrAuto('KILN_NUM_PARALLEL', 'Parallel requests per loaded model, batched together ("auto": as many as memory allows, up to 4)'),
  promptCache: {
    env: 'KILN_PROMPT_CACHE', def: -1, shown: '10% of available memory, at most 4GiB',
    form: 'a size (bytes, or a number with KB, MB, GB, KiB, MiB or GiB)', parse: parseBytes,
    help: 'Bytes of KV prefixes of recent conversations kept per model, and for unloaded models (0: none)',
  } as Setting<number>,
  kvCacheType: choice('KILN_KV_CACHE_TYPE', KV_CACHE_TYPES, 'f16', 'KV cache type of keys and values: f16, q8_0 or q4_0 (as OLLAMA_KV_CACHE_TYPE; a PARAMETER kv_cache_type overrides it)'),
  kvCacheTypeK: choice('KILN_KV_CACHE_TYPE_K', KV_CACHE_TYPES, '$KILN_KV_CACHE_TYPE', 'KV cache type of the keys only (llama.cpp -ctk)'),
  kvCacheTypeV: choice('KILN_KV_CACHE_TYPE_V', KV_CACHE_TYPES, '$KILN_KV_CACHE_TYPE', 'KV cache type of the values only (llama.cpp -ctv)'),
  maxLoadedModels: int('KILN_MAX_LOADED_MODELS', 3, 1, 'Models loaded at once'),
  maxMemory: bytes('KILN_MAX_MEMORY', 0, 'Memory all loaded models may take together: bytes or 512MiB, 8GiB, 8GB (0: what the system, or its cgroup, has available)'),
  maxQueue: int('KILN_MAX_QUEUE', 512, 1, 'Requests queued per model before 503'),
  contextLength: int('KILN_CONTEXT_LENGTH', 4096, 1, 'Default context length'),
  maxBodyBytes: int('KILN_MAX_BODY', 32 * 1024 * 1024, 1024, 'Largest JSON request body in bytes (413 above)'),
  demoModel: bool('KILN_DEMO_MODEL', true, 'Import the bundled kjv demo model on first start (0 to skip)'),
  realmHosts: list('KILN_AUTH_REALM_HOSTS', "Token realm hosts trusted for any registry (comma separated); a realm elsewhere than the registry's own host is refused (CVE-2025-51471)", true),
  pullConnections: int('KILN_PULL_CONNECTIONS', 4, 1, 'Parallel Range requests per blob when pulling'),
  pullPartSize: int('KILN_PULL_PART_SIZE', 0, 0, 'Bytes per Range part (0: about 1/64 of the blob, 16 MiB to 256 MiB)'),
  pullStallSeconds: int('KILN_PULL_STALL_TIMEOUT', 30, 1, 'Seconds without bytes after which a part is restarted'),
  pullRetryDelayMs: int('KILN_PULL_RETRY_DELAY', 1000, 0, 'First retry delay in ms (doubles per failure, up to 30 s)'),
  pullRetries: int('KILN_PULL_RETRIES', 6, 0, 'Failures in a row (without progress) before a request gives up'),
  pushChunkSize: int('KILN_PUSH_CHUNK_SIZE', 64 * 1024 * 1024, 1, 'Blobs larger than this are uploaded in PATCH chunks of this size'),
  dockerConfig: path('DOCKER_CONFIG', '~/.docker', '~/.docker', 'Folder of the Docker config.json read for registry credentials (after $KILN_HOME/auth.json)'),
  ollamaModels: path('OLLAMA_MODELS', '~/.ollama/models', '~/.ollama/models', 'The Ollama models folder that kiln import-ollama adopts by default'),
  kernels: choice('KILN_KERNELS', KERNEL_VARIANTS, 'the best the CPU supports', 'CPU kernel variant (scalar, avx2, avx512), clamped to what the CPU supports'),
  // read by the native Vulkan backend itself (kernels/src/vulkan/device.cpp); here for --help and the check at start
  gpu: choice('KILN_GPU', ['vulkan', 'none'] as const, 'a GPU device when there is one', 'GPU backend: vulkan (a CPU-type Vulkan device such as lavapipe may then take layers too) or none (every layer on the CPU)'),
  vulkanDevice: { env: 'KILN_VULKAN_DEVICE', help: 'Index of the Vulkan device to use (kiln logs the list when a model loads)', def: undefined, shown: 'the best: discrete, integrated, then CPU', form: 'an integer ≥ 0', parse: (s: string) => parseInteger(s, 0) } as Setting<number | undefined>,
  vulkanMemoryLimit: int('KILN_VULKAN_MEMORY_LIMIT', 0, 0, 'MiB of GPU memory kiln may allocate, to leave room for other programs (0: the whole heap)'),
  debug: bool('KILN_DEBUG', false, 'Debug logging: every request with its status and time, runner and scheduler details'),
  metrics: bool('KILN_METRICS', false, 'Serve GET /metrics in the Prometheus text format (behind a key when API keys are on)'),
  allowOpen: bool('KILN_ALLOW_OPEN', false, 'Start on a non-loopback KILN_HOST even when no API key exists (anyone who can reach it may use it)'),
} as const;

export type SettingName = keyof typeof SETTINGS;
export type SettingValue<K extends SettingName> = (typeof SETTINGS)[K] extends Setting<infer T> ? T : never;
export type Settings = { readonly [K in SettingName]: SettingValue<K> };

/** One setting's value: its default when unset or blank, else its parsed value; E_CONFIG when it does not parse. */
export function readSetting<K extends SettingName>(name: K, env: Env = process.env): SettingValue<K> {
  const s = SETTINGS[name] as Setting<SettingValue<K>>;
  const raw = env[s.env];
  if (raw === undefined || raw.trim() === '') return s.def;
  const v = s.parse(raw.trim());
  if (v === undefined) throw new KilnError('E_CONFIG', `${s.env}=${raw} is not ${s.form}`);
  return v;
}

/** Every setting's value (the first bad one throws E_CONFIG). */
export function readSettings(env: Env = process.env): Settings {
  const out: Record<string, unknown> = {};
  for (const name of Object.keys(SETTINGS) as SettingName[]) out[name] = readSetting(name, env);
  return out as Settings;
}

/** The settings for `kiln serve --help`: one line each, with its default. */
export function settingsHelp(): string {
  const all = Object.values(SETTINGS) as Setting<unknown>[];
  const w = Math.max(...all.map((s) => s.env.length));
  return all.map((s) => `  ${s.env.padEnd(w)}  ${s.help} (default: ${s.shown})`).join('\n');
}
