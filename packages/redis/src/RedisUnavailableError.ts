import { scrubRedisError } from './scrubRedisError';
import { ResilienceError } from '@llm-resilience/core';

/**
 * Thrown in `fail-closed` mode while Redis cannot be reached (down, too slow, or reconnecting): the
 * limiter cannot decide, so it refuses. `retryAfterMs` is when the store will next try Redis (the time
 * to its next probe), never below 1 ms: when a probe is due or running, a wait of 0 would have callers
 * that honour it retry at once, in a hot loop.
 *
 * @example
 * ```ts
 * try { await store.reserve(charges); }
 * catch (e) { if (e instanceof RedisUnavailableError) res.status(503).set('Retry-After', String(Math.ceil((e.retryAfterMs ?? 1000) / 1000))); }
 * ```
 */
export class RedisUnavailableError extends ResilienceError {
  constructor(operation: string, retryAfterMs: number, cause?: unknown) {
    scrubRedisError(cause);
    // At least 1 ms (NaN too): a hint of 0 is a hot loop for a caller that retries when told.
    retryAfterMs = retryAfterMs >= 1 ? retryAfterMs : 1;
    super(
      `The Redis limiter store could not ${operation}: Redis is unavailable (${describe(cause)}). ` +
        `It is configured with onRedisError: 'fail-closed', so requests are refused until Redis answers ` +
        `again (next attempt in ${retryAfterMs} ms). Check Redis, or use 'fail-open' to admit a local ` +
        `fraction of each limit during outages.`,
      { kind: 'unknown', code: 'ERR_LLMR_REDIS_UNAVAILABLE', retryAfterMs, cause },
    );
  }
}

function describe(cause: unknown): string {
  if (cause instanceof Error) return cause.message;
  return cause === undefined ? 'no answer' : String(cause);
}
