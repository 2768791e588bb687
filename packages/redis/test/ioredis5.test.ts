import { once } from 'node:events';
import { createResilience, definePolicy, RateLimitExceededError, type AttemptContext, type LimitCharge } from '@llm-resilience/core';
import IORedis5 from 'ioredis5';
import { createRedisResilienceState, RedisLimiterStore, type RedisClient, type RedisResilienceState, type RedisStoreEvent } from '../src/index';
import { connect, deleteKeys, pollUntil, REDIS_URL, uniquePrefix } from './redisTestUtils';

/**
 * The peer range is `ioredis ^5.0.0 || ^6.0.0`; the other tests use ioredis 6. These run the store
 * and the shared state on an ioredis 5 client (installed beside 6 under the alias `ioredis5`), and a
 * fleet mixing both. Applications on ioredis 5 import its own types from `ioredis`; here the client is
 * cast to the ioredis 6 types the package was compiled against.
 */
function connect5(): IORedis5 {
  const c = new IORedis5(REDIS_URL, { maxRetriesPerRequest: 2, retryStrategy: () => 50 });
  c.on('error', () => undefined); // the application's logger
  return c;
}
const asClient = (c: IORedis5) => c as unknown as RedisClient;

const policy = definePolicy(
  {
    targets: {
      primary: { provider: 'alpha', model: 'alpha-1', price: { input: 1000, output: 1000 } },
      backup: { provider: 'beta', model: 'beta-1', price: { input: 1000, output: 1000 } },
    },
    routes: { chat: { chain: ['primary', 'backup'], retry: { maxAttempts: 2, perKind: { overloaded: 0 } } } },
    budgets: [{ scope: ['tenant'], limitUsd: 0.5, window: '1d' }],
    limits: [{ id: 'tenant-inflight', scope: ['tenant'], metric: 'concurrency', limit: 1 }],
  },
  { onWarning: () => undefined },
);

describe('ioredis 5', () => {
  let prefix: string;
  const clients: Array<{ disconnect(): void }> = [];
  const states: RedisResilienceState[] = [];

  beforeEach(() => {
    prefix = uniquePrefix('ioredis5');
  });
  afterEach(async () => {
    for (const s of states.splice(0)) await s.close();
    const cleaner = connect();
    await deleteKeys(cleaner, `{${prefix}}:*`);
    await cleaner.quit();
    for (const c of clients.splice(0)) c.disconnect();
  });

  it('reserves, refunds and releases on the same keys as a store on ioredis 6', async () => {
    const c5 = connect5();
    const c6 = connect();
    clients.push(c5, c6);
    const on5 = new RedisLimiterStore({ redis: asClient(c5), prefix, timeoutMs: 2000 });
    const on6 = new RedisLimiterStore({ redis: c6, prefix, timeoutMs: 2000 });
    const rpm: LimitCharge = { key: 'user=u1', kind: 'rate', limit: 10, windowMs: 60_000, amount: 4 };
    const slot: LimitCharge = { key: 'tenant=acme', kind: 'concurrency', limit: 1, windowMs: 0, amount: 1 };

    const first = await on5.reserve([rpm, slot]);
    expect(first).toMatchObject({ ok: true, states: [{ remaining: 6 }, { remaining: 0 }] });
    expect(await on6.peek([rpm, slot])).toMatchObject([{ remaining: 6 }, { remaining: 0 }]);
    expect(await on6.reserve([slot])).toMatchObject({ ok: false, index: 0 });

    // Settled on ioredis 5 with the marks it got: the refund and the release are seen on ioredis 6.
    const marks = first.ok ? first.marks : undefined;
    await on5.adjust([
      { ...rpm, delta: -3, mark: marks?.[0] },
      { ...slot, delta: -1, mark: marks?.[1] },
    ]);
    expect(await on6.peek([rpm, slot])).toMatchObject([{ remaining: 9 }, { remaining: 1 }]);

    // Scripts flushed from Redis (a restart, a failover): the store loads them again by itself.
    await c6.script('FLUSH');
    expect(await on5.reserve([rpm])).toMatchObject({ ok: true, states: [{ remaining: 5 }] });
  });

  it('an ioredis 5 connection that drops: decided locally, then back on Redis with its kept release sent', async () => {
    const c5 = connect5();
    const c6 = connect();
    clients.push(c5, c6);
    await once(c5, 'ready');
    const events: RedisStoreEvent[] = [];
    const on5 = new RedisLimiterStore({ redis: asClient(c5), prefix, timeoutMs: 300, localFraction: 1, probeBackoffMs: { initial: 20, max: 50 }, onEvent: (e) => events.push(e) });
    const on6 = new RedisLimiterStore({ redis: c6, prefix, timeoutMs: 2000 });
    const slot: LimitCharge = { key: 'tenant=acme', kind: 'concurrency', limit: 1, windowMs: 0, amount: 1 };
    const taken = await on5.reserve([slot]);
    expect(taken.ok).toBe(true);

    c5.disconnect();
    await on5.adjust([{ ...slot, delta: -1, mark: taken.ok ? taken.marks?.[0] : undefined }]);
    expect(await on5.reserve([{ key: 'user=u1', kind: 'rate', limit: 10, windowMs: 60_000, amount: 1 }])).toMatchObject({ ok: true });
    expect(on5.health).toBe('down');
    expect(events.map((e) => e.type)).toEqual(['unavailable', 'releasesQueued']);

    await c5.connect();
    await pollUntil('the store to be back on Redis', async () => {
      if (on5.health === 'up') return true;
      await on5.peek([slot]);
      return false;
    });
    await pollUntil("a 'releasesReplayed' event", () => events.some((e) => e.type === 'releasesReplayed'));
    expect(await on6.reserve([slot])).toMatchObject({ ok: true });
  });

  it('engines on ioredis 5 and 6 share breakers and budgets', async () => {
    const replica = (redis: RedisClient) => {
      const shared = createRedisResilienceState({ redis, prefix, timeoutMs: 2000 });
      states.push(shared);
      return { shared, engine: createResilience(policy, { ...shared }) };
    };
    const c5 = connect5();
    const c6 = connect();
    clients.push(c5, c6);
    const a = replica(asClient(c5));
    const b = replica(c6);
    await Promise.all([a.shared.ready(), b.shared.ready()]);
    const bSawOpen = new Promise<void>((resolve) =>
      b.engine.events.on('breaker', (e) => {
        if (e.key === 'target:primary' && e.to === 'open') resolve();
      }),
    );
    const calls: string[] = [];
    const call = (fail: boolean) => async (target: { id: string }, ctx: AttemptContext) => {
      calls.push(target.id);
      ctx.reportUsage({ inputTokens: 10, outputTokens: 10 });
      if (fail && target.id === 'primary') throw Object.assign(new Error('service unavailable'), { status: 503 });
      return target.id;
    };

    // The engine on ioredis 5 opens the breaker on `primary`; the one on ioredis 6 hears of it.
    for (let i = 0; i < 5; i++) await a.engine.execute({ route: 'chat', identity: { tenant: `t${i}` }, inputTokens: 10, maxOutputTokens: 10 }, call(true));
    await bSawOpen;
    calls.length = 0;
    const atB = await b.engine.execute({ route: 'chat', identity: { tenant: 'other' }, inputTokens: 10, maxOutputTokens: 10 }, call(false));
    expect(atB.value).toBe('backup');
    expect(calls).toEqual(['backup']);

    // $0.50 per tenant per day: 10 + 10 tokens at $1000/M is $0.02 a request; one costly request on 5 spends it.
    const spend = { route: 'chat', identity: { tenant: 'acme' }, inputTokens: 10, maxOutputTokens: 10 };
    await a.engine.execute(spend, async (_t, ctx) => {
      ctx.reportUsage({ inputTokens: 250, outputTokens: 250 });
      return 'costly';
    });
    const denied = b.engine.execute(spend, call(false));
    await expect(denied).rejects.toBeInstanceOf(RateLimitExceededError);
    await expect(denied).rejects.toMatchObject({ ruleId: 'budget:tenant:86400000' });
    await a.engine.shutdown();
    await b.engine.shutdown();
  });
});
