import { systemClock } from '@llm-resilience/core';
import { RedisKeyspace } from './RedisKeyspace';
import { RedisStoreConfigError } from './RedisStoreConfigError';
import type { SharedStateChannelOptions, SharedStateCodec } from './SharedStateChannel';
import type { RedisSyncOptions } from './types';

/**
 * Validates {@link RedisSyncOptions} (at construction, not at the first publish) and fills defaults.
 *
 * @example
 * ```ts
 * const channel = new SharedStateChannel(resolveSyncOptions(options, 'b', 'breaker', breakerCodec));
 * ```
 */
export function resolveSyncOptions<T>(
  options: RedisSyncOptions,
  kind: 'b' | 'p',
  source: 'breaker' | 'pacing',
  codec: SharedStateCodec<T>,
): SharedStateChannelOptions<T> {
  const redis = options?.redis as unknown as { evalsha?: unknown; duplicate?: unknown } | undefined;
  if (!redis || typeof redis.evalsha !== 'function') {
    throw new RedisStoreConfigError('`redis` must be an ioredis Redis or Cluster instance.');
  }
  if (options.subscriber === undefined && typeof redis.duplicate !== 'function') {
    throw new RedisStoreConfigError('`redis` cannot be duplicated for SUBSCRIBE: pass a dedicated `subscriber` connection.');
  }
  const sub = options.subscriber as unknown as { subscribe?: unknown } | undefined;
  if (sub !== undefined && typeof sub.subscribe !== 'function') {
    throw new RedisStoreConfigError('`subscriber` must be an ioredis Redis or Cluster instance.');
  }
  const timeoutMs = options.timeoutMs ?? 1000;
  const marginMs = options.expiryMarginMs ?? 1000;
  if (!(timeoutMs > 0) || !Number.isFinite(timeoutMs)) throw new RedisStoreConfigError(`timeoutMs must be a positive number, got ${timeoutMs}.`);
  if (!(marginMs >= 0) || !Number.isFinite(marginMs)) throw new RedisStoreConfigError(`expiryMarginMs must be >= 0, got ${marginMs}.`);
  return {
    redis: options.redis,
    subscriber: options.subscriber,
    keyspace: new RedisKeyspace({ prefix: options.prefix, hashTag: options.hashTag }),
    kind,
    source,
    codec,
    clock: options.clock ?? systemClock,
    timeoutMs,
    marginMs,
    onError: options.onError,
  };
}
