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

/**
 * OpenAI error `type` of an error answered with `status`: the kind's type ({@link openAITypeOf}),
 * made to agree with the status actually sent, which is what OpenAI SDKs raise by. A 429 is
 * `rate_limit_error`; a 5xx is `server_error` (a chain exhausted on 429s answers 503, not a rate
 * limit the client may wait out); a 4xx other than 429 is never `rate_limit_error` (a request that
 * can never pass a limit answers 413: `invalid_request_error`).
 *
 * @example
 * ```ts
 * openAITypeForStatus('rate_limited', 503); // 'server_error'
 * openAITypeForStatus('rate_limited', 429); // 'rate_limit_error'
 * ```
 */
export function openAITypeForStatus(kind: ErrorKind, status: number): string {
  if (status === 429) return 'rate_limit_error';
  if (status >= 500) return 'server_error';
  const type = openAITypeOf(kind);
  return type === 'rate_limit_error' || type === 'server_error' ? 'invalid_request_error' : type;
}
