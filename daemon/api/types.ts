/**
 * Every request and response of kiln's REST surface, in Ollama's shapes
 * (docs/api.md and the official `ollama` client's type definitions). The
 * daemon, the CLI's client and the tests import these; nothing else defines a wire type.
 * The few that registry/ emits too live in the leaf common/wire.ts and are re-exported here.
 */
import type { ChatMessage, ToolCall as EngineToolCall } from '../../engine/template/ollama-values.js';

// Shared with registry/ and the CLI: defined in the leaf common/wire.ts.
export type { ProgressResponse, PruneResponse, VerifyProgress } from '../../common/wire.js';
// The quality report of a quantized model (`kiln create --quantize TYPE --report`, `kiln quantize --ladder`):
// made by engine/quantize/ladder.ts, saved as a layer, shown in ShowResponse.quality.
export type { QualityReport, QualityRow } from '../../engine/quantize/ladder.js';
import type { QualityReport } from '../../engine/quantize/ladder.js';

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
  /** kiln's addition: parallel slots (KILN_NUM_PARALLEL) and how many serve a request now. */
  slots?: { total: number; in_use: number };
  /** kiln's addition: the KV cache's key and value types (KILN_KV_CACHE_TYPE, PARAMETER kv_cache_type) and its bytes in `size`. */
  kv_cache?: { type_k: string; type_v: string; bytes: number };
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

/** POST /api/fit: the memory plan of a local model before loading it (kiln's route; `kiln show NAME --fit`). */
export interface FitRequest {
  model?: string;
  name?: string;
  /** The context length to plan for (default: what a request without num_ctx would get). */
  num_ctx?: number;
  /** Slots (sequences, each with a KV cache) to plan for (default: what the scheduler would give it now). */
  num_parallel?: number;
  /** Layers on the GPU, as the option (default: as many as fit). */
  num_gpu?: number;
  /** Also plan the tags the registry lists for the model's name (their GGUF headers read by Range requests). */
  registry?: boolean;
  /** Plain HTTP to the registry, as pull's option. */
  insecure?: boolean;
}

/** One layer of the plan: its tensors, its KV cache (per slot) and where it goes. */
export interface FitLayer {
  index: number;
  weights: number;
  kv_cache: number;
  device: 'gpu' | 'cpu';
}

/** The plan of one GGUF at the request's context, slots and num_gpu on this machine. */
export interface FitPlan {
  /**
   * System memory the runner keeps: the weights it reads on the CPU (the file less what was copied to the
   * device, whose mapped pages it drops), the CPU layers' KV cache and the compute scratch (total); what the
   * scheduler reserves for it (scheduler: the whole file and every layer's cache, /api/ps's size) and what
   * it may take now (available; fits: scheduler <= available).
   */
  ram: { weights: number; offloaded: number; kv_cache: number; compute: number; total: number; scheduler: number; available: number; fits: boolean };
  /** The Vulkan device the layers would go to, and its part of the plan; absent when none (gpu_reason says why). */
  gpu?: {
    index: number;
    name: string;
    memory: number;
    /** Layers on the device (the last ones) of total_layers. */
    layers: number;
    total_layers: number;
    /** Whether the final norm and output projection go too (output_weights bytes). */
    output: boolean;
    weights: number;
    output_weights: number;
    kv_cache: number;
    /** Bytes kept free beyond the plan: activations, pipelines, the driver. */
    reserve: number;
    /** weights + output_weights (when it goes) + kv_cache + reserve. */
    total: number;
    fits: boolean;
  };
  gpu_reason?: string;
  layers: FitLayer[];
  /** As `kiln ps` would print it once loaded: 100% CPU, 100% GPU, or the CPU/GPU split. */
  processor: string;
  /** Whether a load by this plan fits this machine. */
  fits: boolean;
}

/** One quantization of the model (a local tag of the same name, or a tag the registry lists) planned the same way. */
export interface FitVariant {
  /** The name to run or pull it by. */
  model: string;
  source: 'local' | 'registry';
  /** The GGUF's file type (Q4_K_M, Q8_0, F16, ...). */
  quantization?: string;
  /** Bytes of the weights file. */
  size?: number;
  /** FitPlan.ram.total and gpu.total (0 without a device). */
  ram?: number;
  vram?: number;
  gpu_layers?: number;
  total_layers?: number;
  processor?: string;
  fits?: boolean;
  /** Why it could not be planned (its header unreadable, the registry refused). */
  error?: string;
}

export interface FitResponse extends FitPlan {
  model: string;
  num_ctx: number;
  num_parallel: number;
  /** The KV cache's types: `f16`, `q8_0`, `q4_0`, or `K/V` when they differ. */
  kv_cache_type: string;
  /** Every quantization of the model planned at this context: the model itself first, the other local tags, the registry's. */
  variants: FitVariant[];
  /** Why the registry's tags are missing when `registry` was asked for (unreachable, refused). */
  registry_error?: string;
}

export interface ShowResponse {
  license?: string;
  modelfile: string;
  parameters?: string;
  /**
   * The template the model's prompts go through (a plain string, as in
   * Ollama): the Ollama template layer, else the GGUF's
   * tokenizer.chat_template, else Ollama's default `{{ .Prompt }}`.
   */
  template?: string;
  /** kiln's addition: the language of `template`, "go" (Ollama's text/template) or "jinja" (a GGUF chat template). */
  template_kind?: 'go' | 'jinja';
  system?: string;
  details: ModelDetails;
  messages?: Message[];
  model_info: Record<string, unknown>;
  /** Ollama's field: the vision projector's metadata, when the model has one (empty when its tensors are inside the model file). */
  projector_info?: Record<string, unknown>;
  /** kiln's addition: where the model's vision projector is, and that kiln runs the model as text without it. */
  vision?: string;
  /**
   * kiln's addition: the quality report saved when the model was made with
   * `quantize` and `report` (its type against the source: size, bits per
   * weight, KL divergence, same-top-token share, perplexity, speed).
   */
  quality?: QualityReport;
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

/**
 * A chat message: /api/chat `messages` and `message`, Modelfile MESSAGE,
 * /api/show `messages`. The template layer's ChatMessage is the same shape
 * (images as base64, `tool_name`/`tool_call_id` on role "tool"); on the wire a
 * tool call always carries its arguments.
 */
export interface Message extends Omit<ChatMessage, 'tool_calls'> {
  tool_calls?: ToolCall[];
}

/** A function call the model made: `message.tool_calls[i]` of /api/chat. */
export interface ToolCall extends EngineToolCall {
  function: { index?: number; name: string; arguments: Record<string, unknown> };
}

/** A function offered to the model: /api/chat `tools` (OpenAI's `tools` have the same shape). */
export interface Tool {
  type: string;
  function: {
    name: string;
    description?: string;
    parameters?: {
      type?: string;
      $defs?: unknown;
      items?: unknown;
      required?: string[];
      properties?: Record<string, { type?: string | string[]; items?: unknown; description?: string; enum?: unknown[] }>;
    };
  };
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
  /**
   * kiln's addition: with `quantize`, measure the quantized model against the
   * source over a text and save the report with the model (`kiln create
   * --quantize TYPE --report`; shown by `kiln show NAME --quality`).
   */
  report?: boolean;
  /** kiln's addition: the text the report scores (default: a built-in English sample). */
  report_text?: string;
  /** kiln's addition: what the report calls that text (the CLI sends the file's name). */
  report_text_name?: string;
  /** Digest of an importance matrix blob (POST /api/blobs/:digest first) for the quantization: kiln's or llama.cpp's imatrix GGUF. */
  imatrix?: string;
  stream?: boolean;
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

/**
 * Runtime options of generate/chat/embed (`options`), and the PARAMETER
 * keys of a Modelfile. kiln acts on the sampling ones, num_ctx, num_predict,
 * num_keep, stop, num_thread and num_gpu (layers on the Vulkan device); the
 * others (use_mmap, main_gpu, ...) are accepted and ignored.
 */
export interface Options {
  num_ctx?: number;
  num_predict?: number;
  num_keep?: number;
  num_thread?: number;
  seed?: number;
  temperature?: number;
  top_k?: number;
  top_p?: number;
  min_p?: number;
  typical_p?: number;
  repeat_last_n?: number;
  repeat_penalty?: number;
  presence_penalty?: number;
  frequency_penalty?: number;
  stop?: string[];
  [other: string]: unknown;
}

/** What /api/generate and /api/chat do when the context fills while generating. */
export interface ContextShiftOption {
  /**
   * When the context fills while generating: true (the default, as Ollama)
   * drops the older half of the context after num_keep tokens and goes on;
   * false ends the answer with done_reason "length".
   */
  shift?: boolean;
}

/**
 * POST /api/generate — `ollama.generate({model, prompt, ...})`. No prompt
 * only loads the model; with keep_alive 0 it unloads it.
 */
export interface GenerateRequest extends ContextShiftOption, LogprobsOption {
  model?: string;
  name?: string;
  prompt?: string;
  suffix?: string;
  system?: string;
  template?: string;
  /** Tokens of an earlier answer's `context`, which this prompt continues. */
  context?: number[];
  stream?: boolean;
  raw?: boolean;
  /** "json" or a JSON schema. */
  format?: string | Record<string, unknown>;
  images?: string[];
  keep_alive?: string | number;
  think?: ThinkValue;
  options?: Options;
}

/**
 * `think` of /api/generate and /api/chat: true/false, or a level. A model
 * whose template has thinking tags thinks unless told `false`; asking one
 * without them to think is a 400.
 */
export type ThinkValue = boolean | 'low' | 'medium' | 'high';

/** Timing and token counts of a finished generation (nanoseconds). */
export interface GenerateStatsFields {
  total_duration?: number;
  load_duration?: number;
  prompt_eval_count?: number;
  prompt_eval_duration?: number;
  eval_count?: number;
  eval_duration?: number;
  /**
   * kiln's addition: prompt tokens dropped to fit num_ctx (the first num_keep
   * kept, then the end of the prompt, as Ollama truncates); absent when none were.
   */
  prompt_truncated?: number;
  /**
   * kiln's addition: prompt tokens whose keys and values came from the cache
   * (an earlier turn, another slot's conversation); prompt_eval_count counts
   * only the rest. Absent when none did.
   */
  prompt_cached?: number;
}

/** One NDJSON line of /api/generate (the last has done: true, done_reason and the stats). */
export interface GenerateResponse extends GenerateStatsFields {
  model: string;
  created_at: string;
  response: string;
  /** A thinking model's reasoning, apart from `response` (absent when there is none). */
  thinking?: string;
  done: boolean;
  /** "stop", "length", "load", "unload" (Ollama's words). */
  done_reason?: string;
  context?: number[];
  /** With `logprobs`: one entry per token of this piece (all of them in a non-streamed answer). */
  logprobs?: TokenLogprob[];
}

/**
 * Which tools the model may or must call (kiln's addition to /api/chat;
 * OpenAI's `tool_choice` and the other surfaces map onto it): "auto" (the
 * default: the model decides), "none" (the tools are not shown and nothing
 * is parsed as a call), "required" (the answer is one or more calls of
 * offered tools, enforced by a grammar), or `{name}` (calls of that tool).
 */
export type ToolChoice = 'auto' | 'none' | 'required' | { name: string };

/**
 * Log-probabilities of the generated tokens (/api/generate and /api/chat
 * `logprobs: true`): the model's own, the log-softmax of its logits before
 * any sampling transform; `top_logprobs` holds the most likely tokens at
 * that position when the request asked for them.
 */
export interface TokenLogprob {
  token: string;
  logprob: number;
  /** The token's UTF-8 bytes (a piece of a character stays a piece here). */
  bytes: number[];
  top_logprobs?: { token: string; logprob: number; bytes: number[] }[];
}

/** `logprobs` and `top_logprobs` of /api/generate and /api/chat (Ollama's fields). */
export interface LogprobsOption {
  logprobs?: boolean;
  /** 0..20 most likely tokens per position (needs logprobs). */
  top_logprobs?: number;
}

/** POST /api/chat — `ollama.chat({model, messages, tools, ...})`. */
export interface ChatRequest extends ContextShiftOption, LogprobsOption {
  model?: string;
  name?: string;
  messages?: Message[];
  tools?: Tool[];
  tool_choice?: ToolChoice;
  /** false: at most one tool call per answer (default true). */
  parallel_tool_calls?: boolean;
  stream?: boolean;
  format?: string | Record<string, unknown>;
  keep_alive?: string | number;
  think?: ThinkValue;
  options?: Options;
}

/** The tool_choice of every surface, as the chat service takes it. */
export type ChatToolChoice = ToolChoice;

/** One NDJSON line of /api/chat; a thinking model's reasoning comes in `message.thinking`. */
export interface ChatResponse extends GenerateStatsFields {
  model: string;
  created_at: string;
  message: Message;
  done: boolean;
  done_reason?: string;
  /** kiln's addition, on the last line: the stop string that ended the answer (absent when none did). Anthropic's stop_sequence. */
  stop_sequence?: string;
  /** With `logprobs`: one entry per token of this piece (all of them in a non-streamed answer). */
  logprobs?: TokenLogprob[];
}

/** POST /api/embed — `ollama.embed({model, input, truncate})`. */
export interface EmbedRequest {
  model?: string;
  name?: string;
  input?: string | string[];
  /** Cut inputs longer than the context (default true); false makes them an error. */
  truncate?: boolean;
  /** Keep the first N dimensions (then renormalize). */
  dimensions?: number;
  keep_alive?: string | number;
  options?: Options;
}

export interface EmbedResponse {
  model: string;
  /** L2-normalized, one per input. */
  embeddings: number[][];
  total_duration: number;
  load_duration: number;
  prompt_eval_count: number;
}

/**
 * POST /v1/rerank and /api/rerank (llama-server's and Jina's shape): scores
 * each document against the query with a reranker model (a classification
 * head, `pooling_type` rank, as bge-reranker). Documents are strings or
 * `{text}` objects.
 */
export interface RerankRequest {
  model?: string;
  name?: string;
  query: string;
  documents: string[];
  /** Only the best this many results (default all). */
  top_n?: number;
  /** Echo each document's text in its result. */
  return_documents?: boolean;
  keep_alive?: string | number;
  options?: Options;
}

export interface RerankResult {
  /** The document's position in the request. */
  index: number;
  /** The model's raw relevance score (its classifier's logit, as llama-server returns it): higher is more relevant. */
  relevance_score: number;
  document?: { text: string };
}

export interface RerankResponse {
  model: string;
  object: 'list';
  /** Best first. */
  results: RerankResult[];
  usage: { prompt_tokens: number; total_tokens: number };
}

/** POST /api/embeddings (legacy) — `ollama.embeddings({model, prompt})`. */
export interface EmbeddingsRequest {
  model?: string;
  name?: string;
  prompt?: string;
  keep_alive?: string | number;
  options?: Options;
}

export interface EmbeddingsResponse {
  embedding: number[];
}

// ---- OpenAI-compatible surface (/v1), the shapes of the `openai` package ----

/** Errors under /v1 — what the `openai` client parses into APIError. */
export interface OpenAIErrorResponse {
  error: { message: string; type: string; param: string | null; code: string | null };
}

export interface OpenAIChatMessage {
  role: 'system' | 'developer' | 'user' | 'assistant' | 'tool';
  /** A string, or content parts (text / image_url) as the client sends them. */
  content?: string | { type: string; text?: string; image_url?: string | { url: string } }[] | null;
  name?: string;
  /** Ollama's addition: an assistant message's reasoning (sent back as `thinking` to the template). */
  reasoning?: string;
  tool_calls?: OpenAIToolCall[];
  tool_call_id?: string;
}

export interface OpenAIToolCall {
  /** Index of the call in a streamed delta. */
  index?: number;
  id: string;
  type: 'function';
  /** arguments is a JSON string, as OpenAI sends it. */
  function: { name: string; arguments: string };
}

export interface OpenAIResponseFormat {
  type: 'text' | 'json_object' | 'json_schema';
  json_schema?: { name?: string; schema?: Record<string, unknown>; strict?: boolean };
}

/** POST /v1/chat/completions — `openai.chat.completions.create(...)` */
export interface OpenAIChatRequest {
  model: string;
  messages: OpenAIChatMessage[];
  stream?: boolean;
  stream_options?: { include_usage?: boolean };
  max_tokens?: number | null;
  max_completion_tokens?: number | null;
  temperature?: number | null;
  top_p?: number | null;
  seed?: number | null;
  stop?: string | string[] | null;
  frequency_penalty?: number | null;
  presence_penalty?: number | null;
  response_format?: OpenAIResponseFormat;
  tools?: Tool[];
  /** "auto", "none", "required" or {type: "function", function: {name}}, read into the native ToolChoice. */
  tool_choice?: ToolChoice;
  parallel_tool_calls?: boolean;
  logprobs?: boolean;
  /** 0..20; needs logprobs true. */
  top_logprobs?: number;
  n?: number | null;
  /**
   * `reasoning_effort`, or `reasoning: {effort}` (which wins), as Ollama reads
   * them: a level becomes native `think` of that level, "none" becomes `think: false`.
   */
  reasoning_effort?: OpenAIReasoningEffort;
}

export type OpenAIReasoningEffort = 'high' | 'medium' | 'low' | 'none';

export interface OpenAIUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

export interface OpenAIChatCompletion {
  id: string;
  object: 'chat.completion';
  created: number;
  model: string;
  system_fingerprint: string;
  /** `reasoning`: a thinking model's reasoning, where Ollama's OpenAI layer puts it. */
  choices: { index: number; message: { role: 'assistant'; content: string | null; reasoning?: string; tool_calls?: OpenAIToolCall[] }; finish_reason: string; logprobs: OpenAIChatLogprobs | null }[];
  usage: OpenAIUsage;
}

/** `choices[i].logprobs` of a chat completion (and of each chunk): the native entries, as OpenAI shapes them. */
export interface OpenAIChatLogprobs {
  content: { token: string; logprob: number; bytes: number[] | null; top_logprobs: { token: string; logprob: number; bytes: number[] | null }[] }[] | null;
  refusal: null;
}

export interface OpenAIChatChunk {
  id: string;
  object: 'chat.completion.chunk';
  created: number;
  model: string;
  system_fingerprint: string;
  choices: { index: number; delta: { role?: 'assistant'; content?: string; reasoning?: string; tool_calls?: OpenAIToolCall[] }; finish_reason: string | null; logprobs: OpenAIChatLogprobs | null }[];
  usage?: OpenAIUsage | null;
}

/** POST /v1/completions — `openai.completions.create(...)` */
export interface OpenAICompletionRequest {
  model: string;
  prompt: string | string[];
  suffix?: string | null;
  stream?: boolean;
  stream_options?: { include_usage?: boolean };
  max_tokens?: number | null;
  temperature?: number | null;
  top_p?: number | null;
  seed?: number | null;
  stop?: string | string[] | null;
  frequency_penalty?: number | null;
  presence_penalty?: number | null;
  echo?: boolean;
  /** The legacy field: the number (0..20) of most likely tokens to list per position; 0 lists only the chosen one. */
  logprobs?: number;
}

/** `choices[i].logprobs` of a (legacy) completion. */
export interface OpenAICompletionLogprobs {
  tokens: string[];
  token_logprobs: number[];
  top_logprobs: Record<string, number>[] | null;
  text_offset: number[];
}

export interface OpenAICompletion {
  id: string;
  object: 'text_completion';
  created: number;
  model: string;
  system_fingerprint: string;
  choices: { index: number; text: string; finish_reason: string | null; logprobs: OpenAICompletionLogprobs | null }[];
  usage?: OpenAIUsage | null;
}

/** POST /v1/embeddings — `openai.embeddings.create({model, input})` */
export interface OpenAIEmbeddingRequest {
  model: string;
  input: string | string[];
  encoding_format?: 'float' | 'base64';
  dimensions?: number;
}

export interface OpenAIEmbeddingResponse {
  object: 'list';
  data: { object: 'embedding'; index: number; embedding: number[] | string }[];
  model: string;
  usage: { prompt_tokens: number; total_tokens: number };
}

/** GET /v1/models (`openai.models.list()`) entries and GET /v1/models/:id */
export interface OpenAIModel {
  id: string;
  object: 'model';
  created: number;
  owned_by: string;
}

export interface OpenAIModelList {
  object: 'list';
  data: OpenAIModel[];
}

/** POST /api/export — kiln only (`kiln export NAME -o FILE`). Answers the model as an OCI image-layout tar (application/x-tar). */
export interface ExportRequest {
  model?: string;
  name?: string;
}

/**
 * POST /api/import?model=NAME&stream=BOOL — kiln only (`kiln import FILE [NAME]`).
 * The body is the tar; `model` overrides the name in the archive. Answers ProgressResponse lines.
 */
export interface ImportQuery {
  model?: string;
  stream?: string;
}

/** POST /api/import-ollama — kiln only (`kiln import-ollama [DIR]`): adopt an Ollama store's models. Answers ProgressResponse lines. */
export interface ImportOllamaRequest {
  /** The Ollama models folder (default ~/.ollama/models, or $OLLAMA_MODELS of the daemon). */
  path?: string;
  stream?: boolean;
}

/** POST /api/verify — kiln only (`kiln verify`): re-hash every blob. */
export interface VerifyRequest {
  stream?: boolean;
}


// ---- API keys (unix socket only: `kiln keys`) ------------------------------

/** POST /api/keys — kiln only, on the unix socket: creates a key; the answer holds it, the only time it is shown. */
export interface KeyCreateRequest {
  scope: 'inference' | 'admin';
  name?: string;
}

/** One key as listed (never the key itself). Times are RFC 3339; null when never used / not revoked. */
export interface KeyInfo {
  id: string;
  name: string;
  scope: 'inference' | 'admin';
  created_at: string;
  last_used_at: string | null;
  revoked_at: string | null;
}

export interface KeyCreateResponse extends KeyInfo {
  /** The key: shown once, stored only as a hash. */
  key: string;
}

/** GET /api/keys */
export interface KeyListResponse {
  keys: KeyInfo[];
}

/** DELETE /api/keys — revokes the key with this id (or every active key with this name). */
export interface KeyRevokeRequest {
  id: string;
}

export interface KeyRevokeResponse {
  revoked: string[];
}

// ---- Tokenize (llama-server's /tokenize and /detokenize, plus `model`) -----

/**
 * POST /api/tokenize. `content` is tokenized as given; `messages` (and
 * `tools`) are first rendered through the model's chat template as /api/chat
 * renders them. add_special defaults to false for content (llama-server) and
 * true for messages (what /api/chat feeds the model); parse_special to true.
 */
export interface TokenizeRequest {
  model?: string;
  name?: string;
  content?: string;
  messages?: Message[];
  tools?: Tool[];
  /** With messages: the `think` of the /api/chat request whose prompt this is (a level reaches the template). */
  think?: ThinkValue;
  add_special?: boolean;
  parse_special?: boolean;
  with_pieces?: boolean;
}

/** A token with its text: a string when the piece is valid UTF-8, else its bytes. */
export interface TokenPiece {
  id: number;
  piece: string | number[];
}

export interface TokenizeResponse {
  model: string;
  tokens: number[] | TokenPiece[];
  /** With `messages`: the rendered prompt that was tokenized. */
  prompt?: string;
}

/** POST /api/detokenize */
export interface DetokenizeRequest {
  model?: string;
  name?: string;
  tokens: number[];
}

export interface DetokenizeResponse {
  model: string;
  content: string;
}
export type * from './responses-types.js';
export type * from './anthropic-types.js';
