import type { LimitAdjustment, LimitCharge } from '@llm-resilience/core';
import type Redis from 'ioredis';
import { RedisKeyError, RedisLimiterStore, type RedisStoreEvent } from '../src/index';
import { connect, deleteKeys, uniquePrefix } from './redisTestUtils';

/**
 * A key holding what the store does not write (written by someone else: another type, or a value that
 * is not a finite number) is refused for its own call or adjustment only (RedisKeyError): nothing else
 * of the script run is affected, nothing is charged on it, and it is left as it was.
 */
describe('keys the store does not write', () => {
  const DAY = 86_400_000;
  const HOUR = 3_600_000;
  let redis: Redis;
  let prefix: string;
  let store: RedisLimiterStore;
  const events: RedisStoreEvent[] = [];

  beforeAll(() => {
    redis = connect();
  });
  beforeEach(async () => {
    prefix = uniquePrefix('foreign');
    events.length = 0;
    store = new RedisLimiterStore({ redis, prefix, timeoutMs: 2000, onEvent: (e) => events.push(e) });
    await store.load();
  });
  afterEach(async () => {
    store.close();
    await deleteKeys(redis, store.keyspace.pattern());
  });
  afterAll(async () => {
    await redis.quit();
  });

  const spend = (key: string, amount: number, limit = 1): LimitCharge => ({ key, kind: 'concurrency', limit, windowMs: DAY, amount });
  const rate = (key: string, amount: number, limit = 10): LimitCharge => ({ key, kind: 'rate', limit, windowMs: HOUR, amount });
  const keyErrors = () => events.filter((e) => e.type === 'error' && (e as { error: unknown }).error instanceof RedisKeyError);
  const errorOf = (e: RedisStoreEvent) => (e as { error: RedisKeyError }).error;

  it.each(['nan', '-nan', 'inf', '-inf'])('refuses a reservation whose budget key holds %j (not a count the store writes), leaving it as it was', async (foreign) => {
    const key = store.keyspace.key('w', 'budget|w=1');
    await redis.set(key, foreign);
    // $5 against a $1 budget: can never pass. Lua's tonumber() takes 'nan'/'inf' for numbers.
    const r = await store.reserve([spend('budget|w=1', 5)]);
    expect(keyErrors()).toHaveLength(1); // refused on Redis as a foreign key, decided by the failure mode
    expect(errorOf(keyErrors()[0]!).reply).toBe('ERR value is not a number');
    expect(r).toMatchObject({ ok: false, retryAfterMs: Infinity }); // fail-open local: above the real limit
    expect(await redis.get(key)).toBe(foreign); // not overwritten
  });

  it('refuses a reservation whose rate key holds "inf", instead of answering a nonsense wait', async () => {
    const key = store.keyspace.key('r', 'tpm');
    await redis.set(key, 'inf');
    const r = await store.reserve([rate('tpm', 1)]);
    expect(keyErrors()).toHaveLength(1);
    // Whatever the verdict, a wait is never negative (a negative wait makes callers retry at once, in a loop).
    if (!r.ok) expect(r.retryAfterMs).toBeGreaterThanOrEqual(0);
    expect(await redis.get(key)).toBe('inf');
  });

  it.each([
    ['rate', 'a sorted set (the layout of a concurrency key)', 'r', (k: string) => redis.zadd(k, 1, 'm')],
    ['rate', 'a hash', 'r', (k: string) => redis.hset(k, 'f', 'v')],
    ['budget', 'a sorted set (the layout of a concurrency key)', 'w', (k: string) => redis.zadd(k, 1, 'm')],
    ['budget', 'a list', 'w', (k: string) => redis.rpush(k, 'x')],
  ] as const)('refuses a reservation whose %s key holds %s (WRONGTYPE), instead of taking it for a missing key and overwriting it', async (label, _what, kind, write) => {
    const charge = label === 'rate' ? rate('other-type', 1) : spend('other-type|w=1', 0.1);
    const key = store.keyspace.key(kind, charge.key);
    await write(key);
    const type = await redis.type(key);
    const r = await store.reserve([charge]);
    expect(r.ok).toBe(true); // fail-open: decided by the local fallback, not on Redis
    expect(keyErrors()).toHaveLength(1);
    expect(errorOf(keyErrors()[0]!)).toMatchObject({ operation: 'reserve', index: 0, code: 'ERR_LLMR_REDIS_KEY' });
    expect(errorOf(keyErrors()[0]!).reply).toMatch(/^WRONGTYPE/);
    expect(await redis.type(key)).toBe(type); // left as it was, not overwritten with a number
    expect(store.health).toBe('up');
  });

  it('refuses only the reservation whose rate key is of another type; the others of its script run are charged', async () => {
    await redis.zadd(store.keyspace.key('r', 'tenant=b'), 1, 'm');
    // Three reservations in the same tick: one script run. B's charges a fine key before the foreign one.
    const [a, b, c] = await Promise.all([
      store.reserve([rate('tenant=a', 2)]),
      store.reserve([rate('b-fine', 3), rate('tenant=b', 1)]),
      store.reserve([spend('tenant=c|w=1', 0.25)]),
    ]);
    expect(a.ok && c.ok).toBe(true);
    expect(b.ok).toBe(true); // decided locally (fail-open)
    expect(keyErrors().map((e) => errorOf(e).index)).toEqual([1]);
    // A and C were charged on Redis; nothing of B was (not even its fine key).
    expect((await store.peek([rate('tenant=a', 1), rate('b-fine', 1)])).map((st) => st.remaining)).toEqual([8, 10]);
    expect(Number(await redis.get(store.keyspace.key('w', 'tenant=c|w=1')))).toBe(0.25);
    expect(await redis.type(store.keyspace.key('r', 'tenant=b'))).toBe('zset');
  });

  it('still takes a missing rate or budget key for an empty one (the EXISTS check finds nothing)', async () => {
    const r = await store.reserve([rate('new', 4), spend('new|w=1', 0.5)]);
    expect(r.ok).toBe(true);
    expect(events).toEqual([]);
    expect(await redis.exists(store.keyspace.key('r', 'new'), store.keyspace.key('w', 'new|w=1'))).toBe(2);
  });

  it('does not report a budget or rate key holding something else as nothing spent (peek/usage agree with reserve)', async () => {
    const key = store.keyspace.key('w', 'budget|w=2');
    await redis.set(key, 'x');
    const reserved = await store.reserve([spend('budget|w=2', 0.1)]);
    expect(reserved.ok).toBe(true); // fail-open: decided locally
    expect(keyErrors()).toHaveLength(1); // refused on Redis: a foreign key
    events.length = 0;
    // usage() reads the same key: it should not say "$0 spent, $1 left" from Redis.
    await store.usage([spend('budget|w=2', 0)]);
    expect(events.filter((e) => e.type === 'error' && e.operation === 'peek')).toHaveLength(1);
    expect(errorOf(events[0]!)).toMatchObject({ operation: 'peek', index: 0, reply: 'ERR value is not a number' });
    events.length = 0;
    // A rate key holding 'inf' or another type: refused the same way, not a raw Lua error.
    await redis.set(store.keyspace.key('r', 'inf'), 'inf');
    await redis.zadd(store.keyspace.key('r', 'zset'), 1, 'm');
    await store.peek([rate('fine', 1), rate('inf', 1)]);
    await store.peek([rate('zset', 1)]);
    expect(events.map((e) => [e.type, errorOf(e) instanceof RedisKeyError && errorOf(e).index])).toEqual([
      ['error', 1],
      ['error', 0],
    ]);
    expect(errorOf(events[1]!).reply).toMatch(/^WRONGTYPE/);
    expect(store.health).toBe('up');
  });

  it("applies another caller's refund of the same adjust batch when one caller's key was written by someone else", async () => {
    // A settles a reservation made on Redis (refund of 4 of its 6 tokens); B, in the same tick, an extra
    // charge on a rate key that holds garbage (a deferred charge: never reserved, so never refused).
    const a = await store.reserve([rate('tenant=a', 6)]);
    expect(a.ok).toBe(true);
    if (!a.ok) return;
    await redis.set(store.keyspace.key('r', 'tenant=b'), 'garbage');
    const b: LimitAdjustment = { ...rate('tenant=b', 0), delta: 3 };
    const refundA: LimitAdjustment = { ...rate('tenant=a', 0), delta: -4, mark: a.marks?.[0] };
    await Promise.all([store.adjust([b]), store.adjust([refundA])]);
    // A's refund is unrelated to B's broken key: it is applied on Redis (10 - 2 held = 8 left).
    expect((await store.peek([rate('tenant=a', 1)]))[0]!.remaining).toBe(8);
    expect(events.filter((e) => e.type === 'adjustDropped')).toEqual([]);
    // B's adjustment alone is reported, skipped (its key left as it was).
    expect(events).toEqual([{ type: 'error', operation: 'adjust', error: expect.any(RedisKeyError) }]);
    expect(errorOf(events[0]!)).toMatchObject({ operation: 'adjust', index: 0, reply: 'ERR value is not a number' });
    expect(await redis.get(store.keyspace.key('r', 'tenant=b'))).toBe('garbage');
  });

  it("applies the other adjustments of a call (later ones too) when one of them has a foreign key, reporting its index", async () => {
    await redis.set(store.keyspace.key('w', 'budget|w=3'), 'inf');
    await store.adjust([
      { ...rate('before', 0), delta: 2 },
      { ...spend('budget|w=3', 0), delta: 0.5 },
      { ...rate('after', 0), delta: 3 },
    ]);
    // 2 and 3 tokens charged (of 10 per hour: none refilled within the test)
    expect((await store.peek([rate('before', 1), rate('after', 1)])).map((st) => st.remaining)).toEqual([8, 7]);
    expect(events).toEqual([{ type: 'error', operation: 'adjust', error: expect.any(RedisKeyError) }]);
    expect(errorOf(events[0]!)).toMatchObject({ index: 1, code: 'ERR_LLMR_REDIS_KEY' });
    expect(await redis.get(store.keyspace.key('w', 'budget|w=3'))).toBe('inf');
  });

  it('frees a slot whose release shares a script run with a release on a key someone else overwrote', async () => {
    const slot = (key: string): LimitCharge => ({ key, kind: 'concurrency', limit: 2, windowMs: 0, amount: 1 });
    const a = await store.reserve([slot('tenant=a')]);
    const b = await store.reserve([slot('tenant=b')]);
    expect(a.ok && b.ok).toBe(true);
    if (!a.ok || !b.ok) return;
    // Something else overwrites tenant a's lease set while its call runs (WRONGTYPE for the scripts).
    await redis.set(store.keyspace.key('c', 'tenant=a'), 'garbage');
    // One call ends holding both slots (or two calls in one tick: one script run).
    await store.adjust([
      { ...slot('tenant=a'), delta: -1, mark: a.marks?.[0] },
      { ...slot('tenant=b'), delta: -1, mark: b.marks?.[0] },
    ]);
    // Tenant b's key is fine: its slot is free at once, not held until its lease expires (leaseMs, 10 min).
    expect(await redis.zrangebyscore(store.keyspace.key('c', 'tenant=b'), '0', '+inf')).toEqual([]);
    // Tenant a's release is reported, not kept for a replay (its key holds no lease of the store).
    expect(events.map((e) => e.type)).toEqual(['error']);
    expect(errorOf(events[0]!).reply).toMatch(/^WRONGTYPE/);
    await store.flush();
    expect(events.map((e) => e.type)).toEqual(['error']);
    expect(await redis.get(store.keyspace.key('c', 'tenant=a'))).toBe('garbage');
  });
});
