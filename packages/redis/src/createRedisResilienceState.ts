import { RedisBreakerSync } from './RedisBreakerSync';
import { duplicateForSubscribe, type RedisClient } from './redisClient';
import { RedisLimiterStore } from './RedisLimiterStore';
import { RedisPacingSync } from './RedisPacingSync';
import { RedisStoreConfigError } from './RedisStoreConfigError';
import { RedisSyncError } from './RedisSyncError';
import { functionOption, knownKeys, optionsObject, timeoutOption } from './optionChecks';
import { STORE_OPTION_NAMES } from './resolveStoreOptions';
import { subscriberOption } from './resolveSyncOptions';
import type { RedisLimiterStoreOptions, RedisResilienceState, RedisResilienceStateOptions } from './types';

/** The syncs' own options (the compiler keeps this list complete). */
const SYNC_EXTRA_KEYS = { subscriber: true, syncTimeoutMs: true, onSyncError: true, random: true } satisfies Record<
  Exclude<keyof RedisResilienceStateOptions, keyof RedisLimiterStoreOptions>,
  true
>;

/** The option names of `createRedisResilienceState`: the store's, plus the syncs' own. */
const STATE_OPTION_NAMES: readonly string[] = [...STORE_OPTION_NAMES, ...Object.keys(SYNC_EXTRA_KEYS)];

/**
 * Creates the limiter store, the breaker sync and the pacing sync on one Redis namespace, the syncs
 * sharing one subscriber connection: everything `createResilience` needs to share its state with the
 * other replicas.
 *
 * @example
 * ```ts
 * import Redis from 'ioredis';
 * import { createResilience } from '@llm-resilience/core';
 * import { createRedisResilienceState } from '@llm-resilience/redis';
 *
 * const redis = new Redis(process.env.REDIS_URL!, { maxRetriesPerRequest: 1 });
 * const shared = createRedisResilienceState({ redis, prefix: 'myapp', localFraction: 1 / 4, onSyncError: (e) => logger.warn(e.message) });
 * const engine = createResilience(policy, { ...shared }); // or store, breakerSync and pacingSync one by one
 * await shared.ready(); // optional: stored breaker/pacing states are applied before the first request
 * // on shutdown
 * await engine.shutdown(); await shared.close(); await redis.quit();
 * ```
 */
export function createRedisResilienceState(options: RedisResilienceStateOptions): RedisResilienceState {
  const o = optionsObject(options, 'createRedisResilienceState');
  knownKeys(o, STATE_OPTION_NAMES, 'createRedisResilienceState');
  const { subscriber: givenSubscriber, syncTimeoutMs, onSyncError, random, ...storeOptions } = options;
  const store = new RedisLimiterStore(storeOptions);
  // The syncs' own options, checked under their names here (the syncs would call them `timeoutMs`,
  // `onError`) and before a subscriber connection is created.
  subscriberOption('subscriber', givenSubscriber);
  timeoutOption('syncTimeoutMs', syncTimeoutMs, 1000);
  functionOption('onSyncError', onSyncError);
  functionOption('random', random);
  const { redis, prefix, hashTag, clock } = options;
  let subscriber = givenSubscriber;
  let owned: RedisClient | undefined;
  let closed = false;
  if (subscriber === undefined) {
    const duplicate = (redis as unknown as { duplicate?: () => RedisClient }).duplicate;
    if (typeof duplicate !== 'function') {
      throw new RedisStoreConfigError('`redis` cannot be duplicated for SUBSCRIBE: pass a dedicated `subscriber` connection.', 'subscriber');
    }
    subscriber = owned = duplicateForSubscribe(redis);
    if (onSyncError) {
      // One report per outage (ioredis emits an error per reconnect attempt), reset on `ready`.
      let reported = false;
      let wasReady = false;
      const report = (error: unknown): void => {
        if (reported || closed) return;
        reported = true;
        try {
          onSyncError(new RedisSyncError('subscriber', 'subscribe', error));
        } catch {
          // A throwing reporter must not break anything.
        }
      };
      owned.on('ready', () => {
        reported = false;
        wasReady = true;
      });
      owned.on('error', report);
      // A connection the server closed (`CLIENT KILL`, a pub/sub client over its output buffer limit)
      // sends no `error` event: a ready connection that closes is an outage too (not after `close()`).
      owned.on('close', () => {
        if (!wasReady) return;
        wasReady = false;
        report(new Error('The Redis subscriber connection closed'));
      });
    }
  }
  const sync = {
    redis,
    subscriber,
    ...(prefix !== undefined ? { prefix } : {}),
    ...(hashTag !== undefined ? { hashTag } : {}),
    ...(clock !== undefined ? { clock } : {}),
    ...(syncTimeoutMs !== undefined ? { timeoutMs: syncTimeoutMs } : {}),
    ...(options.expiryMarginMs !== undefined ? { expiryMarginMs: options.expiryMarginMs } : {}),
    ...(onSyncError !== undefined ? { onError: onSyncError } : {}),
    ...(random !== undefined ? { random } : {}),
  };
  const breakerSync = new RedisBreakerSync(sync);
  const pacingSync = new RedisPacingSync(sync);
  const state = { store, breakerSync, pacingSync } as RedisResilienceState;
  // `ready` and `close` are not enumerable, so `createResilience(policy, { ...shared })` passes only
  // the three parts the engine takes (it refuses options it does not know).
  Object.defineProperties(state, {
    ready: {
      value: async (): Promise<void> => {
        await Promise.all([breakerSync.ready(), pacingSync.ready()]);
      },
    },
    close: {
      value: async (): Promise<void> => {
        if (closed) return;
        closed = true;
        await Promise.all([breakerSync.close(), pacingSync.close(), store.flush()]);
        owned?.disconnect();
        store.close();
      },
    },
  });
  return state;
}
