import Redis from 'ioredis';
import type { LimitCharge } from '@llm-resilience/core';
import { RedisLimiterStore, RedisReplyLostError, type RedisStoreEvent } from '../src/index';
import { connect, deleteKeys, pollUntil, ReplyDroppingProxy, uniquePrefix } from './redisTestUtils';

/*
 * A reservation whose reply is lost with the connection: Redis ran it, and ioredis (with its default
 * autoResendUnfulfilledCommands) runs it again on the new connection. Neither run's slot may stay
 * taken on Redis until its lease expires (10 minutes by default).
 */

const TIMEOUT_MS = 200;

describe('RedisLimiterStore: a reply lost with the connection (real Redis behind a proxy that drops it)', () => {
  let proxy: ReplyDroppingProxy & { port: number };
  let admin: Redis;
  beforeAll(async () => {
    proxy = await ReplyDroppingProxy.start();
    admin = connect();
  });
  afterAll(async () => {
    await proxy.stop();
    await admin.quit();
  });

  it.each([
    ['within its timeout (the re-sent run answers in time)', 20],
    ['after its timeout', 2 * TIMEOUT_MS],
  ])('leaves no slot taken on Redis when ioredis reconnects %s', async (_when, reconnectMs) => {
    const prefix = uniquePrefix('lost-reply');
    const events: RedisStoreEvent[] = [];
    const viaProxy = new Redis(proxy.port, '127.0.0.1', { retryStrategy: () => reconnectMs, maxRetriesPerRequest: 3 });
    const opts = { prefix, timeoutMs: TIMEOUT_MS, probeBackoffMs: { initial: 20, max: 50 } };
    const store = new RedisLimiterStore({ ...opts, redis: viaProxy, localFraction: 1, onEvent: (e) => events.push(e) });
    const other = new RedisLimiterStore({ ...opts, redis: admin });
    const slot: LimitCharge = { key: 'tenant=acme', kind: 'concurrency', limit: 2, windowMs: 0, amount: 1 };
    const leases = other.keyspace.key('c', slot.key);
    try {
      await store.load();
      const droppedBefore = proxy.dropped;
      proxy.dropNextReply();
      const decided = await store.reserve([slot]);
      expect(proxy.dropped).toBe(droppedBefore + 1);
      // Answered without Redis (the fail-open default, decided locally), whichever run came back.
      if (!decided.ok) throw new Error('the local fallback refused the reservation');
      expect(events[0]).toMatchObject({ type: 'unavailable' });
      if (reconnectMs < TIMEOUT_MS) expect((events[0] as { error: unknown }).error).toBeInstanceOf(RedisReplyLostError);

      // The re-sent run's reply arrives and is undone; the first run's lease is removed once the store is back.
      await pollUntil('the re-sent run to be undone', () => events.some((e) => e.type === 'lateReserveUndone'));
      await pollUntil('the store to be back on Redis', async () => {
        if (store.health === 'up') return true;
        await store.peek([slot]);
        return false;
      });
      await store.flush();
      await store.adjust([{ ...slot, delta: -1, mark: decided.marks?.[0] }]); // the caller's own release
      expect(await admin.zcard(leases)).toBe(0);
      expect((await other.peek([slot]))[0]!.remaining).toBe(2);
      expect(events.filter((e) => e.type === 'adjustDropped')).toEqual([]);
    } finally {
      store.close();
      viaProxy.disconnect();
      await deleteKeys(admin, other.keyspace.pattern());
    }
  }, 10_000);
});
