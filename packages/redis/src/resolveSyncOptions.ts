import { systemClock } from '@llm-resilience/core';
import {
  booleanOption,
  clientOption,
  clockOption,
  functionOption,
  knownKeys,
  nonNegativeMsOption,
  optionsObject,
  prefixOption,
  timeoutOption,
} from './optionChecks';
import type { RedisClient } from './redisClient';
import { RedisKeyspace } from './RedisKeyspace';
import { RedisStoreConfigError } from './RedisStoreConfigError';
import type { RedisSyncError } from './RedisSyncError';
import type { SharedStateChannelOptions, SharedStateCodec } from './SharedStateChannel';
import type { RedisSyncOptions } from './types';

/** Every key of {@link RedisSyncOptions} (the compiler keeps this list complete). */
const SYNC_KEYS = {
  redis: true,
  subscriber: true,
  prefix: true,
  hashTag: true,
  timeoutMs: true,
  expiryMarginMs: true,
  clock: true,
  random: true,
  onError: true,
} satisfies Record<keyof RedisSyncOptions, true>;

const SYNC_OPTION_NAMES: readonly string[] = Object.keys(SYNC_KEYS);

/**
 * Checks a `subscriber` option: absent, or a connection that can SUBSCRIBE.
 *
 * @example
 * ```ts
 * const subscriber = subscriberOption('subscriber', options.subscriber);
 * ```
 */
export function subscriberOption(path: string, value: unknown): RedisClient | undefined {
  return value === undefined ? undefined : clientOption<RedisClient>(path, value, 'subscribe');
}

/**
 * Validates {@link RedisSyncOptions} (at construction, not at the first publish) and fills defaults.
 * Throws {@link RedisStoreConfigError} naming the option and what it expects.
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
  const owner = source === 'breaker' ? 'RedisBreakerSync' : 'RedisPacingSync';
  const o = optionsObject(options, owner);
  knownKeys(o, SYNC_OPTION_NAMES, owner);
  const redis = clientOption<RedisClient & { duplicate?: unknown }>('redis', o.redis, 'evalsha');
  const subscriber = subscriberOption('subscriber', o.subscriber);
  if (subscriber === undefined && typeof redis.duplicate !== 'function') {
    throw new RedisStoreConfigError('`redis` cannot be duplicated for SUBSCRIBE: pass a dedicated `subscriber` connection.', 'subscriber');
  }
  return {
    redis,
    subscriber,
    keyspace: new RedisKeyspace({ prefix: prefixOption('prefix', o.prefix), hashTag: booleanOption('hashTag', o.hashTag) }),
    kind,
    source,
    codec,
    timeoutMs: timeoutOption('timeoutMs', o.timeoutMs, 1000),
    marginMs: nonNegativeMsOption('expiryMarginMs', o.expiryMarginMs, 1000),
    clock: clockOption('clock', o.clock) ?? systemClock,
    random: functionOption<() => number>('random', o.random),
    onError: functionOption<(error: RedisSyncError) => void>('onError', o.onError),
  };
}
