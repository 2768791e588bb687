import { scrubRedisError } from './scrubRedisError';
import { ResilienceError } from '@llm-resilience/core';

/**
 * Thrown in `fail-closed` mode while Redis cannot be reached (down, too slow, or reconnecting): the
 * limiter cannot decide, so it refuses. `retryAfterMs` is when the store will next try Redis.
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
