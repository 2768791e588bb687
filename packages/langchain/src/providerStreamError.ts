import { classifyError, type ErrorKind } from '@llm-resilience/core';

/**
 * Kinds of error a provider reports inside a stream it had started (an in-stream `error` event after
 * its 200: OpenAI's `data: {"error": ...}`, Anthropic's `event: error`) that a broken stream keeps.
 * Anything else that ends a stream (a cut connection, a malformed event, an error nobody can place) is
 * a transport break: `network`.
 */
const PROVIDER_KINDS: ReadonlySet<ErrorKind> = new Set<ErrorKind>([
  'rate_limited',
  'overloaded',
  'quota_exhausted',
  'context_length',
  'policy_rejected',
  'auth',
  'invalid_request',
]);

/**
 * What the provider said when it ended a stream with an error of its own, as core's `classifyError`
 * reads it.
 *
 * @example
 * ```ts
 * const said: ProviderStreamError = { kind: 'rate_limited', code: 'rate_limit_exceeded' };
 * ```
 */
export interface ProviderStreamError {
  /** The provider's kind (`overloaded`, `rate_limited`, ...), never `network`, `timeout` or `unknown`. */
  kind: ErrorKind;
  /**
   * The provider's error code or type (`server_is_overloaded`, `rate_limit_error`, ...), if any. As
   * {@link providerStreamErrorOf} reads it, not redacted: a stream's error takes the code the engine
   * recorded instead (cut by its `redact` option).
   */
  code?: string;
  /** The provider's hint to wait this long before retrying, if it gave one. */
  retryAfterMs?: number;
}

/**
 * The provider's own error that ended a stream (see {@link ProviderStreamError}), or undefined when
 * the stream broke for another reason (a transport break: the stream's kind stays `network`).
 *
 * @example
 * ```ts
 * providerStreamErrorOf(overloadedApiError); // { kind: 'overloaded', code: 'server_is_overloaded' }
 * providerStreamErrorOf(new Error('socket hang up')); // undefined
 * ```
 */
export function providerStreamErrorOf(cause: unknown): ProviderStreamError | undefined {
  const c = classifyError(cause);
  if (!PROVIDER_KINDS.has(c.kind)) return undefined;
  return { kind: c.kind, ...(c.code !== undefined ? { code: c.code } : {}), ...(c.retryAfterMs !== undefined ? { retryAfterMs: c.retryAfterMs } : {}) };
}
