/**
 * `@llm-resilience/redis`: the state of `@llm-resilience/core` shared by every process on Redis
 * (ioredis `Redis` or `Cluster`) — limits and spend budgets (`RedisLimiterStore`), open circuit
 * breakers (`RedisBreakerSync`), providers' remaining quota (`RedisPacingSync`), or all three at once
 * (`createRedisResilienceState`). Every export carries an `@example` in its own file.
 *
 * @example
 * ```ts
 * const shared = createRedisResilienceState({ redis: new Redis(process.env.REDIS_URL!) });
 * const engine = createResilience(policy, { store: shared.store, breakerSync: shared.breakerSync, pacingSync: shared.pacingSync });
 * ```
 */
export { createRedisResilienceState } from './createRedisResilienceState';
export { RedisLimiterStore } from './RedisLimiterStore';
export { RedisBreakerSync } from './RedisBreakerSync';
export { RedisPacingSync } from './RedisPacingSync';
export type {
  RedisLimiterStoreOptions,
  RedisFailureMode,
  RedisStoreEvent,
  RedisSyncOptions,
  RedisResilienceStateOptions,
  RedisResilienceState,
} from './types';
export { RedisStateStore } from './RedisStateStore';
export type { RedisStateStoreOptions } from './RedisStateStore';
export { RedisUnavailableError } from './RedisUnavailableError';
export { RedisStoreConfigError } from './RedisStoreConfigError';
export { RedisSyncError } from './RedisSyncError';
export type { RedisSyncOperation } from './RedisSyncError';
export { RedisTimeoutError } from './withTimeout';
export { RedisReplyLostError } from './RedisReplyLostError';
export { RedisKeyError } from './RedisKeyError';
export { RedisKeyspace, escapeStoreKey, MAX_STORE_KEY_LENGTH } from './RedisKeyspace';
export type { RedisKeyspaceOptions, RedisKeyKind } from './RedisKeyspace';
export type { RedisHealthState } from './RedisHealth';
export type { RedisClient } from './redisClient';
