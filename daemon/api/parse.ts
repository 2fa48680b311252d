/**
 * The edge of the REST surface: every JSON request body is parsed here, once,
 * into the typed values of ./types.ts, before any service sees it. A body
 * that does not fit is a 400 (E_BAD_REQUEST) whose message and `param` name
 * the field. Fields a client may send that kiln does not use are ignored, not
 * refused, and a null stands for an absent optional field (as Go's decoder,
 * and so Ollama, reads it; the `openai` client sends nulls for unset fields).
 * Only the shape is checked here; what depends on a model (a token id in
 * `context`, a schema in `format`, option values merged with PARAMETERs) is
 * checked where the model is known.
 */
import { KilnError } from '../../common/errors.js';
import { parseKvCacheType } from '../../common/kv-cache.js';
import type {
  ChatRequest,
  CopyRequest,
  CreateRequest,
  DeleteRequest,
  EmbeddingsRequest,
  EmbedRequest,
  ExportRequest,
  FitRequest,
  GenerateRequest,
  ImportOllamaRequest,
  Message,
  OpenAIChatMessage,
  OpenAIChatRequest,
  OpenAICompletionRequest,
  OpenAIEmbeddingRequest,
  OpenAIReasoningEffort,
  OpenAIResponseFormat,
  OpenAIToolCall,
  Options,
  PullRequest,
  PushRequest,
  RerankRequest,
  ShowRequest,
  ThinkValue,
  Tool,
  ToolCall,
  ToolChoice,
  VerifyRequest,
  DetokenizeRequest,
  KeyCreateRequest,
  KeyRevokeRequest,
  TokenizeRequest,
} from './types.js';

type Obj = Record<string, unknown>;

const THINK_LEVELS = ['high', 'medium', 'low'];
const KV_CACHE_PARAMS = ['kv_cache_type', 'kv_cache_type_k', 'kv_cache_type_v'];

const NUMERIC_OPTIONS = [
  'num_ctx', 'num_predict', 'num_keep', 'num_thread', 'num_batch', 'seed', 'temperature', 'top_k', 'top_p', 'min_p',
  'typical_p', 'repeat_last_n', 'repeat_penalty', 'presence_penalty', 'frequency_penalty',
] as const;

/** A 400 naming the field at `at` (a path such as `messages[0].content`). */
export function invalid(at: string, msg: string): KilnError {
  return new KilnError('E_BAD_REQUEST', `${at}: ${msg}`, { param: at });
}

export function kind(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return 'an object';
  return `a ${typeof v}`;
}

export function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function objectAt(v: unknown, at: string): Obj {
  if (!isObj(v)) throw invalid(at, `expected an object, got ${kind(v)}`);
  return v;
}

/** Typed reads of the fields of one JSON object; absent and null read as undefined. */
export class Fields {
  constructor(
    readonly o: Obj,
    readonly at = '',
  ) {}

  path(k: string): string {
    return this.at ? `${this.at}.${k}` : k;
  }

  has(k: string): boolean {
    return this.o[k] !== undefined && this.o[k] !== null;
  }

  private get<T>(k: string, ok: (v: unknown) => boolean, what: string): T | undefined {
    const v = Object.hasOwn(this.o, k) ? this.o[k] : undefined;
    if (v === undefined || v === null) return undefined;
    if (!ok(v)) throw invalid(this.path(k), `expected ${what}, got ${kind(v)}`);
    return v as T;
  }

  str(k: string): string | undefined {
    return this.get(k, (v) => typeof v === 'string', 'a string');
  }

  requiredStr(k: string): string {
    const v = this.str(k);
    if (v === undefined || v === '') throw invalid(this.path(k), 'is required');
    return v;
  }

  bool(k: string): boolean | undefined {
    return this.get(k, (v) => typeof v === 'boolean', 'a boolean');
  }

  num(k: string): number | undefined {
    return this.get(k, (v) => typeof v === 'number' && Number.isFinite(v), 'a number');
  }

  int(k: string, min = -Infinity): number | undefined {
    const v = this.get<number>(k, (v) => typeof v === 'number' && Number.isInteger(v), 'an integer');
    if (v !== undefined && v < min) throw invalid(this.path(k), `must be at least ${min}`);
    return v;
  }

  obj(k: string): Obj | undefined {
    return this.get(k, isObj, 'an object');
  }

  fields(k: string): Fields | undefined {
    const o = this.obj(k);
    return o && new Fields(o, this.path(k));
  }

  strList(k: string): string[] | undefined {
    const v = this.get<unknown[]>(k, Array.isArray, 'an array of strings');
    v?.forEach((s, i) => {
      if (typeof s !== 'string') throw invalid(`${this.path(k)}[${i}]`, `expected a string, got ${kind(s)}`);
    });
    return v as string[] | undefined;
  }

  strOrList(k: string): string | string[] | undefined {
    return typeof this.o[k] === 'string' ? (this.o[k] as string) : this.strList(k);
  }

  list<T>(k: string, item: (v: unknown, at: string) => T): T[] | undefined {
    const v = this.get<unknown[]>(k, Array.isArray, 'an array');
    return v?.map((x, i) => item(x, `${this.path(k)}[${i}]`));
  }

  /** A map of string values (`files`, `adapters`). */
  strMap(k: string): Record<string, string> | undefined {
    const o = this.obj(k);
    if (!o) return undefined;
    for (const [key, v] of Object.entries(o)) {
      if (typeof v !== 'string') throw invalid(`${this.path(k)}['${key}']`, `expected a string, got ${kind(v)}`);
    }
    return o as Record<string, string>;
  }

  keepAlive(k = 'keep_alive'): string | number | undefined {
    return this.get(k, (v) => typeof v === 'string' || (typeof v === 'number' && Number.isFinite(v)), 'a duration string or a number of seconds');
  }

  /** "json" (or any string, checked later) or a JSON schema object. */
  format(k = 'format'): string | Record<string, unknown> | undefined {
    return this.get(k, (v) => typeof v === 'string' || isObj(v), 'a string or a JSON schema object');
  }

  /** true/false or a level; another string is refused with Ollama's words. */
  think(k = 'think'): ThinkValue | undefined {
    const v = this.get<boolean | string>(k, (x) => typeof x === 'boolean' || typeof x === 'string', 'a boolean or a string ("high", "medium", "low")');
    if (typeof v === 'string' && !THINK_LEVELS.includes(v)) {
      throw invalid(this.path(k), `invalid think value: ${JSON.stringify(v)} (must be "high", "medium", "low", true, or false)`);
    }
    return v as ThinkValue | undefined;
  }

  /**
   * Runtime options: the numeric ones must be numbers and `stop` a string or
   * strings; others (num_gpu, use_mmap, ...) are taken and ignored. Ranges,
   * merged with the model's PARAMETERs, are checked in services/options.ts.
   */
  options(k = 'options'): Options | undefined {
    const o = this.fields(k);
    if (!o) return undefined;
    for (const key of NUMERIC_OPTIONS) o.num(key);
    o.strOrList('stop');
    // null is absent, as everywhere else: the model's PARAMETER (or the default) stands.
    return Object.fromEntries(Object.entries(o.o).filter(([, v]) => v !== null)) as Options;
  }
}

/** OpenAI's cap on top_logprobs, kept on every surface. */
export const MAX_TOP_LOGPROBS = 20;

const TOOL_CHOICE_WORDS = ['auto', 'none', 'required'];

/**
 * `tool_choice`: "auto", "none", "required", or a named function, as
 * OpenAI writes it (`{type: "function", function: {name}}`) or as kiln's
 * native form (`{name}`). Whether the name is offered is checked with the tools.
 */
function toolChoice(f: Fields, k = 'tool_choice'): ToolChoice | undefined {
  const v = f.o[k];
  const at = f.path(k);
  if (v === undefined || v === null) return undefined;
  const expected = 'expected "auto", "none", "required" or {"type": "function", "function": {"name": ...}}';
  if (typeof v === 'string') {
    if (!TOOL_CHOICE_WORDS.includes(v)) throw invalid(at, `${expected}, got ${JSON.stringify(v)}`);
    return v as ToolChoice;
  }
  if (!isObj(v)) throw invalid(at, `${expected}, got ${kind(v)}`);
  const c = new Fields(v, at);
  const type = c.str('type');
  if (type !== undefined && type !== 'function') throw invalid(c.path('type'), `only function tool choices are supported, got '${type}'`);
  const fn = c.fields('function');
  const name = fn ? fn.requiredStr('name') : c.str('name');
  if (!name) throw invalid(at, `${expected}: the function's name is missing`);
  return { name };
}

/** `top_logprobs`: an integer 0..20. */
function topLogprobs(f: Fields, k = 'top_logprobs'): number | undefined {
  const n = f.int(k, 0);
  if (n !== undefined && n > MAX_TOP_LOGPROBS) throw invalid(f.path(k), `must be at most ${MAX_TOP_LOGPROBS}`);
  return n;
}

export function fieldsOf(body: unknown): Fields {
  return new Fields(objectAt(body, 'body'));
}

/** `model`, or the legacy `name`: at least one is a non-empty string. */
function modelFields(f: Fields): { model?: string; name?: string } {
  const model = f.str('model');
  const name = f.str('name');
  if (!model && !name) throw invalid('model', 'is required');
  return { model, name };
}

export function drop<T extends object>(o: T): T {
  for (const k of Object.keys(o) as (keyof T)[]) if (o[k] === undefined) delete o[k];
  return o;
}

// ---- Ollama (/api) -------------------------------------------------------

function toolCall(v: unknown, at: string): ToolCall {
  const f = new Fields(objectAt(v, at), at);
  const fn = f.fields('function');
  if (!fn) throw invalid(f.path('function'), 'is required');
  return drop({
    id: f.str('id'),
    function: drop({ index: fn.int('index', 0), name: fn.requiredStr('name'), arguments: fn.obj('arguments') ?? {} }),
  });
}

function message(v: unknown, at: string): Message {
  const f = new Fields(objectAt(v, at), at);
  const role = f.requiredStr('role');
  if (!['system', 'user', 'assistant', 'tool'].includes(role)) throw invalid(f.path('role'), 'must be one of system, user, assistant, tool');
  return drop({
    role,
    content: f.str('content') ?? '',
    thinking: f.str('thinking'),
    images: f.strList('images'),
    tool_calls: f.list('tool_calls', toolCall),
    tool_name: f.str('tool_name'),
    tool_call_id: f.str('tool_call_id'),
  });
}

/** A tool offered to the model. Kept as sent (templates print it), once its shape is known good. */
function tool(v: unknown, at: string): Tool {
  const f = new Fields(objectAt(v, at), at);
  const type = f.str('type') ?? 'function';
  if (type !== 'function') throw invalid(f.path('type'), `only function tools are supported, got '${type}'`);
  const fn = f.fields('function');
  if (!fn) throw invalid(f.path('function'), 'is required');
  fn.str('name');
  fn.str('description');
  const params = fn.fields('parameters');
  if (params) {
    params.str('type');
    params.strList('required');
    const props = params.fields('properties');
    if (props) for (const k of Object.keys(props.o)) props.fields(k);
  }
  return { ...(f.o as unknown as Tool), type, function: { ...(fn.o as Tool['function']), name: fn.str('name') ?? '' } };
}

export function parseGenerate(body: unknown): GenerateRequest {
  const f = fieldsOf(body);
  return drop({
    ...modelFields(f),
    prompt: f.str('prompt'),
    suffix: f.str('suffix'),
    system: f.str('system'),
    template: f.str('template'),
    context: f.list('context', (v, at) => {
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw invalid(at, `expected a token id (an integer ≥ 0), got ${JSON.stringify(v)}`);
      return v;
    }),
    stream: f.bool('stream'),
    raw: f.bool('raw'),
    format: f.format(),
    images: f.strList('images'),
    keep_alive: f.keepAlive(),
    think: f.think(),
    options: f.options(),
    shift: f.bool('shift'),
    logprobs: f.bool('logprobs'),
    top_logprobs: topLogprobs(f),
  });
}

export function parseChat(body: unknown): ChatRequest {
  const f = fieldsOf(body);
  return drop({
    ...modelFields(f),
    messages: f.list('messages', message),
    tools: f.list('tools', tool),
    tool_choice: toolChoice(f),
    parallel_tool_calls: f.bool('parallel_tool_calls'),
    stream: f.bool('stream'),
    format: f.format(),
    keep_alive: f.keepAlive(),
    think: f.think(),
    options: f.options(),
    shift: f.bool('shift'),
    logprobs: f.bool('logprobs'),
    top_logprobs: topLogprobs(f),
  });
}

export function parseEmbed(body: unknown): EmbedRequest {
  const f = fieldsOf(body);
  return drop({
    ...modelFields(f),
    input: f.strOrList('input'),
    truncate: f.bool('truncate'),
    dimensions: f.int('dimensions', 1),
    keep_alive: f.keepAlive(),
    options: f.options(),
  });
}

/** POST /v1/rerank, /api/rerank: documents as strings or `{text}` objects, read as strings. */
export function parseRerank(body: unknown): RerankRequest {
  const f = fieldsOf(body);
  const query = f.requiredStr('query');
  const raw = f.o.documents;
  if (!Array.isArray(raw)) throw invalid(f.path('documents'), `expected an array of strings, got ${kind(raw)}`);
  const documents = raw.map((d, i) => {
    if (typeof d === 'string') return d;
    if (isObj(d) && typeof d.text === 'string') return d.text;
    throw invalid(`${f.path('documents')}[${i}]`, `expected a string or {"text": string}, got ${kind(d)}`);
  });
  return drop({
    ...modelFields(f),
    query,
    documents,
    top_n: f.int('top_n', 1),
    return_documents: f.bool('return_documents'),
    keep_alive: f.keepAlive(),
    options: f.options(),
  });
}

export function parseEmbeddings(body: unknown): EmbeddingsRequest {
  const f = fieldsOf(body);
  return drop({ ...modelFields(f), prompt: f.str('prompt'), keep_alive: f.keepAlive(), options: f.options() });
}

export function parseShow(body: unknown): ShowRequest {
  const f = fieldsOf(body);
  return drop({ ...modelFields(f), verbose: f.bool('verbose'), system: f.str('system'), template: f.str('template') });
}

export function parseFit(body: unknown): FitRequest {
  const f = fieldsOf(body);
  const int = (k: string, min: number, max: number): number | undefined => {
    const v = f.int(k, min);
    if (v !== undefined && v > max) throw invalid(f.path(k), `must be at most ${max}`);
    return v;
  };
  return drop({ ...modelFields(f), num_ctx: int('num_ctx', 1, 2 ** 24), num_parallel: int('num_parallel', 1, 256), num_gpu: int('num_gpu', -1, 4096), registry: f.bool('registry'), insecure: f.bool('insecure') });
}

export function parseDelete(body: unknown): DeleteRequest {
  return drop(modelFields(fieldsOf(body)));
}

export function parseCopy(body: unknown): CopyRequest {
  const f = fieldsOf(body);
  return { source: f.requiredStr('source'), destination: f.requiredStr('destination') };
}

export function parsePull(body: unknown): PullRequest {
  const f = fieldsOf(body);
  return drop({ ...modelFields(f), insecure: f.bool('insecure'), stream: f.bool('stream') });
}

export function parsePush(body: unknown): PushRequest {
  return parsePull(body);
}

export function parseCreate(body: unknown): CreateRequest {
  const f = fieldsOf(body);
  const parameters = f.obj('parameters');
  for (const [k, v] of Object.entries(parameters ?? {})) {
    const ok = ['string', 'number', 'boolean'].includes(typeof v) || (Array.isArray(v) && v.every((x) => typeof x === 'string'));
    if (!ok) throw invalid(`parameters.${k}`, 'expected a number, boolean, string or list of strings');
    if (KV_CACHE_PARAMS.includes(k)) {
      try {
        parameters![k] = parseKvCacheType(k, v);
      } catch (e) {
        throw invalid(`parameters.${k}`, (e as Error).message);
      }
    }
  }
  return drop({
    ...modelFields(f),
    from: f.str('from'),
    files: f.strMap('files'),
    adapters: f.strMap('adapters'),
    template: f.str('template'),
    system: f.str('system'),
    license: f.strOrList('license'),
    parameters,
    messages: f.list('messages', message),
    quantize: f.str('quantize'),
    report: f.bool('report'),
    report_text: f.str('report_text'),
    report_text_name: f.str('report_text_name'),
    imatrix: f.str('imatrix'),
    stream: f.bool('stream'),
  });
}

export function parseExport(body: unknown): ExportRequest {
  return drop(modelFields(fieldsOf(body)));
}

export function parseImportOllama(body: unknown): ImportOllamaRequest {
  const f = fieldsOf(body);
  return drop({ path: f.str('path'), stream: f.bool('stream') });
}

export function parseVerify(body: unknown): VerifyRequest {
  return drop({ stream: fieldsOf(body).bool('stream') });
}

// ---- OpenAI (/v1) --------------------------------------------------------

type ContentPart = Exclude<OpenAIChatMessage['content'], string | null | undefined>[number];

function contentPart(v: unknown, at: string): ContentPart {
  const f = new Fields(objectAt(v, at), at);
  const type = f.requiredStr('type');
  if (type === 'text') return { type, text: f.str('text') ?? '' };
  if (type === 'image_url') {
    if (typeof f.o.image_url === 'string') return { type, image_url: f.o.image_url };
    const img = f.fields('image_url');
    return { type, image_url: { url: img?.str('url') ?? '' } };
  }
  if (type === 'refusal') return { type: 'text', text: f.str('refusal') ?? '' };
  return { type };
}

function openaiToolCall(v: unknown, at: string): OpenAIToolCall {
  const f = new Fields(objectAt(v, at), at);
  const type = f.str('type') ?? 'function';
  if (type !== 'function') throw invalid(f.path('type'), `only function tool calls are supported, got '${type}'`);
  const fn = f.fields('function');
  if (!fn) throw invalid(f.path('function'), 'is required');
  // arguments is a JSON string; an object (which some clients send) is taken as that JSON
  const args = isObj(fn.o.arguments) ? JSON.stringify(fn.o.arguments) : fn.str('arguments') ?? '';
  return drop({ index: f.int('index', 0), id: f.str('id') ?? '', type: 'function' as const, function: { name: fn.requiredStr('name'), arguments: args } });
}

const OPENAI_ROLES = ['system', 'developer', 'user', 'assistant', 'tool'];

function openaiMessage(v: unknown, at: string): OpenAIChatMessage {
  const f = new Fields(objectAt(v, at), at);
  const role = f.requiredStr('role');
  if (!OPENAI_ROLES.includes(role)) throw invalid(f.path('role'), `must be one of ${OPENAI_ROLES.join(', ')}`);
  return drop({
    role: role as OpenAIChatMessage['role'],
    content: typeof f.o.content === 'string' ? f.o.content : f.has('content') ? f.list('content', contentPart) : null,
    name: f.str('name'),
    reasoning: f.str('reasoning'),
    tool_calls: f.list('tool_calls', openaiToolCall),
    tool_call_id: f.str('tool_call_id'),
  });
}

function openaiSampling(f: Fields) {
  return {
    temperature: f.num('temperature'),
    top_p: f.num('top_p'),
    seed: f.int('seed'),
    stop: f.strOrList('stop'),
    frequency_penalty: f.num('frequency_penalty'),
    presence_penalty: f.num('presence_penalty'),
    stream: f.bool('stream'),
    stream_options: f.fields('stream_options') && { include_usage: f.fields('stream_options')!.bool('include_usage') },
  };
}

function responseFormat(f: Fields): OpenAIResponseFormat | undefined {
  const rf = f.fields('response_format');
  if (!rf) return undefined;
  const type = rf.requiredStr('type');
  if (!['text', 'json_object', 'json_schema'].includes(type)) throw invalid(rf.path('type'), `'${type}' is not supported: use text, json_object or json_schema`);
  const js = rf.fields('json_schema');
  return drop({
    type: type as OpenAIResponseFormat['type'],
    json_schema: js && drop({ name: js.str('name'), schema: js.obj('schema'), strict: js.bool('strict') }),
  });
}

const REASONING_EFFORTS = ['high', 'medium', 'low', 'none'];

/** `reasoning.effort` (preferred, as Ollama reads it) or `reasoning_effort`: high, medium, low or none. */
function reasoningEffort(f: Fields): OpenAIReasoningEffort | undefined {
  const r = f.fields('reasoning');
  const at = r ? r.path('effort') : 'reasoning_effort';
  const effort = r ? r.str('effort') : f.str('reasoning_effort');
  if (effort === undefined || effort === '') return undefined;
  if (!REASONING_EFFORTS.includes(effort)) throw invalid(at, `invalid reasoning value: '${effort}' (must be "high", "medium", "low", or "none")`);
  return effort as OpenAIReasoningEffort;
}

export function parseOpenAIChat(body: unknown): OpenAIChatRequest {
  const f = fieldsOf(body);
  const messages = f.list('messages', openaiMessage);
  if (!messages) throw invalid('messages', 'is required');
  const effort = reasoningEffort(f);
  const logprobs = f.bool('logprobs');
  const top = topLogprobs(f);
  // as OpenAI answers it: top_logprobs lists alternatives of tokens whose logprobs were asked for
  if (top !== undefined && logprobs !== true) throw invalid('top_logprobs', 'requires logprobs to be true');
  return drop({
    model: f.requiredStr('model'),
    messages,
    ...openaiSampling(f),
    max_tokens: f.int('max_tokens'),
    max_completion_tokens: f.int('max_completion_tokens'),
    response_format: responseFormat(f),
    tools: f.list('tools', tool),
    tool_choice: toolChoice(f),
    parallel_tool_calls: f.bool('parallel_tool_calls'),
    logprobs,
    top_logprobs: top,
    n: f.int('n'),
    reasoning_effort: effort,
  });
}

export function parseOpenAICompletion(body: unknown): OpenAICompletionRequest {
  const f = fieldsOf(body);
  let prompt: string | string[] = '';
  if (f.has('prompt')) {
    if (typeof f.o.prompt !== 'string' && !(Array.isArray(f.o.prompt) && f.o.prompt.every((p) => typeof p === 'string'))) {
      throw invalid('prompt', 'expected a string or an array of strings (token arrays are not supported)');
    }
    prompt = f.o.prompt as string | string[];
  }
  return drop({
    model: f.requiredStr('model'),
    prompt,
    suffix: f.str('suffix'),
    ...openaiSampling(f),
    max_tokens: f.int('max_tokens'),
    echo: f.bool('echo'),
    logprobs: topLogprobs(f, 'logprobs'),
  });
}

export function parseOpenAIEmbedding(body: unknown): OpenAIEmbeddingRequest {
  const f = fieldsOf(body);
  if (!f.has('input')) throw invalid('input', 'is required');
  const input = f.o.input;
  if (typeof input !== 'string' && !(Array.isArray(input) && input.every((s) => typeof s === 'string'))) {
    throw invalid('input', 'expected a string or an array of strings (token arrays are not supported)');
  }
  const encoding = f.str('encoding_format');
  if (encoding !== undefined && encoding !== 'float' && encoding !== 'base64') throw invalid('encoding_format', "must be 'float' or 'base64'");
  return drop({ model: f.requiredStr('model'), input, encoding_format: encoding, dimensions: f.int('dimensions', 1) });
}

// ---- Tokenize ------------------------------------------------------------

export function parseTokenize(body: unknown): TokenizeRequest {
  const f = fieldsOf(body);
  const req = drop({
    ...modelFields(f),
    content: f.str('content'),
    messages: f.list('messages', message),
    tools: f.list('tools', tool),
    think: f.think(),
    add_special: f.bool('add_special'),
    parse_special: f.bool('parse_special'),
    with_pieces: f.bool('with_pieces'),
  });
  if (req.content === undefined && req.messages === undefined) throw invalid('content', 'is required (or messages)');
  if (req.content !== undefined && req.messages !== undefined) throw invalid('messages', 'give content or messages, not both');
  return req;
}

export function parseDetokenize(body: unknown): DetokenizeRequest {
  const f = fieldsOf(body);
  const tokens = f.list('tokens', (v, at) => {
    if (typeof v !== 'number' || !Number.isInteger(v)) throw invalid(at, `expected an integer token id, got ${kind(v)}`);
    return v;
  });
  if (tokens === undefined) throw invalid('tokens', 'is required');
  return drop({ ...modelFields(f), tokens });
}

// ---- API keys (unix socket) ------------------------------------------------

export function parseKeyCreate(body: unknown): KeyCreateRequest {
  const f = fieldsOf(body);
  const scope = f.requiredStr('scope');
  if (scope !== 'inference' && scope !== 'admin') throw invalid('scope', `must be "inference" or "admin", got ${JSON.stringify(scope)}`);
  const name = f.str('name');
  if (name !== undefined && name.length > 200) throw invalid('name', 'must be at most 200 characters');
  return drop({ scope, name });
}

export function parseKeyRevoke(body: unknown): KeyRevokeRequest {
  return { id: fieldsOf(body).requiredStr('id') };
}
