import { ResilienceError } from '@llm-resilience/core';

/**
 * Thrown by the Redis store constructors when an option is invalid (caught at start-up, not at the
 * first request). The message names the option and what it expects; a wrong value is described by its
 * type (`got a string`), never quoted, so a misplaced secret such as a Redis URL does not end up in logs.
 *
 * @example
 * ```ts
 * try {
 *   new RedisLimiterStore({ redis, localFraction: 2 });
 * } catch (e) {
 *   if (e instanceof RedisStoreConfigError) console.error(e.code, e.option); // 'ERR_LLMR_REDIS_CONFIG' 'localFraction'
 * }
 * ```
 */
export class RedisStoreConfigError extends ResilienceError {
  /** Path of the offending option (`timeoutMs`, `probeBackoffMs.max`); absent when the options object itself is wrong. */
  readonly option?: string;

  constructor(message: string, option?: string) {
    super(`Invalid Redis store option: ${message}`, { kind: 'invalid_request', code: 'ERR_LLMR_REDIS_CONFIG' });
    if (option !== undefined) this.option = option;
  }
}
