import type Redis from 'ioredis';
import { RedisStateStore, RedisUnavailableError } from '../src/index';
import { connect, deleteKeys, uniquePrefix } from './redisTestUtils';

describe('RedisStateStore (real Redis)', () => {
  let redis: Redis;
  const prefix = uniquePrefix('state');

  beforeAll(() => {
    redis = connect();
  });
  afterAll(async () => {
    await deleteKeys(redis, `{${prefix}}:*`);
    await redis.quit();
  });

  it('stores JSON with a TTL under an escaped, hash-tagged key', async () => {
    const state = new RedisStateStore({ redis, prefix, timeoutMs: 2000 });
    await state.set('breaker|target=a}b', { state: 'open', until: 123 }, 5_000);
    expect(await state.get('breaker|target=a}b')).toEqual({ state: 'open', until: 123 });
    const ttl = await redis.pttl(`{${prefix}}:s:breaker|target=a%7Db`);
    expect(ttl).toBeGreaterThan(4_000);
    expect(ttl).toBeLessThanOrEqual(5_000);
    await state.delete('breaker|target=a}b');
    expect(await state.get('breaker|target=a}b')).toBeUndefined();
    await expect(state.set('k', 1, 0)).rejects.toThrow(RangeError);
  });

  it('rejects with RedisUnavailableError when the connection is gone', async () => {
    const closed = connect();
    await closed.quit();
    const state = new RedisStateStore({ redis: closed, prefix });
    await expect(state.get('k')).rejects.toBeInstanceOf(RedisUnavailableError);
    await expect(state.set('k', 1, 1000)).rejects.toMatchObject({ code: 'ERR_LLMR_REDIS_UNAVAILABLE' });
  });
});
