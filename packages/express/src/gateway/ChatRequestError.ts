import { ResilienceError } from '@llm-resilience/core';

/**
 * The OpenAI error `code` of a rejected chat request, as OpenAI itself uses them:
 * `missing_required_parameter`, `invalid_type` (a field of the wrong shape), `invalid_value` (the
 * right shape, an unusable value), `unsupported_parameter` (a request option the route's model
 * cannot honour), `unsupported_value` (content, a role or a tool it cannot take).
 *
 * @example
 * ```ts
 * const code: ChatRequestErrorCode = 'unsupported_parameter';
 * ```
 */
export type ChatRequestErrorCode = 'missing_required_parameter' | 'invalid_type' | 'invalid_value' | 'unsupported_parameter' | 'unsupported_value';

/**
 * A chat request the gateway refuses before any model call: malformed (`messages[0]` is `null`)
 * or not translatable to an upstream of its route without losing part of it (an audio part for an
 * Anthropic model, `n: 2`). Kind `invalid_request`, code `ERR_LLMR_EXPRESS_GATEWAY_INVALID_REQUEST`;
 * the gateway answers 400 with `param` (the JSON path, `messages[0].content[1]`) and `openAICode`.
 *
 * @example
 * ```ts
 * try { toAnthropicRequest(body, 'claude-x', 300, false); }
 * catch (e) { if (e instanceof ChatRequestError) res.status(400).json(openAIErrorBody(e.message, 'invalid_request_error', e.openAICode, e.param)); }
 * ```
 */
export class ChatRequestError extends ResilienceError {
  /** Path of the offending field in the request body (`messages[2].content[0]`, `n`). */
  readonly param: string;
  /** The `code` of the OpenAI-style error body. */
  readonly openAICode: ChatRequestErrorCode;

  constructor(param: string, openAICode: ChatRequestErrorCode, message: string) {
    super(message, { kind: 'invalid_request', code: 'ERR_LLMR_EXPRESS_GATEWAY_INVALID_REQUEST', userMessage: message });
    this.param = param;
    this.openAICode = openAICode;
  }
}

/**
 * How a JSON value is named in error messages, the way OpenAI does (`null`, `a string`, `an integer`).
 *
 * @example
 * ```ts
 * describeJsonType(3); // 'an integer'
 * ```
 */
export function describeJsonType(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'an integer' : 'a decimal';
  if (typeof v === 'string') return 'a string';
  if (typeof v === 'boolean') return 'a boolean';
  if (typeof v === 'object') return 'an object';
  return 'no value';
}

/**
 * The error for a field of the wrong shape: `missing_required_parameter` when it is absent, else
 * `invalid_type`, worded like OpenAI's.
 *
 * @example
 * ```ts
 * throw invalidType('messages[0]', 'an object', null); // Invalid type for 'messages[0]': expected an object, but got null instead.
 * ```
 */
export function invalidType(param: string, expected: string, got: unknown): ChatRequestError {
  if (got === undefined) return new ChatRequestError(param, 'missing_required_parameter', `Missing required parameter: '${param}'.`);
  return new ChatRequestError(param, 'invalid_type', `Invalid type for '${param}': expected ${expected}, but got ${describeJsonType(got)} instead.`);
}
