import { scrubRedisError } from './scrubRedisError';
import { ResilienceError } from '@llm-resilience/core';

/**
 * What a shared-state sync was doing when Redis failed.
 *
 * - `publish`: storing and announcing a local change (it stays local; a breaker state still in force
 *   is sent again once Redis is ready).
 * - `subscribe`: subscribing to the channel, or the subscriber connection failed.
 * - `load`: reading the stored states (at subscribe time or after a reconnect).
 * - `message`: a message or stored value could not be read (malformed, or a listener threw).
 *
 * @example
 * ```ts
 * const op: RedisSyncOperation = 'publish';
 * ```
 */
export type RedisSyncOperation = 'publish' | 'subscribe' | 'load' | 'message';

/**
 * Reported (never thrown) through the `onError` option of `RedisBreakerSync` / `RedisPacingSync`
 * when sharing state over Redis fails. The engine keeps working on its local state; the sync catches
 * up by itself (it resubscribes and reloads the stored states when its connection is back).
 *
 * @example
 * ```ts
 * new RedisBreakerSync({ redis, onError: (e) => logger.warn({ code: e.code, op: e.operation }, e.message) });
 * ```
 */
export class RedisSyncError extends ResilienceError {
  constructor(
    /** Which state: breaker states, pacing snapshots, or the subscriber connection they share. */
    readonly source: 'breaker' | 'pacing' | 'subscriber',
    readonly operation: RedisSyncOperation,
    cause: unknown,
  ) {
    scrubRedisError(cause);
    super(
      `Sharing ${source === 'subscriber' ? 'state' : `${source} state`} over Redis failed (${operation}): ${describe(cause)}. ` +
        `This process keeps working on its own state and picks up shared state again once Redis answers; ` +
        `check the Redis connection if this persists.`,
      { kind: 'unknown', code: 'ERR_LLMR_REDIS_SYNC', cause },
    );
  }
}

function describe(cause: unknown): string {
  if (cause instanceof Error) return cause.message;
  return cause === undefined ? 'no answer' : String(cause);
}
