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

  /*
   * A settle (adjust) whose reply is lost the same way: Redis ran it, and ioredis runs it again on the
   * new connection. Applying it twice would bill an extra charge twice or give a refund back twice.
   */
  describe('an adjustment whose reply is lost is applied once', () => {
    async function withStore(label: string, body: (store: RedisLimiterStore, other: RedisLimiterStore, events: RedisStoreEvent[]) => Promise<void>) {
      const prefix = uniquePrefix(label);
      const events: RedisStoreEvent[] = [];
      const viaProxy = new Redis(proxy.port, '127.0.0.1', { retryStrategy: () => 20, maxRetriesPerRequest: 3 });
      viaProxy.on('error', () => undefined);
      const store = new RedisLimiterStore({ redis: viaProxy, prefix, timeoutMs: 500, onEvent: (e) => events.push(e) });
      const other = new RedisLimiterStore({ redis: admin, prefix });
      try {
        await store.load();
        await body(store, other, events);
      } finally {
        store.close();
        viaProxy.disconnect();
        await deleteKeys(admin, other.keyspace.pattern());
      }
    }

    it('bills a budget extra charge once when ioredis sends the adjustment again after reconnecting', async () => {
      await withStore('lost-adjust-w', async (store, other, events) => {
        const budget: LimitCharge = { key: 'budget|tenant=acme|w=1', kind: 'concurrency', limit: 50, windowMs: 86_400_000, amount: 1 };
        expect((await store.reserve([budget])).ok).toBe(true); // a $1 estimate
        const droppedBefore = proxy.dropped;
        proxy.dropNextReply();
        await store.adjust([{ ...budget, delta: 3 }]); // settle: the call cost $3 more than estimated
        expect(proxy.dropped).toBe(droppedBefore + 1);
        expect((await other.usage([budget]))[0]).toBe(4); // not 7
        expect(events).toEqual([]); // answered by Redis (the copy's reply), not dropped
      });
    }, 10_000);

    it('gives a rate refund back once when ioredis sends the adjustment again after reconnecting', async () => {
      await withStore('lost-adjust-r', async (store, other, events) => {
        const tpm: LimitCharge = { key: 'tpm|team=t1', kind: 'rate', limit: 100, windowMs: 3_600_000, amount: 50 };
        const a = await store.reserve([tpm]);
        expect((await store.reserve([tpm])).ok).toBe(true); // the bucket is full: 100 of 100
        if (!a.ok) throw new Error('the first reservation was refused');
        const droppedBefore = proxy.dropped;
        proxy.dropNextReply();
        await store.adjust([{ ...tpm, delta: -40, mark: a.marks?.[0] }]); // A used 10 of its 50
        expect(proxy.dropped).toBe(droppedBefore + 1);
        expect((await other.peek([tpm]))[0]!.remaining).toBe(40); // not 80
        expect(events).toEqual([]);
      });
    }, 10_000);
  });
});
