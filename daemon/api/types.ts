/**
 * Every request and response of kiln's REST surface, in Ollama's shapes
 * (docs/api.md and the official `ollama` client's type definitions). The
 * daemon, the CLI's client and the tests import these; nothing else defines a wire type.
 */

/** GET /api/version — `ollama.version()` */
export interface VersionResponse {
  version: string;
}

/** `details` of /api/tags, /api/show and /api/ps entries. */
export interface ModelDetails {
  parent_model: string;
  format: string;
  family: string;
  families: string[] | null;
  parameter_size: string;
  quantization_level: string;
}

/** One entry of GET /api/tags — `ollama.list()` */
export interface ListModel {
  name: string;
  model: string;
  modified_at: string;
  size: number;
  /** sha256 hex of the manifest bytes (no `sha256:` prefix), as Ollama sends it. */
  digest: string;
  details: ModelDetails;
}

export interface ListResponse {
  models: ListModel[];
}

/** One entry of GET /api/ps — `ollama.ps()` */
export interface RunningModel {
  name: string;
  model: string;
  size: number;
  digest: string;
  details: ModelDetails;
  expires_at: string;
  size_vram: number;
  context_length: number;
}

export interface PsResponse {
  models: RunningModel[];
}

/** POST /api/show — `ollama.show({model})`; `name` is the legacy spelling. */
export interface ShowRequest {
  model?: string;
  name?: string;
  verbose?: boolean;
  system?: string;
  template?: string;
}

export interface ShowResponse {
  license?: string;
  modelfile: string;
  parameters?: string;
  template?: string;
  system?: string;
  details: ModelDetails;
  messages?: Message[];
  model_info: Record<string, unknown>;
  capabilities: string[];
  modified_at: string;
}

/** DELETE /api/delete — `ollama.delete({model})` sends `{name}`. */
export interface DeleteRequest {
  model?: string;
  name?: string;
}

/** POST /api/copy — `ollama.copy({source, destination})` */
export interface CopyRequest {
  source: string;
  destination: string;
}

export interface Message {
  role: string;
  content: string;
  images?: string[];
  tool_calls?: unknown[];
}

/**
 * POST /api/create — `ollama.create(...)`. `files` maps file names to blob
 * digests uploaded first through POST /api/blobs/:digest (Ollama ≥ 0.5).
 */
export interface CreateRequest {
  model?: string;
  name?: string;
  from?: string;
  files?: Record<string, string>;
  adapters?: Record<string, string>;
  template?: string;
  system?: string;
  license?: string | string[];
  parameters?: Record<string, unknown>;
  messages?: Message[];
  quantize?: string;
  stream?: boolean;
}

/** One NDJSON line of create/pull/push progress. */
export interface ProgressResponse {
  status: string;
  digest?: string;
  total?: number;
  completed?: number;
}

export interface StatusResponse {
  status: string;
}

export interface ErrorResponse {
  error: string;
}

/** POST /api/pull — `ollama.pull({model, insecure, stream})`; `name` is the legacy spelling. Answers ProgressResponse lines. */
export interface PullRequest {
  model?: string;
  name?: string;
  /** Plain http to the registry (and a token realm on http); https otherwise. */
  insecure?: boolean;
  stream?: boolean;
}

/** POST /api/push — `ollama.push({model, insecure, stream})`. Answers ProgressResponse lines. */
export interface PushRequest {
  model?: string;
  name?: string;
  insecure?: boolean;
  stream?: boolean;
}
