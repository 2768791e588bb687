import { once } from 'node:events';
import Redis from 'ioredis';
import { createResilience, definePolicy, ManualClock, type BreakerState, type LimitCharge, type ReserveResult } from '@llm-resilience/core';
import { createRedisResilienceState, RedisBreakerSync, RedisLimiterStore, RedisUnavailableError, type RedisStoreEvent, type RedisSyncError } from '../src/index';
import { Inbox, pollUntil, RedisServerProcess, sparePort, uniquePrefix } from './redisTestUtils';

/** Generous enough that a loaded CI machine does not time out while Redis is healthy. */
const TIMEOUT_MS = 200;
/** Event-loop and scheduling allowance on top of the store's timeout. */
const LATENCY_BOUND_MS = TIMEOUT_MS + 300;

interface Outcome {
  result?: ReserveResult;
  error?: unknown;
  ms: number;
  health: 'up' | 'down';
}

/** Resolves when `store` reports an event of `type` (stores notify through their onEvent option). */
function eventWaiter(events: RedisStoreEvent[]) {
  return (type: RedisStoreEvent['type'], from = 0) => pollUntil(`a '${type}' event`, () => events.slice(from).some((e) => e.type === type), 5000, 5);
}

/** Runs `step` on `store` until it is back on Redis (each step may be what triggers the probe). */
function untilUp(store: RedisLimiterStore, step: () => Promise<unknown>): Promise<void> {
  return pollUntil('the store to be back on Redis', async () => {
    if (store.health === 'up') return true;
    await step();
    return false;
  });
}

async function timed(store: RedisLimiterStore, charges: LimitCharge[]): Promise<Outcome> {
  const start = performance.now();
  try {
    const result = await store.reserve(charges);
    return { result, ms: performance.now() - start, health: store.health };
  } catch (error) {
    return { error, ms: performance.now() - start, health: store.health };
  }
}

describe('fault: Redis stops mid-run and comes back', () => {
  let server: RedisServerProcess;
  let redis: Redis;
  let admin: Redis;

  beforeAll(async () => {
    server = new RedisServerProcess(await sparePort());
    await server.start();
    // The application's own client settings: reconnect quickly, do not queue a request forever.
    redis = new Redis(server.port, '127.0.0.1', { retryStrategy: () => 50, maxRetriesPerRequest: 1 });
    redis.on('error', () => {}); // the app's logger would go here; ioredis itself never crashes
    admin = new Redis(server.port, '127.0.0.1', { retryStrategy: () => 50, maxRetriesPerRequest: 1 });
    admin.on('error', () => {});
    await Promise.all([once(redis, 'ready'), once(admin, 'ready')]);
  });

  afterAll(async () => {
    redis.disconnect();
    admin.disconnect();
    await server.dispose();
  });

  it('fail-open keeps admitting on a local fraction, fail-closed refuses, both return to Redis', async () => {
    const openEvents: RedisStoreEvent[] = [];
    const closedEvents: RedisStoreEvent[] = [];
    const backoff = { initial: 50, max: 200 };
    const open = new RedisLimiterStore({ redis, prefix: uniquePrefix('open'), timeoutMs: TIMEOUT_MS, localFraction: 0.25, probeBackoffMs: backoff, onEvent: (e) => openEvents.push(e) });
    const closed = new RedisLimiterStore({ redis, prefix: uniquePrefix('closed'), timeoutMs: TIMEOUT_MS, onRedisError: 'fail-closed', probeBackoffMs: backoff, onEvent: (e) => closedEvents.push(e) });
    const waitOpen = eventWaiter(openEvents);
    const waitClosed = eventWaiter(closedEvents);
    // 40 per hour: Redis admits 40, the local fallback 25% of it (10); nothing refills during the test.
    const charge: LimitCharge[] = [{ key: 'tenant=acme', kind: 'rate', limit: 40, windowMs: 3_600_000, amount: 1 }];

    // Up: decisions on Redis.
    for (let i = 0; i < 3; i++) expect((await open.reserve(charge)).ok).toBe(true);
    expect((await closed.reserve(charge)).ok).toBe(true);
    expect(await redis.exists(open.keyspace.key('r', 'tenant=acme'))).toBe(1);

    // Traffic keeps flowing while Redis is killed mid-run.
    const outcomes: Outcome[] = [];
    let running = true;
    const traffic = (async () => {
      while (running) {
        outcomes.push(await timed(open, charge));
        await new Promise((r) => setTimeout(r, 2));
      }
    })();
    try {
      await new Promise((r) => setTimeout(r, 20));
      await server.stop();
      await waitOpen('unavailable');
      const downFrom = outcomes.length;
      await pollUntil('30 decisions while down', () => outcomes.length >= downFrom + 30, 5000, 5);

      const closedOutcome = await timed(closed, charge);
      expect(closedOutcome.error).toBeInstanceOf(RedisUnavailableError);
      expect(closedOutcome.error).toMatchObject({ code: 'ERR_LLMR_REDIS_UNAVAILABLE', kind: 'unknown' });
      expect(closedOutcome.ms).toBeLessThan(LATENCY_BOUND_MS);
      expect(closed.health).toBe('down');
    } finally {
      running = false;
      await traffic;
    }
    // Nothing hung, nothing threw in fail-open mode.
    expect(outcomes.filter((o) => o.error !== undefined)).toEqual([]);
    expect(Math.max(...outcomes.map((o) => o.ms))).toBeLessThan(LATENCY_BOUND_MS);
    // While down, exactly the local fraction (10 of 40) was admitted, then denied with a wait.
    const local = outcomes.filter((o) => o.health === 'down');
    expect(local.length).toBeGreaterThanOrEqual(30);
    expect(local.filter((o) => o.result!.ok)).toHaveLength(10);
    for (const o of local.filter((x) => !x.result!.ok)) expect(o.result).toMatchObject({ ok: false, retryAfterMs: expect.any(Number) });
    expect(open.health).toBe('down');

    // Redis comes back (empty: no persistence). Both stores return to it by themselves.
    const ready = new Promise((resolve) => redis.once('ready', resolve)); // not events.once: it rejects on 'error'
    await server.start();
    await ready;
    const upFrom = openEvents.length;
    await untilUp(open, () => open.reserve(charge));
    await waitOpen('recovered', upFrom);
    await untilUp(closed, () => expect(closed.reserve(charge)).rejects.toBeInstanceOf(RedisUnavailableError));
    await waitClosed('recovered');
    expect(await redis.exists(open.keyspace.key('r', 'tenant=acme'))).toBe(0);
    expect((await open.reserve(charge)).ok).toBe(true);
    expect((await closed.reserve(charge)).ok).toBe(true);
    expect(await redis.exists(open.keyspace.key('r', 'tenant=acme'), closed.keyspace.key('r', 'tenant=acme'))).toBe(2);
    expect(openEvents.map((e) => e.type)).toEqual(['unavailable', 'recovered']);
    expect(closedEvents.map((e) => e.type)).toEqual(['unavailable', 'recovered']);
  }, 15_000);

  it('treats a Redis slower than timeoutMs as unavailable, and returns when it answers again', async () => {
    const events: RedisStoreEvent[] = [];
    const store = new RedisLimiterStore({ redis, prefix: uniquePrefix('slow'), timeoutMs: TIMEOUT_MS, probeBackoffMs: { initial: 50, max: 100 }, onEvent: (e) => events.push(e) });
    const charge: LimitCharge[] = [{ key: 'k', kind: 'rate', limit: 100, windowMs: 60_000, amount: 1 }];
    expect((await store.reserve(charge)).ok).toBe(true);

    await admin.call('CLIENT', 'PAUSE', '600', 'ALL'); // every other client now waits 600 ms
    const slow = await timed(store, charge);
    expect(slow.result?.ok).toBe(true); // decided locally
    expect(slow.ms).toBeLessThan(LATENCY_BOUND_MS);
    expect(slow.health).toBe('down');
    expect(events[0]).toMatchObject({ type: 'unavailable', error: expect.objectContaining({ code: 'ERR_LLMR_REDIS_TIMEOUT' }) });

    await untilUp(store, async () => {
      const o = await timed(store, charge);
      expect(o.ms).toBeLessThan(LATENCY_BOUND_MS);
    });
    // The reservation that timed out ran on Redis once the pause ended (before the probe, on the same
    // connection): the store gave its charge back there.
    expect(events.map((e) => e.type)).toEqual(['unavailable', 'lateReserveUndone', 'recovered']);
  }, 10_000);

  it('settles slots taken locally during an outage locally, and sends releases Redis could not take once it is back', async () => {
    const events: RedisStoreEvent[] = [];
    const prefix = uniquePrefix('slots');
    const a = new RedisLimiterStore({ redis, prefix, timeoutMs: TIMEOUT_MS, localFraction: 0.5, probeBackoffMs: { initial: 50, max: 100 }, onEvent: (e) => events.push(e) });
    const b = new RedisLimiterStore({ redis: admin, prefix, timeoutMs: TIMEOUT_MS, probeBackoffMs: { initial: 50, max: 100 } });
    const slot: LimitCharge = { key: 'model=m', kind: 'concurrency', limit: 2, windowMs: 0, amount: 1 };
    const release = (r: ReserveResult) => ({ ...slot, delta: -1, mark: r.ok ? r.marks?.[0] : undefined });

    // A slot held on Redis, released while Redis is down: kept for Redis, reported, not silently lost.
    const onRedis = await a.reserve([slot]);
    expect(onRedis.ok).toBe(true);
    await server.stop();
    await a.adjust([release(onRedis)]);
    expect(events.filter((e) => e.type === 'releasesQueued')).toEqual([expect.objectContaining({ count: 1 })]);

    // A slot taken on the local fallback.
    const local = await a.reserve([slot]);
    expect(local.ok).toBe(true);
    expect(a.health).toBe('down');

    // Redis is back (empty); another process takes a slot there.
    const ready = new Promise((resolve) => redis.once('ready', resolve));
    await server.start();
    await ready;
    await untilUp(a, () => a.peek([slot]));
    // The kept release is sent (the restarted Redis is empty: its lease is not there, nothing happens).
    await eventWaiter(events)('releasesReplayed');
    const held = await b.reserve([slot]);
    expect(held.ok).toBe(true);
    const onRedisNow = await b.peek([slot]);
    expect(onRedisNow[0]!.remaining).toBeLessThanOrEqual(1);

    // Releasing the local slot must not free the other process's slot on Redis.
    await a.adjust([release(local)]);
    expect(await b.peek([slot])).toEqual(onRedisNow);
    expect(events.filter((e) => e.type === 'adjustDropped')).toEqual([]);
    expect(events.filter((e) => e.type === 'releasesReplayed')).toEqual([{ type: 'releasesReplayed', count: 1 }]);
  }, 10_000);

  it.each(['fail-open', 'fail-closed'] as const)(
    '%s: a slot released while the connection is down is freed on Redis once it is back, not after its lease',
    async (onRedisError) => {
      const conn = new Redis(server.port, '127.0.0.1', { retryStrategy: () => 50, maxRetriesPerRequest: 1 });
      conn.on('error', () => {});
      await once(conn, 'ready');
      const events: RedisStoreEvent[] = [];
      const prefix = uniquePrefix(`replay-${onRedisError}`);
      const opts = { prefix, timeoutMs: TIMEOUT_MS, onRedisError, probeBackoffMs: { initial: 20, max: 50 } };
      const a = new RedisLimiterStore({ ...opts, redis: conn, onEvent: (e) => events.push(e) });
      const b = new RedisLimiterStore({ ...opts, redis: admin });
      const slot: LimitCharge = { key: 'tenant=acme', kind: 'concurrency', limit: 1, windowMs: 0, amount: 1 };
      const taken = await a.reserve([slot]);
      expect(taken.ok).toBe(true);

      // Only this process loses its connection; Redis keeps the lease.
      conn.disconnect();
      await a.adjust([{ ...slot, delta: -1, mark: taken.ok ? taken.marks?.[0] : undefined }]);
      expect(events.map((e) => e.type)).toEqual(['unavailable', 'releasesQueued']);
      expect(await b.reserve([slot])).toMatchObject({ ok: false, index: 0 }); // still held on Redis

      await conn.connect();
      await untilUp(a, () => a.peek([slot]).catch(() => undefined)); // fail-closed rejects while down
      await eventWaiter(events)('releasesReplayed');
      expect(events.map((e) => e.type)).toEqual(['unavailable', 'releasesQueued', 'recovered', 'releasesReplayed']);
      expect(await b.reserve([slot])).toMatchObject({ ok: true });
      conn.disconnect();
    },
    10_000,
  );

  it('flush() at shutdown sends the releases still waiting, without waiting for a probe', async () => {
    const conn = new Redis(server.port, '127.0.0.1', { retryStrategy: () => 50, maxRetriesPerRequest: 1 });
    conn.on('error', () => {});
    await once(conn, 'ready');
    const events: RedisStoreEvent[] = [];
    const opts = { prefix: uniquePrefix('flush'), timeoutMs: TIMEOUT_MS };
    const a = new RedisLimiterStore({ ...opts, redis: conn, onEvent: (e) => events.push(e) });
    const b = new RedisLimiterStore({ ...opts, redis: admin });
    const slot: LimitCharge = { key: 'tenant=acme', kind: 'concurrency', limit: 1, windowMs: 0, amount: 1 };
    const taken = await a.reserve([slot]);
    conn.disconnect();
    await a.adjust([{ ...slot, delta: -1, mark: taken.ok ? taken.marks?.[0] : undefined }]);
    expect(events.map((e) => e.type)).toEqual(['unavailable', 'releasesQueued']);

    // While the connection is still away, nothing can be sent: the release keeps waiting.
    await a.flush();
    expect(events.map((e) => e.type)).toEqual(['unavailable', 'releasesQueued']);

    // The connection is back, no traffic has probed it yet (the store still says down): flush sends.
    await conn.connect();
    expect(a.health).toBe('down');
    await a.flush();
    a.close();
    expect(events.map((e) => e.type)).toEqual(['unavailable', 'releasesQueued', 'releasesReplayed']);
    expect(await b.reserve([slot])).toMatchObject({ ok: true });
    conn.disconnect();
  });

  it('close() reports the releases still waiting, and a closed store keeps none', async () => {
    const conn = new Redis(server.port, '127.0.0.1', { retryStrategy: () => 50, maxRetriesPerRequest: 1 });
    conn.on('error', () => {});
    await once(conn, 'ready');
    const events: RedisStoreEvent[] = [];
    const a = new RedisLimiterStore({ prefix: uniquePrefix('close'), timeoutMs: TIMEOUT_MS, redis: conn, onEvent: (e) => events.push(e) });
    const slot: LimitCharge = { key: 'tenant=acme', kind: 'concurrency', limit: 2, windowMs: 0, amount: 1 };
    const first = await a.reserve([slot]);
    const second = await a.reserve([slot]);
    conn.disconnect();
    await a.adjust([{ ...slot, delta: -1, mark: first.ok ? first.marks?.[0] : undefined }]);
    a.close();
    expect(events.map((e) => e.type)).toEqual(['unavailable', 'releasesQueued', 'adjustDropped']);
    expect(events.at(-1)).toMatchObject({ count: 1 });
    // A release that fails after close() is reported at once, not kept.
    await a.adjust([{ ...slot, delta: -1, mark: second.ok ? second.marks?.[0] : undefined }]);
    expect(events.map((e) => e.type)).toEqual(['unavailable', 'releasesQueued', 'adjustDropped', 'adjustDropped']);
  });

  it("an engine's call that ends while this process cannot reach Redis gives its slot back there once it can", async () => {
    const policy = definePolicy({
      targets: { main: { provider: 'alpha', model: 'alpha-1' } },
      routes: { chat: { chain: ['main'] } },
      limits: [{ id: 'tenant-inflight', scope: ['tenant'], metric: 'concurrency', limit: 1 }],
    });
    const conn = new Redis(server.port, '127.0.0.1', { retryStrategy: () => 50, maxRetriesPerRequest: 1 });
    conn.on('error', () => {});
    await once(conn, 'ready');
    const events: RedisStoreEvent[] = [];
    const prefix = uniquePrefix('engine-replay');
    const opts = { prefix, timeoutMs: TIMEOUT_MS, probeBackoffMs: { initial: 20, max: 50 } };
    const store = new RedisLimiterStore({ ...opts, redis: conn, onEvent: (e) => events.push(e) });
    await store.load();
    const here = createResilience(policy, { store });
    const elsewhere = createResilience(policy, { store: new RedisLimiterStore({ ...opts, redis: admin }) });
    const request = { route: 'chat', identity: { tenant: 'acme' }, inputTokens: 10, maxOutputTokens: 10 };

    // The call holds the tenant's only slot on Redis; the connection drops before it ends.
    const done = await here.execute(request, async () => {
      conn.disconnect();
      // Another process waits for the slot up to its deadline, in vain.
      await expect(elsewhere.execute({ ...request, deadline: Date.now() + 100 }, async () => 'no')).rejects.toMatchObject({ name: 'QueueRejectedError' });
      return 'yes';
    });
    expect(done.value).toBe('yes');
    expect(events.map((e) => e.type)).toEqual(['unavailable', 'releasesQueued']);

    await conn.connect();
    await untilUp(store, () => store.peek([{ key: 'probe', kind: 'rate', limit: 1, windowMs: 1000, amount: 0 }]));
    await eventWaiter(events)('releasesReplayed');
    expect((await elsewhere.execute(request, async () => 'now yes')).value).toBe('now yes');
    await here.shutdown();
    await elsewhere.shutdown();
    conn.disconnect();
  }, 10_000);

  it.each(['fail-open', 'fail-closed'] as const)(
    '%s: a reservation that timed out but ran on Redis later is given back there (slot and rate charge)',
    async (onRedisError) => {
      const events: RedisStoreEvent[] = [];
      const prefix = uniquePrefix(`late-${onRedisError}`);
      const opts = { prefix, timeoutMs: TIMEOUT_MS, onRedisError, probeBackoffMs: { initial: 20, max: 50 } };
      const a = new RedisLimiterStore({ ...opts, redis, localFraction: 1, onEvent: (e) => events.push(e) });
      const b = new RedisLimiterStore({ ...opts, redis: admin });
      await a.load();
      const slot: LimitCharge = { key: 'tenant=acme', kind: 'concurrency', limit: 2, windowMs: 0, amount: 1 };
      const rpm: LimitCharge = { key: 'tenant=acme', kind: 'rate', limit: 10, windowMs: 3_600_000, amount: 3 };

      // Redis holds every client for 600 ms: the reservation times out here and runs there afterwards.
      await admin.call('CLIENT', 'PAUSE', '600', 'ALL');
      const decided = a.reserve([slot, rpm]);
      if (onRedisError === 'fail-open') await expect(decided).resolves.toMatchObject({ ok: true }); // decided locally
      else await expect(decided).rejects.toBeInstanceOf(RedisUnavailableError);
      // Its reply may never come (lost with a connection): the removal of the leases it added is kept for Redis.
      expect(events.map((e) => e.type)).toEqual(['unavailable', 'releasesQueued']);
      expect(events[1]).toMatchObject({ type: 'releasesQueued', count: 1 });

      // What Redis charged for it is given back once it has run: no lease is left, the bucket is full.
      await eventWaiter(events)('lateReserveUndone');
      expect(events.find((e) => e.type === 'lateReserveUndone')).toEqual({ type: 'lateReserveUndone', count: 2 });
      await pollUntil('the late charges to be given back', async () => (await b.peek([slot, rpm]))[0]!.remaining === 2);
      expect(await b.peek([slot, rpm])).toEqual([
        { remaining: 2, resetMs: 0 },
        { remaining: 10, resetMs: 0 },
      ]);
      // Once a is back on Redis, the kept removal finds nothing left to remove, and frees no other slot.
      const other = await b.reserve([slot]);
      await untilUp(a, () => a.peek([slot]).catch(() => undefined)); // fail-closed refuses while down
      await a.flush();
      expect(events.filter((e) => e.type === 'adjustDropped')).toEqual([]);
      expect(events.filter((e) => e.type === 'releasesReplayed')).toEqual([{ type: 'releasesReplayed', count: 1 }]);
      expect(other.ok).toBe(true);
      expect((await b.peek([slot]))[0]!.remaining).toBe(1);
    },
    10_000,
  );

  it("a store's very first reservation, held up while it loads its scripts, is given back when it runs late", async () => {
    const events: RedisStoreEvent[] = [];
    const prefix = uniquePrefix('late-first');
    const opts = { prefix, timeoutMs: TIMEOUT_MS, probeBackoffMs: { initial: 20, max: 50 } };
    const fresh = new RedisLimiterStore({ ...opts, redis, localFraction: 1, onEvent: (e) => events.push(e) });
    const b = new RedisLimiterStore({ ...opts, redis: admin });
    const slot: LimitCharge = { key: 'tenant=acme', kind: 'concurrency', limit: 2, windowMs: 0, amount: 1 };

    await admin.call('CLIENT', 'PAUSE', '600', 'ALL');
    expect(await fresh.reserve([slot])).toMatchObject({ ok: true }); // decided locally: loading took too long
    await eventWaiter(events)('lateReserveUndone');
    await pollUntil('the late slot to be given back', async () => (await b.peek([slot]))[0]!.remaining === 2);
    expect(events.filter((e) => e.type === 'adjustDropped' || e.type === 'releasesQueued')).toEqual([]);
  }, 10_000);

  it('a release whose first attempt reached Redis late (timeout) and is sent again frees no other slot', async () => {
    const events: RedisStoreEvent[] = [];
    const prefix = uniquePrefix('twice');
    const opts = { prefix, timeoutMs: TIMEOUT_MS, probeBackoffMs: { initial: 20, max: 50 } };
    const a = new RedisLimiterStore({ ...opts, redis, onEvent: (e) => events.push(e) });
    const b = new RedisLimiterStore({ ...opts, redis: admin });
    const slot: LimitCharge = { key: 'tenant=acme', kind: 'concurrency', limit: 2, windowMs: 0, amount: 1 };
    const taken = await a.reserve([slot]);
    expect(taken.ok).toBe(true);

    // Redis holds every client for 600 ms: the release times out here but runs on Redis afterwards.
    await admin.call('CLIENT', 'PAUSE', '600', 'ALL');
    await a.adjust([{ ...slot, delta: -1, mark: taken.ok ? taken.marks?.[0] : undefined }]);
    expect(events.map((e) => e.type)).toEqual(['unavailable', 'releasesQueued']);
    // Once Redis runs it, the slot is free; another process takes it, and holds the only slot in use.
    await pollUntil('the late release to run on Redis', async () => (await b.peek([slot]))[0]!.remaining === 2);
    const other = await b.reserve([slot]);
    expect(other.ok).toBe(true);
    expect(await b.peek([slot])).toEqual([{ remaining: 1, resetMs: 0 }]);

    // This process comes back and sends its release again: it must not free the other process's slot.
    await untilUp(a, () => a.peek([slot]));
    await eventWaiter(events)('releasesReplayed');
    expect(await b.peek([slot])).toEqual([{ remaining: 1, resetMs: 0 }]);
  }, 10_000);

  it('a release whose lease Redis lost in a restart (no persistence) frees no slot taken since', async () => {
    const prefix = uniquePrefix('lost-lease');
    const opts = { prefix, timeoutMs: TIMEOUT_MS, probeBackoffMs: { initial: 20, max: 50 } };
    // Three processes share a limit of 1 (two of them on the admin connection).
    const a = new RedisLimiterStore({ ...opts, redis });
    const b = new RedisLimiterStore({ ...opts, redis: admin });
    const c = new RedisLimiterStore({ ...opts, redis: admin });
    const slot: LimitCharge = { key: 'provider-concurrency|model=m', kind: 'concurrency', limit: 1, windowMs: 0, amount: 1 };
    const first = await a.reserve([slot]);
    expect(first.ok && first.marks?.[0]).toBeTruthy();

    // Redis restarts empty: A's lease is gone while its call still runs.
    const ready = Promise.all([redis, admin].map((client) => new Promise((resolve) => client.once('ready', resolve))));
    await server.stop();
    await server.start();
    await ready;
    for (const store of [a, b, c]) await untilUp(store, () => store.peek([slot]));

    // B takes the slot that now looks free (A and B both in flight: nothing can prevent that).
    expect((await b.reserve([slot])).ok).toBe(true);
    // A's call ends: its release finds no lease and no record of one taken, so it frees nothing, and
    // C is refused while B runs.
    await a.adjust([{ ...slot, delta: -1, mark: first.ok ? first.marks?.[0] : undefined }]);
    expect(await c.peek([slot])).toEqual([{ remaining: 0, resetMs: 0 }]);
    expect((await c.reserve([slot])).ok).toBe(false);
  }, 10_000);

  it('a breaker sync whose SUBSCRIBE times out on connections that stay up retries it after a backoff, and loads the stored states', async () => {
    const prefix = uniquePrefix('sub-timeout');
    const clock = new ManualClock(Date.now());
    const writer = new RedisBreakerSync({ redis: admin, prefix, clock });
    await writer.publish('target:fast-a', { state: 'open', until: clock.now() + 60_000, reason: 'consecutive_failures' });
    const subscriber = new Redis(server.port, '127.0.0.1', { retryStrategy: () => 50, maxRetriesPerRequest: 1 });
    subscriber.on('error', () => {});
    await once(subscriber, 'ready');
    const errors: RedisSyncError[] = [];
    // A fixed random source: each retry waits 3/4 of its backoff step (steps 100, 200, ... ms; jitter
    // draws between half and all of a step).
    const late = new RedisBreakerSync({ redis, subscriber, prefix, clock, random: () => 0.5, timeoutMs: 150, onError: (e) => errors.push(e) });
    const inbox = new Inbox<BreakerState>();
    const readyListeners = redis.listenerCount('ready');
    try {
      // A replica starts during a failover's CLIENT PAUSE: Redis holds every client, no connection drops.
      await admin.call('CLIENT', 'PAUSE', '800', 'ALL');
      late.subscribe(inbox.onRemote);
      await late.ready();
      expect(errors.map((e) => e.operation)).toEqual(['subscribe']); // timed out: reported

      // The first retry comes 75 ms later (step 100), still during the pause: it times out too, and is reported.
      await clock.advance(75);
      await pollUntil('the first retry to time out', () => errors.length === 2, 5000, 5);
      expect(errors.map((e) => e.operation)).toEqual(['subscribe', 'subscribe']);

      // Redis answers again. No `ready` event comes (nothing reconnected): the next retry (step 200: 150 ms) loads.
      await redis.ping();
      await clock.advance(149);
      expect(inbox.received).toEqual([]);
      await clock.advance(1);
      await pollUntil('the stored breaker state to be loaded', () => inbox.received.length > 0, 5000, 5);
      await late.ready();
      expect(inbox.keys()).toEqual(['target:fast-a']);
      expect(errors).toHaveLength(2);
      expect(redis.listenerCount('ready')).toBe(readyListeners); // nothing left waiting to retry
    } finally {
      await late.close();
      await writer.close();
      subscriber.disconnect();
    }
  }, 10_000);

  /** This server's connections named `name` (ioredis' `connectionName`, which a duplicate keeps). */
  async function connectionsNamed(name: string): Promise<Array<{ id: string; sub: number; cmd: string }>> {
    const list = (await admin.client('LIST')) as string;
    return list
      .split('\n')
      .filter((line) => line.includes(` name=${name} `))
      .map((line) => {
        const f = Object.fromEntries(line.split(' ').map((kv) => kv.split('='))) as Record<string, string>;
        return { id: f.id!, sub: Number(f.sub), cmd: f.cmd! };
      });
  }

  /** A client of the application on this server, named for `CLIENT LIST`. */
  function appClient(name: string, retryMs: number): Redis {
    const c = new Redis(server.port, '127.0.0.1', { connectionName: name, retryStrategy: () => retryMs, maxRetriesPerRequest: 3 });
    c.on('error', () => {});
    return c;
  }

  it('a breaker publish Redis holds (CLIENT PAUSE) past timeoutMs writes and announces nothing when it finally runs; the kept state goes out later', async () => {
    const prefix = uniquePrefix('held-publish');
    const clockA = new ManualClock(Date.now());
    const clockB = new ManualClock(clockA.now());
    const t0 = clockA.now();
    const errors: RedisSyncError[] = [];
    const a = new RedisBreakerSync({ redis, prefix, clock: clockA, timeoutMs: TIMEOUT_MS, random: () => 0.5, onError: (e) => errors.push(e) });
    const b = new RedisBreakerSync({ redis: admin, prefix, clock: clockB });
    const raw = new Redis(server.port, '127.0.0.1', { retryStrategy: () => 50 });
    raw.on('error', () => {});
    const heard: string[] = [];
    const inbox = new Inbox<BreakerState>();
    try {
      b.subscribe(inbox.onRemote);
      await Promise.all([b.ready(), a.load(), once(raw, 'ready')]); // A has read Redis' clock
      raw.on('message', (_channel: string, message: string) => heard.push(message));
      await raw.subscribe(b.channelName);

      // A failover's CLIENT PAUSE holds A's write past A's timeout: reported, kept for a resend.
      await admin.call('CLIENT', 'PAUSE', '10000', 'WRITE');
      try {
        await a.publish('target:t', { state: 'open', until: t0 + 30_000, reason: 'error_rate' });
        expect(errors.map((e) => e.operation)).toEqual(['publish']);
      } finally {
        await admin.call('CLIENT', 'UNPAUSE');
      }
      // The held command has run now (Redis runs what it held before this later PUBLISH): past its
      // deadline, so it neither stored nor announced its relative times, which were computed at t0.
      await admin.publish(b.channelName, 'marker');
      await pollUntil('the marker', () => heard.includes('marker'), 5000, 5);
      expect(heard).toEqual(['marker']);
      expect(await b.load()).toEqual([]);

      // A's backoff (first step 100 ms, drawn at 3/4) sends the kept state, its times converted then.
      await clockB.advance(75);
      await clockA.advance(75);
      await inbox.count(1);
      expect(inbox.received).toEqual([['target:t', { state: 'open', until: t0 + 30_000, reason: 'error_rate' }]]);
      expect(errors).toHaveLength(1);
    } finally {
      await admin.call('CLIENT', 'UNPAUSE');
      await Promise.all([a.close(), b.close()]);
      raw.disconnect();
    }
  }, 10_000);

  it('an open state whose publish was in flight when the connection dropped is not announced, long after it ended, when ioredis re-sends it', async () => {
    const prefix = uniquePrefix('resent-publish');
    const policy = definePolicy(
      { targets: { primary: { provider: 'alpha', model: 'alpha-1' }, backup: { provider: 'beta', model: 'beta-1' } }, routes: { chat: { chain: ['primary', 'backup'] } } },
      { onWarning: () => undefined },
    );
    const t0 = Date.now();
    const replica = (name: string, clock: ManualClock, retryMs: number) => {
      const client = appClient(name, retryMs);
      const syncErrors: RedisSyncError[] = [];
      const shared = createRedisResilienceState({ redis: client, prefix, clock, syncTimeoutMs: TIMEOUT_MS, onSyncError: (e) => syncErrors.push(e) });
      const engine = createResilience(policy, { ...shared, clock });
      return { client, shared, engine, syncErrors };
    };
    const clockA = new ManualClock(t0);
    const clockB = new ManualClock(t0);
    const nameA = `resent-a-${prefix}`;
    // A reconnects slowly: its re-sent command runs well after A stopped waiting for it (TIMEOUT_MS).
    const a = replica(nameA, clockA, 800);
    const b = replica(`resent-b-${prefix}`, clockB, 50);
    try {
      await Promise.all([a.shared.ready(), b.shared.ready()]);
      await pollUntil('A ready', () => a.client.status === 'ready');

      // Redis holds writes (a failover's CLIENT PAUSE); A's breaker opens for 30 s meanwhile: its publish is in flight.
      await admin.call('CLIENT', 'PAUSE', '10000', 'WRITE');
      let inFlight: { id: string } | undefined;
      try {
        a.engine.breakers.target('primary').forceOpen(clockA.now() + 30_000, 'consecutive_failures', clockA.now());
        await pollUntil('A publish in flight', async () => {
          inFlight = (await connectionsNamed(nameA)).find((c) => !(c.sub > 0) && c.cmd === 'evalsha');
          return inFlight !== undefined;
        });
        // A's connection drops with the command unanswered (never run); ioredis keeps it to re-send.
        await admin.client('KILL', 'ID', inFlight!.id);
      } finally {
        await admin.call('CLIENT', 'UNPAUSE');
      }
      await pollUntil('A reconnecting', () => a.client.status !== 'ready');
      // 45 s pass on both processes' clocks: A's 30 s open state is over (A's breaker is half-open).
      await clockA.advance(45_000);
      await clockB.advance(45_000);
      a.engine.breakers.target('primary').advance(clockA.now());
      expect(a.engine.breakers.stateOf('primary')).toBe('half-open');

      // A is back; the command ioredis re-sent has run once this PING is answered.
      await pollUntil('A ready again', () => a.client.status === 'ready');
      await a.client.ping();
      // B's PING is answered after anything that command announced has reached B's subscriber.
      await b.client.ping();
      await b.shared.ready();
      expect(b.engine.breakers.stateOf('primary')).not.toBe('open');
      // Nor is it stored for replicas that start later.
      expect(await b.shared.breakerSync.load()).toEqual([]);
      expect(a.syncErrors.some((e) => e.source === 'breaker' && e.operation === 'publish')).toBe(true);
    } finally {
      await admin.call('CLIENT', 'UNPAUSE');
      for (const r of [a, b]) {
        await r.engine.shutdown();
        await r.shared.close();
        r.client.disconnect();
      }
    }
  }, 15_000);

  it.each([
    ['a sync', false],
    ['createRedisResilienceState', true],
  ])('%s reports one subscribe error when Redis closes the subscriber connection it created (CLIENT KILL), and reloads', async (_label, viaState) => {
    const prefix = uniquePrefix('sub-killed');
    const name = `sub-killed-${prefix}`;
    const client = appClient(name, 50);
    const errors: RedisSyncError[] = [];
    const clock = new ManualClock(Date.now());
    const onError = (e: RedisSyncError): void => void errors.push(e);
    const writer = new RedisBreakerSync({ redis: admin, prefix, clock });
    let close: () => Promise<void>;
    let sync: RedisBreakerSync;
    if (viaState) {
      const shared = createRedisResilienceState({ redis: client, prefix, clock, onSyncError: onError });
      sync = shared.breakerSync;
      close = () => shared.close();
    } else {
      sync = new RedisBreakerSync({ redis: client, prefix, clock, onError });
      close = () => sync.close();
    }
    const inbox = new Inbox<BreakerState>();
    try {
      sync.subscribe(inbox.onRemote);
      await sync.ready();
      const sub = (await connectionsNamed(name)).find((c) => c.sub > 0)!;
      await admin.client('KILL', 'ID', sub.id);
      // Published while the subscriber is away: only the reload delivers it.
      await writer.publish('target:t', { state: 'open', until: clock.now() + 30_000, reason: 'error_rate' });
      await pollUntil('the resubscribe', async () => (await connectionsNamed(name)).some((c) => c.sub > 0 && c.id !== sub.id));
      await inbox.count(1);
      await sync.ready();
      expect(inbox.keys()).toEqual(['target:t']);
      expect(errors.map((e) => e.operation)).toEqual(['subscribe']);
      expect(errors[0]!.source).toBe(viaState ? 'subscriber' : 'breaker');
    } finally {
      await close();
      await writer.close();
      client.disconnect();
    }
    expect(errors).toHaveLength(1); // nothing reported for the close itself
  });
});

describe('fault: Redis answers PING but refuses writes (a master demoted to a replica)', () => {
  let server: RedisServerProcess;
  let redis: Redis;

  beforeAll(async () => {
    server = new RedisServerProcess(await sparePort());
    await server.start();
    redis = new Redis(server.port, '127.0.0.1', { maxRetriesPerRequest: 1 });
    redis.on('error', () => {});
    await once(redis, 'ready');
  });

  afterAll(async () => {
    redis.disconnect();
    await server.dispose();
  });

  it('stays down, its probe backing off up to the maximum, instead of flapping up and down', async () => {
    const clock = new ManualClock(Date.now());
    const events: RedisStoreEvent[] = [];
    const store = new RedisLimiterStore({ redis, prefix: uniquePrefix('readonly'), timeoutMs: 500, onRedisError: 'fail-closed', clock, onEvent: (e) => events.push(e) });
    const charge: LimitCharge[] = [{ key: 'rpm|user=u1', kind: 'rate', limit: 1_000_000, windowMs: 60_000, amount: 1 }];
    /** The wait a refused reservation announces: the time to the next probe. */
    const refusedFor = async () => {
      const error = await store.reserve(charge).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(RedisUnavailableError);
      return (error as RedisUnavailableError).retryAfterMs ?? NaN;
    };
    try {
      expect((await store.reserve(charge)).ok).toBe(true);
      // What Sentinel does to an old master that comes back: PING answers, every write is READONLY.
      await redis.call('REPLICAOF', '127.0.0.1', String(await sparePort()));
      expect(await redis.ping()).toBe('PONG');

      expect(await refusedFor()).toBe(100);
      const waits: number[] = [];
      for (let wait = 100; waits.length < 6; ) {
        await clock.advance(wait);
        // This one started the probe: Redis may be back once it answers, so 1 ms, never 0 (a hot loop).
        expect(await refusedFor()).toBe(1);
        await pollUntil('the probe to fail', async () => (wait = await refusedFor()) > 1);
        waits.push(wait);
      }
      // Each probe wrote and was refused: the backoff doubles to its maximum; Redis never came back.
      expect(waits).toEqual([200, 400, 800, 1600, 2000, 2000]);
      expect(events.map((e) => e.type)).toEqual(['unavailable']);

      // Promoted again: the next probe succeeds.
      await redis.call('REPLICAOF', 'NO', 'ONE');
      await clock.advance(2000);
      await pollUntil('the store to be back on Redis', async () => (await store.reserve(charge).then(() => store.health === 'up', () => false)));
      expect(events.map((e) => e.type)).toEqual(['unavailable', 'recovered']);
    } finally {
      store.close();
      await redis.call('REPLICAOF', 'NO', 'ONE').catch(() => undefined);
    }
  });
});

/**
 * A limiter's Redis usually runs with `maxmemory-policy noeviction` (evicting leases or buckets would
 * hand out capacity). At its `maxmemory`, Redis refuses a script whose first write may grow memory
 * (OOM); a release starts with commands that only free memory, so it must still go through. A private
 * redis-server: CONFIG SET on it changes nothing shared.
 */
describe('fault: Redis at maxmemory (noeviction)', () => {
  let server: RedisServerProcess;
  let redis: Redis;

  beforeAll(async () => {
    server = new RedisServerProcess(await sparePort(), ['--maxmemory-policy', 'noeviction']);
    await server.start();
    redis = new Redis(server.port, '127.0.0.1', { maxRetriesPerRequest: 2 });
    redis.on('error', () => undefined);
  });
  afterAll(async () => {
    redis.disconnect();
    await server.dispose();
  });

  it('frees a slot on Redis when Redis is out of memory (a release only frees memory), recording its run after it', async () => {
    const events: RedisStoreEvent[] = [];
    const store = new RedisLimiterStore({ redis, prefix: uniquePrefix('oom'), timeoutMs: 2000, onEvent: (e) => events.push(e) });
    await store.load();
    const slot: LimitCharge = { key: 'inflight|team=t1', kind: 'concurrency', limit: 2, windowMs: 0, amount: 1 };
    const r = await store.reserve([slot]);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    const key = store.keyspace.key('c', slot.key);
    expect(await redis.zcard(key)).toBe(1);

    await redis.config('SET', 'maxmemory', '1'); // Redis is full (private server)
    try {
      await store.adjust([{ ...slot, delta: -1, mark: r.marks?.[0] }]);
      expect(events).toEqual([]); // Redis took the release
      expect(await redis.zcard(key)).toBe(0); // the slot is free on Redis, not held for leaseMs (10 min)
      // The run's record was written last (allowed once the script has written): a copy changes nothing.
      expect(await redis.keys(store.keyspace.key('a', '*'))).toHaveLength(1);
    } finally {
      await redis.config('SET', 'maxmemory', '0');
      store.close();
    }
  });

  it('sends a breaker state Redis refused (OOM) on a connection that stays up again after a backoff, until close()', async () => {
    const prefix = uniquePrefix('oom-breaker');
    const clock = new ManualClock(Date.now());
    const errors: RedisSyncError[] = [];
    const main = new Redis(server.port, '127.0.0.1', { maxRetriesPerRequest: 1 });
    main.on('error', () => undefined);
    const sender = new RedisBreakerSync({ redis: main, prefix, clock, random: () => 0, timeoutMs: 2000, onError: (e) => errors.push(e) });
    const receiver = new RedisBreakerSync({ redis, prefix, clock, timeoutMs: 2000 });
    const inbox = new Inbox<BreakerState>();
    try {
      await once(main, 'ready');
      receiver.subscribe(inbox.onRemote);
      await receiver.ready();

      await redis.config('SET', 'maxmemory', '1'); // full: writes refused, connections stay up
      await sender.publish('target:t', { state: 'open', until: clock.now() + 60_000, reason: 'error_rate' });
      expect(errors.map((e) => e.operation)).toEqual(['publish']);
      expect(main.status).toBe('ready');
      // While Redis stays full, each backoff step tries again (and reports): first after 50 ms.
      await clock.advance(50);
      await pollUntil('the first resend to be refused', () => errors.length === 2);

      // Memory is freed; no reconnect (no `ready` event), no later publish: the backoff sends it.
      await redis.config('SET', 'maxmemory', '0');
      await clock.advance(100);
      await inbox.count(1);
      expect(inbox.received).toEqual([['target:t', { state: 'open', until: clock.now() + 60_000 - 150, reason: 'error_rate' }]]);
      expect((await receiver.load()).map(([k]) => k)).toEqual(['target:t']);
      expect(errors.map((e) => e.operation)).toEqual(['publish', 'publish']);

      // A state refused, then closed: nothing is sent any more, and no timer is left on the clock.
      await redis.config('SET', 'maxmemory', '1');
      await sender.publish('target:u', { state: 'paused', until: clock.now() + 60_000 });
      expect(clock.pending).toBeGreaterThan(0);
      await sender.close();
      await redis.config('SET', 'maxmemory', '0');
      await clock.advance(10_000);
      expect(clock.pending).toBe(0);
      expect((await receiver.load()).map(([k]) => k)).toEqual(['target:t']);
    } finally {
      await redis.config('SET', 'maxmemory', '0');
      await Promise.all([sender.close(), receiver.close()]);
      main.disconnect();
    }
  });
});
