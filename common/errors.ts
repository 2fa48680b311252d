/**
 * One error type for all of kiln, with stable codes that callers match on
 * (in the manner of undici's errors). The daemon's single error handler maps
 * `code` to an HTTP status through `httpStatus`; nothing builds error bodies inline.
 */
export const ERROR_STATUS = {
  E_BAD_REQUEST: 400,
  E_INVALID_JSON: 400,
  E_INVALID_NAME: 400,
  E_INVALID_DIGEST: 400,
  E_DIGEST_MISMATCH: 400,
  E_BLOB_NOT_FOUND: 400,
  E_MODELFILE: 400,
  E_GGUF_MALFORMED: 400,
  E_GGUF_UNSUPPORTED: 400,
  E_TEMPLATE: 400,
  E_UNAUTHORIZED: 401,
  /** No API key, or one that is not valid (missing, wrong, revoked: the answer does not say which). */
  E_INVALID_API_KEY: 401,
  /** A valid API key whose scope does not cover the route. */
  E_FORBIDDEN: 403,
  E_FORBIDDEN_HOST: 403,
  E_FORBIDDEN_REALM: 403,
  E_FORBIDDEN_ORIGIN: 403,
  E_MODEL_NOT_FOUND: 404,
  E_NOT_FOUND: 404,
  E_METHOD_NOT_ALLOWED: 405,
  E_CONFLICT: 409,
  E_PAYLOAD_TOO_LARGE: 413,
  /** The client went away or cancelled (nginx's and Ollama's 499, client closed request). */
  E_CANCELLED: 499,
  E_QUEUE_FULL: 503,
  E_RUNNER: 500,
  E_INSUFFICIENT_MEMORY: 500,
  E_NO_SPACE: 507,
  E_REGISTRY: 502,
  E_DB_TOO_NEW: 500,
  E_MIGRATION: 500,
  E_STORE_CORRUPT: 500,
  E_ALREADY_RUNNING: 500,
  /** A bad setting in the environment (never a client's mistake). */
  E_CONFIG: 500,
  E_DAEMON_NOT_RUNNING: 500,
  E_NATIVE: 500,
  E_INTERNAL: 500,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

export class KilnError extends Error {
  readonly code: ErrorCode;
  /** The request field at fault, when there is one (OpenAI's `error.param`). */
  readonly param?: string;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; param?: string }) {
    super(message, options);
    this.name = 'KilnError';
    this.code = code;
    if (options?.param !== undefined) this.param = options.param;
  }

  get httpStatus(): number {
    return ERROR_STATUS[this.code];
  }
}

export function isKilnError(e: unknown, code?: ErrorCode): e is KilnError {
  return e instanceof KilnError && (code === undefined || e.code === code);
}

export function modelNotFound(name: string): KilnError {
  // Ollama's exact wording: clients match on it.
  return new KilnError('E_MODEL_NOT_FOUND', `model '${name}' not found`);
}
