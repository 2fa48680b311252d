import type { AnthropicErrorResponse } from '../api/types.js';
import { errorBody } from '../http.js';

const TYPES: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  403: 'permission_error',
  404: 'not_found_error',
  413: 'request_too_large',
  429: 'rate_limit_error',
  503: 'overloaded_error',
};

/** A kiln error in Anthropic's shape: the same status, `{type: "error", error: {type, message}}`. */
export function anthropicError(e: unknown): { status: number; body: AnthropicErrorResponse } {
  const { status, body } = errorBody(e);
  return { status, body: { type: 'error', error: { type: TYPES[status] ?? (status >= 500 ? 'api_error' : 'invalid_request_error'), message: body.error } } };
}
