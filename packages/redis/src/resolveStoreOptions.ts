import { systemClock, type Clock } from '@llm-resilience/core';
import {
  booleanOption,
  clientOption,
  clockOption,
  functionOption,
  knownKeys,
  nestedOptions,
  nonNegativeMsOption,
  numberOption,
  oneOfOption,
  optionsObject,
  positiveMsOption,
  prefixOption,
  timeoutOption,
} from './optionChecks';
import type { ScriptClient } from './redisClient';
import { RedisStoreConfigError } from './RedisStoreConfigError';
import type { RedisFailureMode, RedisLimiterStoreOptions, RedisStoreEvent } from './types';

/** Every key of {@link RedisLimiterStoreOptions} (the compiler keeps this list complete). */
const STORE_KEYS = {
  redis: true,
  prefix: true,
  hashTag: true,
  timeoutMs: true,
  onRedisError: true,
  localFraction: true,
  leaseMs: true,
  maxBatch: true,
  expiryMarginMs: true,
  probeBackoffMs: true,
  clock: true,
  onEvent: true,
} satisfies Record<keyof RedisLimiterStoreOptions, true>;

/**
 * The option names `RedisLimiterStore` accepts.
 *
 * @example
 * ```ts
 * STORE_OPTION_NAMES.includes('timeoutMs'); // true
 * ```
 */
export const STORE_OPTION_NAMES: readonly string[] = Object.keys(STORE_KEYS);

/**
 * {@link RedisLimiterStoreOptions} checked, with their defaults filled in.
 *
 * @example
 * ```ts
 * const { timeoutMs, mode } = resolveStoreOptions(options);
 * ```
 */
export interface ResolvedStoreOptions {
  client: ScriptClient;
  prefix: string | undefined;
  hashTag: boolean | undefined;
  timeoutMs: number;
  mode: RedisFailureMode;
  localFraction: number;
  leaseMs: number;
  maxBatch: number;
  marginMs: number;
  initialBackoffMs: number;
  maxBackoffMs: number;
  clock: Clock;
  onEvent: ((event: RedisStoreEvent) => void) | undefined;
}

/**
 * Checks every option of `RedisLimiterStore` (at construction, not at the first request) and fills
 * defaults. Throws {@link RedisStoreConfigError} naming the option and what it expects.
 *
 * @example
 * ```ts
 * const resolved = resolveStoreOptions({ redis, timeoutMs: 75 }); // resolved.localFraction === 0.25
 * ```
 */
export function resolveStoreOptions(options: RedisLimiterStoreOptions): ResolvedStoreOptions {
  const o = optionsObject(options, 'RedisLimiterStore');
  knownKeys(o, STORE_OPTION_NAMES, 'RedisLimiterStore');
  const client = clientOption<ScriptClient>('redis', o.redis, 'evalsha');
  const hashTag = booleanOption('hashTag', o.hashTag);
  if (client.isCluster && hashTag === false) {
    throw new RedisStoreConfigError(
      '`hashTag: false` cannot be used with a Redis Cluster: the keys of one reservation would land in different slots (CROSSSLOT). Keep the default hash tag, or use several stores with different prefixes.',
      'hashTag',
    );
  }
  const backoff = nestedOptions('probeBackoffMs', o.probeBackoffMs, ['initial', 'max'], 'RedisLimiterStore');
  const initialBackoffMs = positiveMsOption('probeBackoffMs.initial', backoff.initial, 100);
  const maxBackoffMs = positiveMsOption('probeBackoffMs.max', backoff.max, 2000);
  if (initialBackoffMs > maxBackoffMs) {
    throw new RedisStoreConfigError(
      `\`probeBackoffMs.initial\` must be at most \`probeBackoffMs.max\` (${maxBackoffMs}${backoff.max === undefined ? ', the default' : ''}), got ${initialBackoffMs}.`,
      'probeBackoffMs.initial',
    );
  }
  return {
    client,
    prefix: prefixOption('prefix', o.prefix),
    hashTag,
    timeoutMs: timeoutOption('timeoutMs', o.timeoutMs, 100),
    mode: oneOfOption('onRedisError', o.onRedisError, ['fail-open', 'fail-closed'] as const, 'fail-open'),
    localFraction: numberOption(
      'localFraction',
      o.localFraction,
      0.25,
      'a number in (0, 1] (about 1 / number of replicas)',
      (n) => n > 0 && n <= 1,
    ),
    leaseMs: positiveMsOption('leaseMs', o.leaseMs, 600_000),
    maxBatch: numberOption('maxBatch', o.maxBatch, 16, 'an integer >= 1', (n) => Number.isInteger(n) && n >= 1),
    marginMs: nonNegativeMsOption('expiryMarginMs', o.expiryMarginMs, 1000),
    initialBackoffMs,
    maxBackoffMs,
    clock: clockOption('clock', o.clock) ?? systemClock,
    onEvent: functionOption<(event: RedisStoreEvent) => void>('onEvent', o.onEvent),
  };
}
