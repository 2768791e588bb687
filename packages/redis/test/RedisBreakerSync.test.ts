import { once } from 'node:events';
import { BreakerRegistry, ManualClock, type BreakerPolicy, type BreakerState, type ErrorKind } from '@llm-resilience/core';
import IORedis from 'ioredis';
import type Redis from 'ioredis';
import { RedisBreakerSync, RedisStoreConfigError, RedisSyncError } from '../src/index';
import { RedisScript } from '../src/RedisScript';
import { LOAD_STATES_LUA } from '../src/sharedStateScripts';
import { connect, deleteKeys, Inbox, pollUntil, redisNow, sparePort, uniquePrefix, untilRedisTime } from './redisTestUtils';

const HOUR = 3_600_000;
const LOAD_SHA = new RedisScript(LOAD_STATES_LUA).sha;

/** `real`, except that its first load of the stored states runs `before()` first (a live change lands meanwhile). */
function withHookBeforeFirstLoad(real: Redis, before: () => Promise<void>): Redis {
  let hooked = false;
  return new Proxy(real, {
    get(target, prop) {
      if (prop === 'evalsha') {
        return async (...args: unknown[]) => {
          if (!hooked && args[0] === LOAD_SHA) {
            hooked = true;
            await before();
          }
          return (target.evalsha as (...a: unknown[]) => Promise<unknown>)(...args);
        };
      }
      const v = Reflect.get(target, prop, target) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

/** Resolves once `subscriber` hears a message on any channel whose text contains `text`. */
function heard(subscriber: Redis, text: string): Promise<void> {
  return new Promise((resolve) => {
    const onMessage = (_channel: string, raw: string): void => {
      if (!raw.includes(text)) return;
      subscriber.off('message', onMessage);
      resolve();
    };
    subscriber.on('message', onMessage);
  });
}

/** Resolves once the sync's channel has a subscriber again (asked through `redis`) and its reload has finished. */
async function resynced(redis: Redis, sync: RedisBreakerSync): Promise<void> {
  await pollUntil('the resubscribe', async () => {
    const reply = (await redis.pubsub('NUMSUB', sync.channelName)) as [string, number];
    return Number(reply[1]) > 0;
  });
  await sync.ready();
}

describe('RedisBreakerSync (real Redis)', () => {
  let redis: Redis;
  let prefix: string;
  const syncs: RedisBreakerSync[] = [];
  const errors: RedisSyncError[] = [];

  /** One process' sync: its own connection, its own clock (processes' clocks may disagree). */
  function processSync(clock: ManualClock, extra: Partial<ConstructorParameters<typeof RedisBreakerSync>[0]> = {}): RedisBreakerSync {
    const sync = new RedisBreakerSync({ redis, prefix, clock, timeoutMs: 2000, onError: (e) => errors.push(e), ...extra });
    syncs.push(sync);
    return sync;
  }

  beforeAll(() => {
    redis = connect();
  });
  beforeEach(() => {
    prefix = uniquePrefix('breaker');
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

  it('announces open and paused states to other processes, in their own clock, never back to the sender', async () => {
    const clockA = new ManualClock(1_700_000_000_000);
    const clockB = new ManualClock(1_700_000_000_000 + HOUR); // B's clock runs an hour ahead
    const a = processSync(clockA);
    const b = processSync(clockB);
    const atA = new Inbox<BreakerState>();
    const atB = new Inbox<BreakerState>();
    a.subscribe(atA.onRemote);
    b.subscribe(atB.onRemote);
    await Promise.all([a.ready(), b.ready()]);

    await a.publish('target:fast-a', { state: 'open', until: clockA.now() + 30_000, reason: 'consecutive_failures' });
    await atB.count(1);
    // "Open for 30 s" travels as such: B sees it ending 30 s after its own now.
    expect(atB.received).toEqual([['target:fast-a', { state: 'open', until: clockB.now() + 30_000, reason: 'consecutive_failures' }]]);

    await b.publish('provider:openai', { state: 'paused', until: clockB.now() + 5_000 });
    await atA.count(1);
    // A got B's state only: its own message (sent first, on the same channel) was not delivered back.
    expect(atA.received).toEqual([['provider:openai', { state: 'paused', until: clockA.now() + 5_000 }]]);
  });

  it('writes only open and paused states that are not over yet', async () => {
    const clock = new ManualClock(await redisNow(redis));
    const a = processSync(clock);
    const b = processSync(clock);
    const atB = new Inbox<BreakerState>();
    b.subscribe(atB.onRemote);
    await b.ready();
    const monitor = connect();
    try {
      const seen: string[] = [];
      const opened = new Promise<void>((resolve) =>
        monitor.on('message', (_channel: string, message: string) => {
          seen.push(message);
          if (message.includes('"open"')) resolve();
        }),
      );
      await monitor.subscribe(a.channelName);
      await a.publish('target:x', { state: 'closed' });
      await a.publish('target:x', { state: 'half-open', probesInFlight: 0, probeSuccesses: 0 });
      await a.publish('target:x', { state: 'ramping', since: clock.now() });
      await a.publish('target:x', { state: 'open', until: clock.now() - 1, reason: 'error_rate' });
      await a.publish('target:x', { state: 'open', until: clock.now() + 10_000, reason: 'error_rate' });
      await Promise.all([atB.count(1), opened]);
      expect(seen).toHaveLength(1); // one message (in order on the channel), for the one state worth sharing
      expect(atB.keys()).toEqual(['target:x']);
      expect(await redis.hkeys(a.hashKey)).toEqual(['target:x']);
    } finally {
      monitor.disconnect();
    }
  });

  it('stores states for processes that start later, aged with Redis time, and lets them expire', async () => {
    const clockA = new ManualClock(await redisNow(redis));
    const a = processSync(clockA);
    const t0 = await redisNow(redis);
    await a.publish('target:fast-a', { state: 'open', until: clockA.now() + 30_000, reason: 'error_rate' });
    await a.publish('provider:anthropic', { state: 'paused', until: clockA.now() + 40 });
    // Written by now: it expires at the latest 40 ms after this Redis time.
    const pausedBy = await redisNow(redis);
    // The hash lives as long as its longest state, plus the margin (1 s).
    const ttl = await redis.pttl(a.hashKey);
    expect(ttl).toBeGreaterThan(30_000);
    expect(ttl).toBeLessThanOrEqual(31_000);

    // A process starting now, with a clock 10 minutes behind.
    const clockC = new ManualClock(clockA.now() - 600_000);
    const c = processSync(clockC);
    const atC = new Inbox<BreakerState>();
    c.subscribe(atC.onRemote);
    await c.ready();
    const elapsed = (await redisNow(redis)) - t0;
    const byKey = new Map(atC.received);
    const open = byKey.get('target:fast-a');
    expect(open).toMatchObject({ state: 'open', reason: 'error_rate' });
    // Remaining time = 30 s minus the time elapsed in Redis since it was written, in C's clock.
    expect(open!.state === 'open' && open!.until).toBeLessThanOrEqual(clockC.now() + 30_000);
    expect(open!.state === 'open' && open!.until).toBeGreaterThanOrEqual(clockC.now() + 30_000 - elapsed - 1);

    // The 40 ms pause expires: not loaded any more, and removed by the next write.
    await untilRedisTime(redis, pausedBy + 45);
    expect((await c.load()).map(([k]) => k)).toEqual(['target:fast-a']);
    await a.publish('target:other', { state: 'open', until: clockA.now() + 20_000, reason: 'error_rate' });
    expect((await redis.hkeys(a.hashKey)).sort()).toEqual(['target:fast-a', 'target:other']);
  });

  it('keeps the stronger stored state: open beats paused, the later end wins', async () => {
    const clock = new ManualClock(await redisNow(redis));
    const a = processSync(clock);
    const now = clock.now();
    await a.publish('target:t', { state: 'open', until: now + 20_000, reason: 'error_rate' });
    await a.publish('target:t', { state: 'paused', until: now + 60_000 }); // weaker: kept out
    await a.publish('target:t', { state: 'open', until: now + 10_000, reason: 'probe_failed' }); // shorter: kept out
    const late = processSync(clock);
    expect(await late.load()).toEqual([['target:t', expect.objectContaining({ state: 'open', reason: 'error_rate' })]]);
    await a.publish('target:t', { state: 'open', until: now + 90_000, reason: 'probe_failed' }); // longer: wins
    await a.publish('provider:p', { state: 'paused', until: now + 5_000 });
    await a.publish('provider:p', { state: 'open', until: now + 1_000, reason: 'error_rate' }); // open beats paused
    const stored = new Map(await late.load());
    expect(stored.get('target:t')).toMatchObject({ state: 'open', reason: 'probe_failed' });
    expect(stored.get('provider:p')).toMatchObject({ state: 'open', reason: 'error_rate' });
    expect(await redis.pttl(a.hashKey)).toBeGreaterThan(85_000);
  });

  it('a kill switch on a breaker already open in two processes reaches the other one, which keeps the target out until its end', async () => {
    const policy: BreakerPolicy = {
      windowMs: 120_000,
      errorRate: 0.2,
      minimumCalls: 10,
      consecutiveFailures: 5,
      slowCallMs: 30_000,
      slowCallRate: 0.5,
      openForMs: 30_000,
      halfOpenProbes: 3,
      rampUpMs: 30_000,
      rateLimitPauseAfter: 3,
      failOn: new Set<ErrorKind>(['overloaded', 'timeout', 'network', 'unknown']),
    };
    const clockA = new ManualClock(await redisNow(redis));
    const clockB = new ManualClock(clockA.now() + HOUR); // clocks may disagree: times travel relative
    const registryErrors: unknown[] = [];
    const onError = (e: unknown): void => void registryErrors.push(e);
    const a = new BreakerRegistry({ policy, clock: clockA, sync: processSync(clockA), onError });
    const syncB = processSync(clockB);
    const b = new BreakerRegistry({ policy, clock: clockB, sync: syncB, onError });
    const bEvents: string[] = [];
    b.events.on('breaker', (e) => bEvents.push(`${e.key} ${e.from}->${e.to} ${e.reason} ${e.origin}`));
    const untilAtB = (): number => (b.get('target:fast-a')?.state as { until?: number } | undefined)?.until ?? 0;
    try {
      await syncB.ready();
      // Process A finds the target failing: open for 30 s, heard by B.
      for (let i = 0; i < 5; i++) {
        const admission = a.admit('fast-a', 'openai');
        a.record('fast-a', 'openai', { kind: 'overloaded', latencyMs: 10, admission });
      }
      await pollUntil('B to hear the opening', () => untilAtB() > 0);
      expect(untilAtB()).toBeLessThanOrEqual(clockB.now() + 30_000);

      // The operator takes the target out for 10 minutes on A.
      a.target('fast-a').forceOpen(clockA.now() + 600_000, 'maintenance', clockA.now());
      await pollUntil('B to hear the kill switch', () => untilAtB() > clockB.now() + 30_000);
      expect(b.target('fast-a').state).toMatchObject({ state: 'open', reason: 'maintenance' });
      expect(untilAtB()).toBeGreaterThan(clockB.now() + 590_000);

      // 31 s later B still keeps the target out (no probes), and so does a replica starting now.
      clockB.set(clockB.now() + 31_000);
      expect(b.admit('fast-a', 'openai')).toMatchObject({ allowed: false, scope: 'target', reason: 'open' });
      expect(bEvents).toContain('target:fast-a open->open maintenance remote');
      const late = processSync(clockB);
      expect(new Map(await late.load()).get('target:fast-a')).toMatchObject({ state: 'open', reason: 'maintenance' });
      expect(registryErrors).toEqual([]);
    } finally {
      a.dispose();
      b.dispose();
    }
  });

  it('delivers the stored states to every new subscription, and reports malformed messages', async () => {
    const clock = new ManualClock(await redisNow(redis));
    const a = processSync(clock);
    await a.publish('target:t', { state: 'open', until: clock.now() + 20_000, reason: 'error_rate' });
    const b = processSync(clock);
    const first = new Inbox<BreakerState>();
    const second = new Inbox<BreakerState>();
    b.subscribe(first.onRemote);
    await b.ready();
    const sub = b.subscribe(second.onRemote);
    await b.ready();
    expect(first.keys()).toEqual(['target:t']);
    expect(second.keys()).toEqual(['target:t']);

    await redis.publish(b.channelName, 'not json');
    await redis.publish(b.channelName, JSON.stringify({ o: 'x', k: 'target:t', v: { state: 'open', until: 'soon' } }));
    await a.publish('target:u', { state: 'open', until: clock.now() + 20_000, reason: 'error_rate' });
    await first.count(2);
    expect(first.keys()).toEqual(['target:t', 'target:u']);
    expect(errors.map((e) => [e.code, e.source, e.operation])).toEqual([
      ['ERR_LLMR_REDIS_SYNC', 'breaker', 'message'],
      ['ERR_LLMR_REDIS_SYNC', 'breaker', 'message'],
    ]);
    errors.length = 0;
    sub.dispose();
    sub.dispose(); // idempotent
  });

  it('reloads a state missed while its subscriber was down even when its text repeats an earlier one, and never one it has seen', async () => {
    const clockA = new ManualClock(await redisNow(redis));
    const clockB = new ManualClock(clockA.now());
    const a = processSync(clockA);
    const subscriber = connect({ autoResubscribe: false });
    try {
      await once(subscriber, 'ready');
      const b = processSync(clockB, { subscriber });
      const inbox = new Inbox<BreakerState>();
      b.subscribe(inbox.onRemote);
      await b.ready();

      // A's breaker opens for 30 s (consecutive failures); B hears it.
      await a.publish('target:t', { state: 'open', until: clockA.now() + 30_000, reason: 'consecutive_failures' });
      await inbox.count(1);

      // Ten minutes later B's subscriber drops, while A's breaker opens again, for the same reason and
      // the same 30 s: on the wire ("open for 30 s") the same text as before, but a new publication.
      await clockA.advance(600_000);
      await clockB.advance(600_000);
      subscriber.disconnect();
      await once(subscriber, 'end');
      await a.publish('target:t', { state: 'open', until: clockA.now() + 30_000, reason: 'consecutive_failures' });

      await subscriber.connect();
      await inbox.count(2);
      await resynced(redis, b);
      expect(inbox.received[1]).toEqual(['target:t', { state: 'open', until: expect.any(Number) as number, reason: 'consecutive_failures' }]);
      // The new 30 s (aged with the Redis time since it was stored), not the one that ended long ago.
      const aged = clockB.now() + 30_000 - (inbox.received[1]![1] as { until: number }).until;
      expect(aged).toBeGreaterThanOrEqual(0);
      expect(aged).toBeLessThan(1_000);

      // Another reconnect with nothing new: the stored state was delivered already, not delivered twice.
      subscriber.disconnect();
      await once(subscriber, 'end');
      await subscriber.connect();
      await resynced(redis, b);
      expect(inbox.received).toHaveLength(2);
    } finally {
      subscriber.disconnect();
    }
  });

  it('a weaker change announced while a replica loads does not hide the stronger state Redis holds', async () => {
    const clock = new ManualClock(await redisNow(redis));
    const t0 = clock.now();
    // Process A opened the target for 60 s: stored in Redis.
    await processSync(clock).publish('target:t', { state: 'open', until: t0 + 60_000, reason: 'error_rate' });
    const c = processSync(clock);
    const subscriber = connect();
    try {
      await once(subscriber, 'ready');
      // Process B starts; process C pauses the same target for 5 s (429s) while B loads the stored
      // states. Redis keeps A's open state (open beats paused) but announces C's pause.
      const hooked = withHookBeforeFirstLoad(redis, async () => {
        const arrived = heard(subscriber, '"paused"');
        await c.publish('target:t', { state: 'paused', until: t0 + 5_000 });
        await arrived;
      });
      const b = processSync(clock, { redis: hooked, subscriber });
      const inbox = new Inbox<BreakerState>();
      b.subscribe(inbox.onRemote);
      await b.ready();

      // B hears the pause, then gets the 60 s open state Redis holds (the registry merges by strength).
      expect(inbox.received).toEqual([
        ['target:t', { state: 'paused', until: t0 + 5_000 }],
        ['target:t', { state: 'open', until: expect.any(Number) as number, reason: 'error_rate' }],
      ]);
      const open = inbox.received[1]![1] as { until: number };
      expect(t0 + 60_000 - open.until).toBeGreaterThanOrEqual(0);
      expect(t0 + 60_000 - open.until).toBeLessThan(1_000);
    } finally {
      subscriber.disconnect();
    }
  });

  it('a stronger change announced while a replica loads is delivered once, not again from the stored copy', async () => {
    const clock = new ManualClock(await redisNow(redis));
    const t0 = clock.now();
    await processSync(clock).publish('target:t', { state: 'paused', until: t0 + 5_000 });
    const c = processSync(clock);
    const subscriber = connect();
    try {
      await once(subscriber, 'ready');
      // C opens the target while B loads: Redis stores it (open beats paused) and announces it.
      const hooked = withHookBeforeFirstLoad(redis, async () => {
        const arrived = heard(subscriber, '"open"');
        await c.publish('target:t', { state: 'open', until: t0 + 60_000, reason: 'error_rate' });
        await arrived;
      });
      const b = processSync(clock, { redis: hooked, subscriber });
      const inbox = new Inbox<BreakerState>();
      b.subscribe(inbox.onRemote);
      await b.ready();

      // The stored copy is the publication B heard live: not delivered a second time.
      expect(inbox.received).toEqual([['target:t', { state: 'open', until: t0 + 60_000, reason: 'error_rate' }]]);
    } finally {
      subscriber.disconnect();
    }
  });

  it('lets several instances share one subscriber connection, and never closes it', async () => {
    const clock = new ManualClock(await redisNow(redis));
    const subscriber = connect();
    try {
      const one = processSync(clock, { subscriber });
      const two = processSync(clock, { subscriber });
      const atOne = new Inbox<BreakerState>();
      const atTwo = new Inbox<BreakerState>();
      one.subscribe(atOne.onRemote);
      two.subscribe(atTwo.onRemote);
      await Promise.all([one.ready(), two.ready()]);
      await one.close(); // must not unsubscribe the channel `two` still listens to
      await processSync(clock).publish('target:t', { state: 'open', until: clock.now() + 20_000, reason: 'error_rate' });
      await atTwo.count(1);
      expect(atTwo.keys()).toEqual(['target:t']);
      expect(atOne.received).toEqual([]);
      expect(subscriber.status).toBe('ready');
    } finally {
      subscriber.disconnect();
    }
  });

  it('retries a failed load once the connection is ready again', async () => {
    const clock = new ManualClock(await redisNow(redis));
    await processSync(clock).publish('target:t', { state: 'open', until: clock.now() + 20_000, reason: 'error_rate' });
    const main = connect({ retryStrategy: () => 30 });
    const subscriber = connect();
    try {
      await Promise.all([once(main, 'ready'), once(subscriber, 'ready')]);
      const late = processSync(clock, { redis: main, subscriber });
      main.disconnect(true); // the app's connection drops and reconnects
      await once(main, 'close');
      const inbox = new Inbox<BreakerState>();
      late.subscribe(inbox.onRemote); // subscribes fine, but cannot load yet
      await inbox.count(1);
      expect(inbox.keys()).toEqual(['target:t']);
      expect(errors.map((e) => e.operation)).toEqual(['load']);
      errors.length = 0;
      await late.close();
    } finally {
      main.disconnect();
      subscriber.disconnect();
    }
  });

  it('sends a change Redis did not take once the connection is ready again, if it is still in force', async () => {
    const clock = new ManualClock(await redisNow(redis));
    const t0 = clock.now();
    const other = processSync(clock);
    const inbox = new Inbox<BreakerState>();
    other.subscribe(inbox.onRemote);
    await other.ready();
    const main = connect();
    try {
      await once(main, 'ready');
      const readyListeners = main.listenerCount('ready');
      const sync = processSync(clock, { redis: main });
      main.disconnect(); // this process loses Redis; it is back below
      await once(main, 'end');

      await sync.publish('target:t', { state: 'open', until: t0 + 30_000, reason: 'error_rate' });
      await sync.publish('target:short', { state: 'open', until: t0 + 1_000, reason: 'error_rate' }); // over before Redis is back
      await sync.publish('target:v', { state: 'open', until: t0 + 30_000, reason: 'error_rate' });
      await sync.publish('target:v', { state: 'closed' }); // a newer local change: the kept open state is dropped
      await sync.publish('provider:p', { state: 'paused', until: t0 + 20_000 });
      await sync.publish('provider:p', { state: 'paused', until: t0 + 40_000 }); // the latest is the one sent
      expect(errors.map((e) => e.operation)).toEqual(['publish', 'publish', 'publish', 'publish', 'publish']);
      errors.length = 0;
      clock.advance(2_000);

      await main.connect();
      await pollUntil('the kept changes to arrive', () => inbox.received.length >= 2);
      expect(new Map(inbox.received)).toEqual(
        new Map<string, BreakerState>([
          ['target:t', { state: 'open', until: t0 + 30_000, reason: 'error_rate' }],
          ['provider:p', { state: 'paused', until: t0 + 40_000 }],
        ]),
      );
      // Stored too, for processes that start later (aged with Redis time, which has moved on a little).
      const stored = await other.load();
      expect(stored.map(([k]) => k).sort()).toEqual(['provider:p', 'target:t']);
      for (const [key, state] of stored) {
        const aged = t0 + (key === 'target:t' ? 30_000 : 40_000) - (state as { until: number }).until;
        expect(aged).toBeGreaterThanOrEqual(0);
        expect(aged).toBeLessThan(1_000);
      }
      expect(main.listenerCount('ready')).toBe(readyListeners);

      // Closing drops what is still waiting, and the listener on the app's connection.
      main.disconnect();
      await once(main, 'end');
      await sync.publish('target:w', { state: 'open', until: clock.now() + 30_000, reason: 'error_rate' });
      expect(main.listenerCount('ready')).toBe(readyListeners + 1);
      errors.length = 0;
      await sync.close();
      expect(main.listenerCount('ready')).toBe(readyListeners);
      await main.connect();
      await sync.publish('target:x', { state: 'open', until: clock.now() + 30_000, reason: 'error_rate' }); // a write after close still goes out
      expect((await other.load()).map(([k]) => k).sort()).toEqual(['provider:p', 'target:t', 'target:x']);
    } finally {
      main.disconnect();
    }
  });

  it('never throws when Redis is unreachable: publish, subscribe and load failures go to onError', async () => {
    const port = await sparePort();
    const dead = new IORedis(port, '127.0.0.1', { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false });
    try {
      const clock = new ManualClock(Date.now());
      const sync = processSync(clock, { redis: dead, timeoutMs: 200 });
      await expect(sync.publish('target:t', { state: 'open', until: clock.now() + 1000, reason: 'error_rate' })).resolves.toBeUndefined();
      const sub = sync.subscribe(() => undefined);
      await sync.ready();
      await expect(sync.load()).rejects.toBeDefined();
      expect(errors.length).toBeGreaterThanOrEqual(2);
      expect(errors.every((e) => e instanceof RedisSyncError && e.kind === 'unknown')).toBe(true);
      expect(new Set(errors.map((e) => e.operation))).toEqual(new Set(['publish', 'subscribe']));
      expect(errors[0]!.message).toMatch(/keeps working on its own state/);
      sub.dispose();
      errors.length = 0;
    } finally {
      dead.disconnect();
    }
  });

  it('validates its options at construction', () => {
    expect(() => new RedisBreakerSync({ redis: {} as never })).toThrow(RedisStoreConfigError);
    expect(() => new RedisBreakerSync({ redis, timeoutMs: 0 })).toThrow(/timeoutMs/);
    expect(() => new RedisBreakerSync({ redis, subscriber: {} as never })).toThrow(/subscriber/);
  });
});
