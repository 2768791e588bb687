import type Redis from 'ioredis';
import { systemClock } from '@llm-resilience/core';
import {
  createRedisResilienceState,
  RedisBreakerSync,
  RedisLimiterStore,
  RedisPacingSync,
  RedisStateStore,
  RedisStoreConfigError,
  type RedisLimiterStoreOptions,
  type RedisSyncOptions,
} from '../src/index';
import { connect } from './redisTestUtils';

const SECRET_URL = 'redis://:hunter2@cache.internal:6379';

/** The error `run` throws, checked to be a config error naming `option`, with no secret in it. */
function configError(run: () => unknown, option: string | undefined): RedisStoreConfigError {
  let caught: unknown;
  try {
    run();
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(RedisStoreConfigError);
  const e = caught as RedisStoreConfigError;
  expect(e.code).toBe('ERR_LLMR_REDIS_CONFIG');
  expect(e.option).toBe(option);
  expect(e.message).not.toContain('hunter2');
  return e;
}

describe('constructor options (checked at construction)', () => {
  let redis: Redis;

  beforeAll(() => {
    redis = connect({ lazyConnect: true }); // nothing here talks to Redis
  });
  afterAll(() => {
    redis.disconnect();
  });

  // [option path, options to merge, expected message part]
  const storeCases: [string, Record<string, unknown>, RegExp][] = [
    ['redis', { redis: SECRET_URL }, /`redis` must be an ioredis Redis or Cluster instance, got a string/],
    ['prefix', { prefix: 42 }, /`prefix` must be a non-empty string, got 42/],
    ['prefix', { prefix: '' }, /got an empty string/],
    ['hashTag', { hashTag: 'no' }, /`hashTag` must be true or false, got a string/],
    ['timeoutMs', { timeoutMs: '100' }, /`timeoutMs` must be a positive number of milliseconds, at most 2147483647, got a string/],
    ['timeoutMs', { timeoutMs: 3e9 }, /at most 2147483647, got 3000000000/],
    ['onRedisError', { onRedisError: SECRET_URL }, /`onRedisError` must be one of 'fail-open', 'fail-closed', got a string/],
    ['localFraction', { localFraction: '0.5' }, /`localFraction` must be a number in \(0, 1\].*got a string/],
    ['localFraction', { localFraction: 1.5 }, /got 1\.5/],
    ['leaseMs', { leaseMs: Infinity }, /`leaseMs` must be a positive finite number of milliseconds, got Infinity/],
    ['maxBatch', { maxBatch: '16' }, /`maxBatch` must be an integer >= 1, got a string/],
    ['expiryMarginMs', { expiryMarginMs: -1 }, /`expiryMarginMs` must be a finite number of milliseconds >= 0, got -1/],
    ['probeBackoffMs', { probeBackoffMs: 100 }, /`probeBackoffMs` must be an object/],
    ['probeBackoffMs.initial', { probeBackoffMs: { initial: 5000, max: 100 } }, /`probeBackoffMs.initial` must be at most `probeBackoffMs.max` \(100\), got 5000/],
    ['probeBackoffMs.initial', { probeBackoffMs: { initial: 5000 } }, /\(2000, the default\), got 5000/],
    ['probeBackoffMs.max', { probeBackoffMs: { max: null } }, /`probeBackoffMs.max` must be a positive finite number of milliseconds, got null/],
    ['probeBackoffMs.maximum', { probeBackoffMs: { maximum: 100 } }, /unknown option `probeBackoffMs.maximum`/],
    ['clock', { clock: Date.now }, /`clock` must be a clock \(an object with a now\(\) method\), got a function/],
    ['onEvent', { onEvent: 'log' }, /`onEvent` must be a function, got a string/],
    ['timeout', { timeout: 5 }, /unknown option `timeout` of RedisLimiterStore \(did you mean `timeoutMs`\?\); known options: redis, prefix/],
  ];

  it.each(storeCases)('RedisLimiterStore rejects a bad `%s`', (option, bad, message) => {
    expect(configError(() => new RedisLimiterStore({ redis, ...bad } as never), option).message).toMatch(message);
  });

  it.each(storeCases)('createRedisResilienceState rejects a bad store option `%s`', (option, bad, message) => {
    const duplicate = jest.spyOn(redis, 'duplicate');
    try {
      const e = configError(() => createRedisResilienceState({ redis, ...bad } as never), option);
      expect(e.message).toMatch(option === 'timeout' ? /unknown option `timeout` of createRedisResilienceState/ : message);
      expect(duplicate).not.toHaveBeenCalled(); // no subscriber connection left behind
    } finally {
      duplicate.mockRestore();
    }
  });

  it('createRedisResilienceState names the syncs’ own options, before creating a connection', () => {
    const duplicate = jest.spyOn(redis, 'duplicate');
    try {
      expect(configError(() => createRedisResilienceState({ redis, syncTimeoutMs: -1 }), 'syncTimeoutMs').message).toMatch(
        /`syncTimeoutMs` must be a positive number of milliseconds, at most 2147483647, got -1/,
      );
      expect(configError(() => createRedisResilienceState({ redis, onSyncError: 'x' as never }), 'onSyncError').message).toMatch(
        /`onSyncError` must be a function, got a string/,
      );
      expect(configError(() => createRedisResilienceState({ redis, random: 0.5 as never }), 'random').message).toMatch(/`random` must be a function, got 0.5/);
      expect(configError(() => createRedisResilienceState({ redis, subscriber: {} as never }), 'subscriber').message).toMatch(
        /`subscriber` must be an ioredis Redis or Cluster instance, got an object/,
      );
      // `onError` is the syncs' name; this function takes `onSyncError`.
      expect(configError(() => createRedisResilienceState({ redis, onError: () => {} } as never), 'onError').message).toMatch(
        /unknown option `onError` of createRedisResilienceState/,
      );
      expect(duplicate).not.toHaveBeenCalled();
    } finally {
      duplicate.mockRestore();
    }
  });

  const syncCases: [string, Record<string, unknown>, RegExp][] = [
    ['redis', { redis: SECRET_URL }, /`redis` must be an ioredis Redis or Cluster instance, got a string/],
    ['subscriber', { subscriber: SECRET_URL }, /`subscriber` must be an ioredis Redis or Cluster instance, got a string/],
    ['prefix', { prefix: 42 }, /`prefix` must be a non-empty string, got 42/],
    ['hashTag', { hashTag: 1 }, /`hashTag` must be true or false, got 1/],
    ['timeoutMs', { timeoutMs: '100' }, /`timeoutMs` must be a positive number of milliseconds, at most 2147483647, got a string/],
    ['expiryMarginMs', { expiryMarginMs: NaN }, /got NaN/],
    ['clock', { clock: {} }, /`clock` must be a clock/],
    ['random', { random: 0.5 }, /`random` must be a function, got 0.5/],
    ['onError', { onError: true }, /`onError` must be a function, got true/],
    ['onEvent', { onEvent: () => {} }, /unknown option `onEvent` of RedisBreakerSync; known options: redis, subscriber/],
  ];

  it.each(syncCases)('RedisBreakerSync rejects a bad `%s`', (option, bad, message) => {
    expect(configError(() => new RedisBreakerSync({ redis, ...bad } as never), option).message).toMatch(message);
  });

  it.each(syncCases)('RedisPacingSync rejects a bad `%s`', (option, bad, message) => {
    const expected = option === 'onEvent' ? /unknown option `onEvent` of RedisPacingSync/ : message;
    expect(configError(() => new RedisPacingSync({ redis, ...bad } as never), option).message).toMatch(expected);
  });

  it('RedisStateStore checks its options the same way', () => {
    configError(() => new RedisStateStore({ redis: SECRET_URL as never }), 'redis');
    configError(() => new RedisStateStore({ redis, prefix: 42 as never }), 'prefix');
    configError(() => new RedisStateStore({ redis, hashTag: 'no' as never }), 'hashTag');
    configError(() => new RedisStateStore({ redis, timeoutMs: '100' as never }), 'timeoutMs');
    configError(() => new RedisStateStore({ redis, ttlMs: 5 } as never), 'ttlMs');
  });

  it('rejects options that are not an object', () => {
    expect(configError(() => new RedisLimiterStore(SECRET_URL as never), undefined).message).toMatch(
      /the options of RedisLimiterStore must be an object, got a string/,
    );
    configError(() => new RedisBreakerSync(undefined as never), undefined);
    configError(() => createRedisResilienceState(null as never), undefined);
  });

  it('accepts every option with a valid value, and undefined as the default', async () => {
    const onEvent = jest.fn();
    const store: Required<RedisLimiterStoreOptions> = {
      redis,
      prefix: 'opts-test',
      hashTag: false,
      timeoutMs: 2_147_483_647,
      onRedisError: 'fail-closed',
      localFraction: 1,
      leaseMs: 1,
      maxBatch: 1,
      expiryMarginMs: 0,
      probeBackoffMs: { initial: 50, max: 50 },
      clock: systemClock,
      onEvent,
    };
    expect(new RedisLimiterStore(store).mode).toBe('fail-closed');
    expect(new RedisLimiterStore({ redis, prefix: undefined, probeBackoffMs: {}, onEvent: undefined }).keyspace.base).toBe('{llmr}:');
    const sync: Required<RedisSyncOptions> = {
      redis,
      subscriber: redis,
      prefix: 'opts-test',
      hashTag: true,
      timeoutMs: 1,
      expiryMarginMs: 0,
      clock: systemClock,
      random: Math.random,
      onError: () => {},
    };
    await new RedisBreakerSync(sync).close();
    await new RedisPacingSync(sync).close();
    const shared = createRedisResilienceState({ ...store, subscriber: redis, syncTimeoutMs: 1, onSyncError: () => {}, random: () => 0.5 });
    await shared.close();
    expect(new RedisStateStore({ redis, prefix: 'opts-test', hashTag: true, timeoutMs: 1 })).toBeInstanceOf(RedisStateStore);
    expect(onEvent).not.toHaveBeenCalled();
  });
});
