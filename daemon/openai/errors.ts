import { isKilnError } from '../../common/errors.js';
import type { OpenAIErrorResponse } from '../api/types.js';
import { errorBody } from '../http.js';

const TYPES: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  403: 'permission_error',
  404: 'not_found_error',
  413: 'invalid_request_error',
  429: 'rate_limit_error',
  499: 'cancelled',
  503: 'server_overloaded',
};

/** A kiln error in OpenAI's shape: the same status, `{error: {message, type, param, code}}`, code from KilnError's (E_MODEL_NOT_FOUND → model_not_found). */
export function openaiError(e: unknown): { status: number; body: OpenAIErrorResponse } {
  const { status, body } = errorBody(e);
  return {
    status,
    body: {
      error: {
        message: body.error,
        type: TYPES[status] ?? (status >= 500 ? 'api_error' : 'invalid_request_error'),
        param: isKilnError(e) ? e.param ?? null : null,
        code: isKilnError(e) ? e.code.replace(/^E_/, '').toLowerCase() : null,
      },
    },
  };
}
