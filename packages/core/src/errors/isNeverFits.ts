import type { ErrorKind } from './ErrorKind';

/**
 * A rate limit the request can never pass, whatever the wait: `rate_limited` with `retryAfterMs:
 * Infinity` (the request alone exceeds the limit: OpenAI's 429 "Request too large … must be reduced",
 * or a request larger than a bucket of our own limiter). It is the request's fault: no breaker verdict,
 * no part in the 429 streak, no retry-budget token, a 413 over HTTP and the `too_large` user message.
 *
 * @example
 * ```ts
 * isNeverFits('rate_limited', Infinity); // true
 * isNeverFits('rate_limited', 3_000);    // false
 * ```
 */
export function isNeverFits(kind: ErrorKind | undefined, retryAfterMs: number | undefined): boolean {
  return kind === 'rate_limited' && retryAfterMs === Infinity;
}
