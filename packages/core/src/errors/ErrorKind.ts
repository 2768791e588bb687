/**
 * The one error taxonomy: every failure from any provider, SDK or transport maps to one of these.
 *
 * | kind              | typical source                                          |
 * |-------------------|---------------------------------------------------------|
 * | rate_limited      | 429 rate limit, Gemini RESOURCE_EXHAUSTED (rate)        |
 * | overloaded        | 503, Anthropic 529 `overloaded_error`                   |
 * | timeout           | request/first-token timeout, ETIMEDOUT, UND_ERR_*_TIMEOUT |
 * | network           | ECONNRESET, ECONNREFUSED, socket hang up, broken stream |
 * | context_length    | prompt exceeds the model's context window               |
 * | quota_exhausted   | insufficient_quota, billing, spend limit                |
 * | policy_rejected   | safety / content filter                                 |
 * | auth              | 401 / 403, bad key; a model the key cannot reach (404)  |
 * | invalid_request   | other 400/404/422                                       |
 * | validation_failed | the reply did not match the route's output schema       |
 * | cancelled         | the caller aborted (AbortSignal); deadlines are timeouts |
 * | unknown           | anything else (500s without more detail, garbage)        |
 *
 * @example
 * ```ts
 * const kind: ErrorKind = classifyError(err).kind;
 * ```
 */
export type ErrorKind =
  | 'rate_limited'
  | 'overloaded'
  | 'timeout'
  | 'network'
  | 'context_length'
  | 'quota_exhausted'
  | 'policy_rejected'
  | 'auth'
  | 'invalid_request'
  | 'validation_failed'
  | 'cancelled'
  | 'unknown';

/**
 * Every {@link ErrorKind}, in a stable order.
 *
 * @example
 * ```ts
 * for (const kind of ERROR_KINDS) console.log(kind);
 * ```
 */
export const ERROR_KINDS: readonly ErrorKind[] = [
  'rate_limited',
  'overloaded',
  'timeout',
  'network',
  'context_length',
  'quota_exhausted',
  'policy_rejected',
  'auth',
  'invalid_request',
  'validation_failed',
  'cancelled',
  'unknown',
];

/**
 * What a provider told us about its remaining capacity, read from response headers
 * (`x-ratelimit-*`, `anthropic-ratelimit-*`). Times are absolute epoch milliseconds.
 *
 * @example
 * ```ts
 * const snap = readRateLimitHeaders(response.headers, Date.now());
 * if (snap?.remainingTokens === 0) console.log('out of TPM until', snap.tokensResetAt);
 * ```
 */
export interface RateLimitSnapshot {
  limitRequests?: number;
  remainingRequests?: number;
  requestsResetAt?: number;
  limitTokens?: number;
  remainingTokens?: number;
  tokensResetAt?: number;
  limitInputTokens?: number;
  remainingInputTokens?: number;
  inputTokensResetAt?: number;
  limitOutputTokens?: number;
  remainingOutputTokens?: number;
  outputTokensResetAt?: number;
  /**
   * When the `remaining*` counts were true (epoch ms): the moment the response carrying them arrived.
   * Providers refill continuously, so pacing counts the quota refilled since then. Optional: the engine
   * sets it on the snapshots it stores and shares (`pacingOf`, `PacingStateSync`); a snapshot without it
   * (from `readRateLimitHeaders`, `classifyError`, or an older process) is taken as observed when
   * it is received.
   */
  observedAt?: number;
}

/**
 * The result of {@link classifyError}: one kind plus what the error said about when to retry.
 *
 * @example
 * ```ts
 * const c = classifyError(err);
 * if (c.kind === 'rate_limited' && c.retryAfterMs) await sleep(c.retryAfterMs);
 * ```
 */
export interface ClassifiedError {
  kind: ErrorKind;
  /** HTTP status when one was found. */
  status?: number;
  /** Provider error code or type (`insufficient_quota`, `overloaded_error`, `ECONNRESET`, ...). */
  code?: string;
  /** A short description, safe to log (no prompt text, no keys). */
  message: string;
  /**
   * Provider hint: wait this long before retrying (from `retry-after`, `retry-after-ms`, RetryInfo, ...;
   * for a 429 with none of these, the reset of a quota its rate-limit headers show at 0, i.e. when that
   * quota is full again). In the errors and records of the engine, such a reset-only hint is the time
   * until the failed call's own share of the quota has refilled instead, never longer.
   */
  retryAfterMs?: number;
  /** Remaining-quota headers carried by the error response, if any. */
  rateLimit?: RateLimitSnapshot;
  /**
   * The original value. In the errors the engine throws (`last` of a `ChainExhaustedError`,
   * `classified` of a `RequestFailedError`) when the engine's `redact` option is set: a redacted
   * stand-in for it (see `redactedCause`).
   */
  cause: unknown;
}
