import { once } from 'node:events';
import { ManualClock, type RateLimitSnapshot } from '@llm-resilience/core';
import type Redis from 'ioredis';
import { RedisPacingSync, type RedisSyncError } from '../src/index';
import { connect, deleteKeys, Inbox, pollUntil, redisNow, uniquePrefix } from './redisTestUtils';

describe('RedisPacingSync (real Redis)', () => {
  let redis: Redis;
  let prefix: string;
  const syncs: RedisPacingSync[] = [];
  const errors: RedisSyncError[] = [];

  function processSync(clock: ManualClock, client: Redis = redis): RedisPacingSync {
    const sync = new RedisPacingSync({ redis: client, prefix, clock, timeoutMs: 2000, onError: (e) => errors.push(e) });
    syncs.push(sync);
    return sync;
  }

  beforeAll(() => {
    redis = connect();
  });
  beforeEach(() => {
    prefix = uniquePrefix('pacing');
    errors.length = 0;
  });
  afterEach(async () => {
    await Promise.all(syncs.splice(0).map((s) => s.close()));
    await deleteKeys(redis, `{${prefix}}:*`);
    expect(errors).toEqual([]);
  });
  afterAll(async () => {
    await redis.quit();
  });

  it('announces snapshots with reset times in the receiver clock, and keeps them until the latest reset', async () => {
    const clockA = new ManualClock(await redisNow(redis));
    const clockB = new ManualClock(clockA.now() - 90_000); // B's clock is 90 s behind
    const a = processSync(clockA);
    const b = processSync(clockB);
    const atB = new Inbox<RateLimitSnapshot>();
    b.subscribe(atB.onRemote);
    await b.ready();

    const snapshot: RateLimitSnapshot = {
      limitRequests: 500,
      remainingRequests: 3,
      requestsResetAt: clockA.now() + 2_000,
      limitTokens: 90_000,
      remainingTokens: 1_200,
      tokensResetAt: clockA.now() + 20_000,
    };
    await a.publish('fast-a', snapshot);
    await atB.count(1);
    expect(atB.received).toEqual([
      [
        'fast-a',
        {
          limitRequests: 500,
          remainingRequests: 3,
          requestsResetAt: clockB.now() + 2_000,
          limitTokens: 90_000,
          remainingTokens: 1_200,
          tokensResetAt: clockB.now() + 20_000,
        },
      ],
    ]);
    // Stored until the latest reset (+ 1 s margin): a process starting later still paces.
    const ttl = await redis.pttl(a.hashKey);
    expect(ttl).toBeGreaterThan(19_000);
    expect(ttl).toBeLessThanOrEqual(21_000);
    const late = processSync(new ManualClock(clockA.now()));
    const [[target, loaded]] = (await late.load()) as [[string, RateLimitSnapshot]];
    expect(target).toBe('fast-a');
    expect(loaded.remainingTokens).toBe(1_200);
    expect(loaded.tokensResetAt).toBeGreaterThan(clockA.now() + 19_000);
    expect(loaded.tokensResetAt).toBeLessThanOrEqual(clockA.now() + 20_000);
  });

  it('carries when a snapshot was observed like its reset times, so receivers count the refill since', async () => {
    const clockA = new ManualClock(await redisNow(redis));
    const clockB = new ManualClock(clockA.now() - 90_000); // B's clock is 90 s behind
    const a = processSync(clockA);
    const b = processSync(clockB);
    const atB = new Inbox<RateLimitSnapshot>();
    b.subscribe(atB.onRemote);
    await b.ready();

    // Observed 40 s before A publishes it.
    await a.publish('fast-a', { limitTokens: 60_000, remainingTokens: 0, tokensResetAt: clockA.now() + 20_000, observedAt: clockA.now() - 40_000 });
    await atB.count(1);
    expect(atB.received).toEqual([
      ['fast-a', { limitTokens: 60_000, remainingTokens: 0, tokensResetAt: clockB.now() + 20_000, observedAt: clockB.now() - 40_000 }],
    ]);
    // The stored copy too, aged by the time it spent in Redis.
    const late = processSync(new ManualClock(clockA.now()));
    const [[, loaded]] = (await late.load()) as [[string, RateLimitSnapshot]];
    expect(loaded.tokensResetAt! - loaded.observedAt!).toBe(60_000);
    expect(loaded.observedAt).toBeLessThanOrEqual(clockA.now() - 40_000);
    expect(loaded.observedAt).toBeGreaterThan(clockA.now() - 41_000);
  });

  it('replaces the stored snapshot with the latest one; one without a future reset removes it', async () => {
    const clock = new ManualClock(await redisNow(redis));
    const a = processSync(clock);
    const b = processSync(clock);
    await a.publish('fast-a', { remainingRequests: 1, requestsResetAt: clock.now() + 30_000 });
    await a.publish('fast-b', { remainingRequests: 9, requestsResetAt: clock.now() + 5_000 });
    await a.publish('fast-a', { remainingRequests: 50, requestsResetAt: clock.now() + 10_000 });
    expect(new Map(await b.load()).get('fast-a')).toMatchObject({ remainingRequests: 50 });

    const atB = new Inbox<RateLimitSnapshot>();
    b.subscribe(atB.onRemote);
    await b.ready();
    expect(atB.keys().sort()).toEqual(['fast-a', 'fast-b']);
    await a.publish('fast-a', { remainingRequests: 7 }); // no reset time: nothing to keep, still announced
    await atB.count(3);
    expect(atB.received[2]).toEqual(['fast-a', { remainingRequests: 7 }]);
    expect(await redis.hkeys(a.hashKey)).toEqual(['fast-b']);
    expect(await redis.pttl(a.hashKey)).toBeLessThanOrEqual(6_000);
  });

  it('reloads a snapshot missed while its subscriber was down even when it reads like an earlier one', async () => {
    const clockA = new ManualClock(await redisNow(redis));
    const clockB = new ManualClock(clockA.now());
    const a = processSync(clockA);
    const subscriber = connect({ autoResubscribe: false });
    try {
      await once(subscriber, 'ready');
      const b = new RedisPacingSync({ redis, subscriber, prefix, clock: clockB, timeoutMs: 2000, onError: (e) => errors.push(e) });
      syncs.push(b);
      const inbox = new Inbox<RateLimitSnapshot>();
      b.subscribe(inbox.onRemote);
      await b.ready();
      // "0 requests left, full again in 60 s" (a 429's headers), as the engine publishes it.
      const exhausted = (now: number): RateLimitSnapshot => ({ limitRequests: 500, remainingRequests: 0, requestsResetAt: now + 60_000, observedAt: now });
      await a.publish('fast-a', exhausted(clockA.now()));
      await inbox.count(1);

      // Five minutes later B's subscriber drops, and meanwhile A hits the same exhausted quota again:
      // the same text on the wire (times are relative), a new publication.
      await clockA.advance(300_000);
      await clockB.advance(300_000);
      subscriber.disconnect();
      await once(subscriber, 'end');
      await a.publish('fast-a', exhausted(clockA.now()));

      await subscriber.connect();
      await inbox.count(2);
      // B learns the quota is exhausted now (the first snapshot's reset passed minutes ago).
      expect(inbox.received[1]![1].requestsResetAt).toBeGreaterThan(clockB.now());

      // A reconnect with nothing new delivers nothing again.
      subscriber.disconnect();
      await once(subscriber, 'end');
      await subscriber.connect();
      await pollUntil('the resubscribe', async () => Number(((await redis.pubsub('NUMSUB', b.channelName)) as [string, number])[1]) > 0);
      await b.ready();
      expect(inbox.received).toHaveLength(2);
    } finally {
      subscriber.disconnect();
    }
  });

  it('does not send a snapshot again that Redis did not take: another process may have written a fresher one meanwhile', async () => {
    const clock = new ManualClock(await redisNow(redis));
    const main = connect();
    try {
      await once(main, 'ready');
      const readyListeners = main.listenerCount('ready');
      const a = processSync(clock, main);
      const b = processSync(clock);
      main.disconnect();
      await once(main, 'end');
      await a.publish('fast-a', { remainingTokens: 5, tokensResetAt: clock.now() + 60_000 }); // A's stale reading
      expect(errors.map((e) => e.operation)).toEqual(['publish']);
      errors.length = 0;
      expect(main.listenerCount('ready')).toBe(readyListeners); // nothing kept, nothing waits for Redis
      await b.publish('fast-a', { remainingTokens: 9_000, tokensResetAt: clock.now() + 60_000 });
      await main.connect();
      await a.publish('fast-b', { remainingTokens: 1, tokensResetAt: clock.now() + 60_000 }); // A writes again
      expect(new Map(await b.load()).get('fast-a')).toMatchObject({ remainingTokens: 9_000 });
    } finally {
      main.disconnect();
    }
  });
});
