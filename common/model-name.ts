/**
 * Model names: parsing, canonical keys, display forms and on-disk paths.
 *
 * Grammar (matching is case-insensitive; parts are stored lowercased):
 *
 *     name      = [host "/"] [namespace "/"] model [":" tag]
 *     host      = word [":" port]          1–350 chars in all, `port` = 1–5 digits
 *     namespace = word, without "."        1–80 chars
 *     model     = word                     1–80 chars
 *     tag       = word                     1–80 chars
 *     word      = (ALNUM | "_") *(ALNUM | "_" | "-" | ".")     ASCII only
 *
 * Defaults: host `registry.ollama.ai`, namespace `library`, tag `latest`.
 *
 * Which part is which: three `/`-separated parts are host/namespace/model.
 * With two parts the first is a host when it contains `.` or `:` (which a
 * namespace never may), otherwise a namespace — so `localhost:5000/m` and
 * `registry.ollama.ai/m` name a host, while `jmorgan/m` names a namespace.
 * Bare `localhost/m` is therefore namespace `localhost`; write a port to mean
 * the host. `hf.co/{user}/{repo}[:quant]` is simply host/namespace/model.
 *
 * Digest references (`model@sha256:<hex>`) are rejected rather than ignored:
 * silently dropping a pin would pull something other than what was asked for.
 *
 * Because every part starts with an alphanumeric or `_`, no part can be `.` or
 * `..`, and `/` cannot occur inside one — so a parsed name always maps to a
 * path under the store root. `safeJoin` checks that anyway.
 *
 * Valid:   llama3.1:8b   Llama3.1:8B   jmorgan/m   localhost:5000/m
 *          127.0.0.1:5000/ns/model:tag   hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M
 * Invalid: ""   ":tag"   "m:"   "m:t:t"   "/m"   "m/"   "../x"   "x/../y"
 *          "h/ns.dot/m"   "a/b/c/d"   "m@sha256:…"   "lláma"   "my model"
 */
import path from 'node:path';
import { KilnError } from './errors.js';

export const DEFAULT_HOST = 'registry.ollama.ai';
export const DEFAULT_NAMESPACE = 'library';
export const DEFAULT_TAG = 'latest';
const HF_HOST = 'hf.co';

export interface ModelName {
  /** Lowercased parts, used for matching and keys. */
  readonly host: string;
  readonly namespace: string;
  readonly model: string;
  readonly tag: string;
  /** As the user wrote it (case kept), shortened like Ollama's `list`. */
  readonly display: string;
}

const WORD = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;
const HOST = /^[A-Za-z0-9_][A-Za-z0-9_.-]*(:[0-9]{1,5})?$/;
const MAX_HOST = 350;
const MAX_PART = 80;

function invalid(s: string, why: string): KilnError {
  // Names arrive from HTTP bodies; keep a hostile megabyte out of logs.
  const shown = s.length > 200 ? `${s.slice(0, 200)}…` : s;
  return new KilnError('E_INVALID_NAME', `invalid model name '${shown}': ${why}`);
}

function checkPart(s: string, kind: string, value: string): void {
  if (value.length === 0) throw invalid(s, `empty ${kind}`);
  if (value.length > MAX_PART) throw invalid(s, `${kind} longer than ${MAX_PART} characters`);
  if (!WORD.test(value)) throw invalid(s, `bad character in ${kind}`);
}

/** Parse a user-supplied name; throws only `KilnError('E_INVALID_NAME')`. */
export function parseModelName(s: string): ModelName {
  if (typeof s !== 'string') throw invalid(String(s), 'not a string');
  if (s.length === 0) throw invalid(s, 'empty');
  if (s.includes('@')) throw invalid(s, 'digest references are not supported');

  const parts = s.split('/');
  if (parts.length > 3) throw invalid(s, 'too many "/"');
  const last = parts[parts.length - 1];
  const colon = last.indexOf(':');
  const model = colon < 0 ? last : last.slice(0, colon);
  const tag = colon < 0 ? DEFAULT_TAG : last.slice(colon + 1);

  let host = DEFAULT_HOST;
  let namespace = DEFAULT_NAMESPACE;
  if (parts.length === 3) {
    [host, namespace] = parts;
  } else if (parts.length === 2) {
    if (/[.:]/.test(parts[0])) host = parts[0];
    else namespace = parts[0];
  }

  if (host.length === 0) throw invalid(s, 'empty host');
  if (host.length > MAX_HOST) throw invalid(s, `host longer than ${MAX_HOST} characters`);
  if (!HOST.test(host)) throw invalid(s, 'bad character in host');
  // The host becomes a URL's authority: what WHATWG URL refuses (`1e-400.0.0.1`, read as an IPv4 number) is no host.
  if (!URL.canParse(`https://${host}/`)) throw invalid(s, 'host is not a valid hostname');
  checkPart(s, 'namespace', namespace);
  if (namespace.includes('.')) throw invalid(s, 'namespace may not contain "."');
  checkPart(s, 'model', model);
  checkPart(s, 'tag', tag); // also catches a second ':' in the tag

  return makeName(host, namespace, model, tag);
}

function makeName(host: string, namespace: string, model: string, tag: string): ModelName {
  const lower = {
    host: host.toLowerCase(),
    namespace: namespace.toLowerCase(),
    model: model.toLowerCase(),
    tag: tag.toLowerCase(),
  };
  let display = `${model}:${tag}`;
  if (lower.host !== DEFAULT_HOST) display = `${host}/${namespace}/${display}`;
  else if (lower.namespace !== DEFAULT_NAMESPACE) display = `${namespace}/${display}`;
  return { ...lower, display };
}

/** Canonical lowercase `host/namespace/model:tag`, the database key. */
export function nameKey(name: ModelName): string {
  return `${name.host}/${name.namespace}/${name.model}:${name.tag}`;
}

/** What `kiln list` prints: `model:tag`, `namespace/model:tag` or the full name. */
export function displayName(name: ModelName): string {
  return name.display;
}

/**
 * Ollama's store layout, `manifests/<host>/<namespace>/<model>/<tag>`, with
 * `/` separators. Parts are lowercase; Ollama may have written mixed case, so
 * an importer on a case-sensitive disk should walk `manifests/` rather than
 * rely on this path alone.
 */
export function manifestRelPath(name: ModelName): string {
  return ['manifests', name.host, name.namespace, name.model, name.tag].join('/');
}

/** `root` joined with `rel`, refusing absolute paths, NUL and any escape from `root`. */
export function safeJoin(root: string, rel: string): string {
  if (rel.includes('\0') || path.isAbsolute(rel)) {
    throw new KilnError('E_INVALID_NAME', `path '${rel}' is not a relative path`);
  }
  const base = path.resolve(root);
  const joined = path.resolve(base, rel);
  const prefix = base.endsWith(path.sep) ? base : base + path.sep;
  if (joined !== base && !joined.startsWith(prefix)) {
    throw new KilnError('E_INVALID_NAME', `path '${rel}' escapes '${root}'`);
  }
  return joined;
}

// GGUF file-type names as they appear in tags (lowercase here, for lookup),
// mapped to the canonical spelling llama.cpp and Ollama print.
const QUANTS = new Map<string, string>();
for (const q of [
  'Q2_K', 'Q2_K_S', 'Q3_K_S', 'Q3_K_M', 'Q3_K_L', 'Q4_0', 'Q4_1', 'Q4_K_S', 'Q4_K_M',
  'Q5_0', 'Q5_1', 'Q5_K_S', 'Q5_K_M', 'Q6_K', 'Q8_0', 'F16', 'F32', 'BF16',
  'IQ1_S', 'IQ1_M', 'IQ2_XXS', 'IQ2_XS', 'IQ2_S', 'IQ2_M', 'IQ3_XXS', 'IQ3_XS', 'IQ3_S',
  'IQ3_M', 'IQ4_NL', 'IQ4_XS', 'TQ1_0', 'TQ2_0',
  // Unsloth's "dynamic" quants, common in hf.co tags.
  'Q2_K_XL', 'Q3_K_XL', 'Q4_K_XL', 'Q5_K_XL', 'Q6_K_XL', 'Q8_K_XL',
]) {
  QUANTS.set(q.toLowerCase(), q);
}
QUANTS.set('fp16', 'F16'); // the Ollama library spells these fp16/fp32
QUANTS.set('fp32', 'F32');

/**
 * The quantization a tag names, canonically spelled (`8b-instruct-q4_K_M` →
 * `Q4_K_M`, `70b-text-fp16` → `F16`), or null. Tags read as
 * `size[-variant]-quantization`, so the last `-` segment that is a known
 * quantization wins.
 */
export function tagQuantization(tag: string): string | null {
  const segments = tag.toLowerCase().split('-');
  for (let i = segments.length - 1; i >= 0; i--) {
    const q = QUANTS.get(segments[i]);
    if (q) return q;
  }
  return null;
}

export const DEFAULT_QUANT_TAG = 'q4_K_M';
// A bare size (`8b`, `1.5b`, `135m`, `8x7b`) names no variant, so for it the
// instruct variant is the sensible default, as it is for `latest`.
const BARE_SIZE = /^([0-9]+x)?[0-9]+(\.[0-9]+)?[bmk]$/i;

/**
 * Tags to try, in order, for a requested name (Q4_K_M is the default
 * quantization, DESIGN §2):
 * - the tag names a quantization: just the tag;
 * - hf.co: the tag, then `Q4_K_M` (Hugging Face tags are quantization names);
 * - `latest`: `latest`, `q4_K_M`, `instruct-q4_K_M`;
 * - a bare size like `8b`: `8b`, `8b-q4_K_M`, `8b-instruct-q4_K_M`;
 * - any other tag (`8b-text`): the tag, then `<tag>-q4_K_M` — it already names
 *   a variant, so appending `instruct` would only invent a tag.
 */
export function defaultTagCandidates(name: ModelName): ModelName[] {
  const tag = tagOf(name);
  const tags = [tag];
  if (tagQuantization(tag) === null) {
    if (name.host === HF_HOST) {
      tags.push('Q4_K_M');
    } else if (name.tag === DEFAULT_TAG) {
      tags.push(DEFAULT_QUANT_TAG, `instruct-${DEFAULT_QUANT_TAG}`);
    } else {
      tags.push(`${tag}-${DEFAULT_QUANT_TAG}`);
      if (BARE_SIZE.test(tag)) tags.push(`${tag}-instruct-${DEFAULT_QUANT_TAG}`);
    }
  }
  const [host, namespace, model] = displayParts(name);
  return tags.map((t) => makeName(host, namespace, model, t));
}

// The case-kept parts behind `display`, so candidates keep the user's spelling.
function displayParts(name: ModelName): [string, string, string] {
  const bare = name.display.slice(0, name.display.lastIndexOf(':'));
  const parts = bare.split('/');
  if (parts.length === 3) return [parts[0], parts[1], parts[2]];
  if (parts.length === 2) return [name.host, parts[0], parts[1]];
  return [name.host, name.namespace, parts[0]];
}

function tagOf(name: ModelName): string {
  return name.display.slice(name.display.lastIndexOf(':') + 1);
}
