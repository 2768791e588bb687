import { once } from 'node:events';
import { ManualClock, type BreakerState, type LimitCharge } from '@llm-resilience/core';
import IORedis from 'ioredis';
import { LeaseMark } from '../src/LeaseMark';
import { RedisBreakerSync, RedisLimiterStore, RedisStateStore, RedisUnavailableError, type RedisStoreEvent, type RedisSyncError } from '../src/index';
import { connect, ConnectionHoldingProxy, deleteKeys, Inbox, pollUntil, uniquePrefix } from './redisTestUtils';

/** Commands ioredis holds back until the connection is ready (its offline queue). */
const offlineQueued = (client: IORedis) => (client as unknown as { offlineQueue: { length: number } }).offlineQueue.length;

describe("offline queue: nothing waits in ioredis' offline queue while the client reconnects", () => {
  let proxy: ConnectionHoldingProxy & { port: number };
  let observer: IORedis;
  let app: IORedis;

  beforeEach(async () => {
    proxy = await ConnectionHoldingProxy.start();
    observer = connect();
    // The application's client, through the proxy: reconnects quickly, as ioredis does by default.
    app = new IORedis(proxy.port, '127.0.0.1', { retryStrategy: () => 20 });
    app.on('error', () => undefined);
    await Promise.all([once(app, 'ready'), once(observer, 'ready')]);
  });

  afterEach(async () => {
    app.disconnect();
    observer.disconnect();
    await proxy.stop();
  });

  /** Cuts the app's connection; its reconnect reaches the proxy, Redis does not answer yet. */
  async function reconnectHeld(): Promise<void> {
    proxy.cutAndHold();
    await pollUntil("the app's client in status 'connect'", () => app.status === 'connect', 5000, 5);
  }

  async function reconnectDone(): Promise<void> {
    const ready = once(app, 'ready');
    proxy.release();
    await ready;
  }

  it("a breaker change published during the handshake is reported and kept, not run late: once expired it is never sent", async () => {
    const prefix = uniquePrefix('offline-breaker');
    const clock = new ManualClock(Date.now());
    const errors: RedisSyncError[] = [];
    const subscriber = observer.duplicate();
    const publisher = new RedisBreakerSync({ redis: app, subscriber, prefix, timeoutMs: 100, clock, onError: (e) => errors.push(e) });
    const other = new RedisBreakerSync({ redis: observer, prefix, timeoutMs: 2000 });
    const inbox = new Inbox<BreakerState>();
    const subscription = other.subscribe(inbox.onRemote);
    try {
      await other.ready();
      await reconnectHeld();

      // A breaker opens for 300 ms while the connection is in its handshake: reported at once, kept.
      await publisher.publish('target:fast-a', { state: 'open', until: clock.now() + 300, reason: 'consecutive_failures' });
      expect(errors.map((e) => [e.operation, (e.cause as Error).message])).toEqual([['publish', 'Redis connection is connect']]);
      expect(offlineQueued(app)).toBe(0);

      // The breaker is over before the connection comes back: the kept copy is not sent either.
      await clock.advance(700);
      await reconnectDone();
      // A change published after it, on the same connection, arrives first and alone.
      await publisher.publish('target:later', { state: 'open', until: clock.now() + 60_000, reason: 'consecutive_failures' });
      await inbox.count(1);
      expect(inbox.keys()).toEqual(['target:later']);
      expect((await other.load()).map(([key]) => key)).toEqual(['target:later']);
      expect(errors).toHaveLength(1);
    } finally {
      subscription.dispose();
      await publisher.close();
      await other.close();
      subscriber.disconnect();
      await deleteKeys(observer, `{${prefix}}:*`);
    }
  });

  it('reservations, releases and shared state go to their failure mode during the handshake, and releases are sent once ready', async () => {
    const prefix = uniquePrefix('offline-store');
    const events: RedisStoreEvent[] = [];
    // A generous timeout: a command queued until the connection is ready would hold the call this long.
    const store = new RedisLimiterStore({ redis: app, prefix, timeoutMs: 2000, probeBackoffMs: { initial: 20, max: 50 }, onEvent: (e) => events.push(e) });
    const state = new RedisStateStore({ redis: app, prefix, timeoutMs: 2000 });
    const slot: LimitCharge = { key: 'model=m', kind: 'concurrency', limit: 1, windowMs: 0, amount: 1 };
    const leases = () => observer.zrangebyscore(store.keyspace.key('c', slot.key), '0', '+inf');
    try {
      const held = await store.reserve([slot]);
      const mark = held.ok ? held.marks?.[0] : undefined;
      expect(mark).toBeInstanceOf(LeaseMark); // taken on Redis
      await reconnectHeld();

      // Decided locally at once (fail-open), not held back until the connection is ready.
      expect((await store.reserve([slot])).ok).toBe(true);
      expect(events).toHaveLength(1);
      expect(events[0]).toMatchObject({ type: 'unavailable', error: { message: 'Redis connection is connect' } });
      // The call on Redis ends: its release waits for Redis in the store, not in ioredis.
      await store.adjust([{ key: slot.key, kind: 'concurrency', limit: 1, windowMs: 0, delta: -1, mark }]);
      expect(events.map((e) => e.type)).toEqual(['unavailable', 'releasesQueued']);
      await expect(state.set('flags', { on: true }, 60_000)).rejects.toBeInstanceOf(RedisUnavailableError);
      expect(offlineQueued(app)).toBe(0);

      await reconnectDone();
      await pollUntil('the release sent once Redis is back', async () => {
        await store.peek([slot]); // traffic triggers the probe
        return events.some((e) => e.type === 'releasesReplayed');
      });
      expect(events.map((e) => e.type)).toEqual(['unavailable', 'releasesQueued', 'recovered', 'releasesReplayed']);
      expect(await leases()).toEqual([]);
      expect(await observer.exists(store.keyspace.key('s', 'flags'))).toBe(0); // the refused write never ran
    } finally {
      store.close();
      await deleteKeys(observer, `{${prefix}}:*`);
    }
  });

  it("waits for the client's very first connection (start-up), bounded by timeoutMs", async () => {
    const prefix = uniquePrefix('offline-startup');
    const events: RedisStoreEvent[] = [];
    const fresh = new IORedis(proxy.port, '127.0.0.1', { retryStrategy: () => 20 });
    fresh.on('error', () => undefined);
    const store = new RedisLimiterStore({ redis: fresh, prefix, timeoutMs: 2000, onEvent: (e) => events.push(e) });
    try {
      expect(fresh.status).toBe('connecting');
      const held = await store.reserve([{ key: 'model=m', kind: 'concurrency', limit: 1, windowMs: 0, amount: 1 }]);
      expect(held.ok && held.marks?.[0]).toBeInstanceOf(LeaseMark);
      expect(events).toEqual([]);
    } finally {
      store.close();
      fresh.disconnect();
      await deleteKeys(observer, `{${prefix}}:*`);
    }
  });
});
