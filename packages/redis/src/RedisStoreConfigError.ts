import { ResilienceError } from '@llm-resilience/core';

/**
 * Thrown by the Redis store constructors when an option is invalid (caught at start-up, not at the
 * first request).
 *
 * @example
 * ```ts
 * new RedisLimiterStore({ redis, localFraction: 2 }); // throws RedisStoreConfigError (ERR_LLMR_REDIS_CONFIG)
 * ```
 */
export class RedisStoreConfigError extends ResilienceError {
  constructor(message: string) {
    super(`Invalid Redis store option: ${message}`, { kind: 'invalid_request', code: 'ERR_LLMR_REDIS_CONFIG' });
  }
}
