import type { ErrorKind } from '@llm-resilience/core';

/**
 * An error in the OpenAI wire format, which OpenAI SDKs turn into typed exceptions by status.
 *
 * @example
 * ```ts
 * res.status(401).json(openAIErrorBody('Missing API key.', 'invalid_request_error', 'invalid_api_key'));
 * ```
 */
export interface OpenAIErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

/**
 * Builds an OpenAI-style error body.
 *
 * @example
 * ```ts
 * openAIErrorBody('The model `x` does not exist.', 'invalid_request_error', 'model_not_found', 'model');
 * ```
 */
export function openAIErrorBody(message: string, type: string, code: string | null, param: string | null = null): OpenAIErrorBody {
  return { error: { message, type, param, code } };
}

/**
 * OpenAI error `type` of an error kind: `invalid_request_error` for the client's own mistakes,
 * `rate_limit_error` for 429s, `server_error` for the rest.
 *
 * @example
 * ```ts
 * openAITypeOf('context_length'); // 'invalid_request_error'
 * ```
 */
export function openAITypeOf(kind: ErrorKind): string {
  switch (kind) {
    case 'invalid_request':
    case 'context_length':
    case 'policy_rejected':
      return 'invalid_request_error';
    case 'rate_limited':
      return 'rate_limit_error';
    case 'cancelled':
      return 'request_cancelled';
    default:
      return 'server_error';
  }
}
