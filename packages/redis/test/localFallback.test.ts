import { once } from 'node:events';
import IORedis from 'ioredis';
import { createResilience, definePolicy, ManualClock, type LimitCharge } from '@llm-resilience/core';
import { RedisLimiterStore, type RedisStoreEvent } from '../src/index';
import { connect, ConnectionHoldingProxy, deleteKeys, pollUntil, uniquePrefix } from './redisTestUtils';

/**
 * fail-open while this process cannot reach Redis: the local fallback admits a fraction of each limit,
 * never "never" for what fits the real limit, and never more than its share because of reservations
 * that were made on Redis.
 */
describe('fail-open: the local fallback while Redis is unreachable', () => {
  let proxy: ConnectionHoldingProxy & { port: number };
  let app: IORedis;
  let admin: IORedis;
  beforeAll(async () => {
    proxy = await ConnectionHoldingProxy.start();
    // The application's client, through the proxy: reconnects quickly, as ioredis does by default.
    app = new IORedis(proxy.port, '127.0.0.1', { retryStrategy: () => 20 });
    app.on('error', () => undefined);
    admin = connect();
    await Promise.all([once(app, 'ready'), once(admin, 'ready')]);
  });
  afterAll(async () => {
    app.disconnect();
    await admin.quit();
    await proxy.stop();
  });

  /** A store on the app's client: scripts loaded, then Redis unreachable (the client reconnects, held). */
  async function storeCutOff(label: string, extra: Partial<ConstructorParameters<typeof RedisLimiterStore>[0]> = {}) {
    const clock = new ManualClock(Date.now());
    const store = new RedisLimiterStore({ redis: app, prefix: uniquePrefix(label), timeoutMs: 200, clock, ...extra });
    await store.load();
    const cut = async () => {
      proxy.cutAndHold();
      await pollUntil('the client to reconnect', () => app.status !== 'ready', 5000, 5);
    };
    const restore = async () => {
      proxy.release();
      await pollUntil('the client to be ready', () => app.status === 'ready', 5000, 5);
      store.close();
      await deleteKeys(admin, store.keyspace.pattern());
    };
    return { store, clock, cut, restore };
  }

  it.each([
    ['a token rate limit', { key: 'tpm|team=t1', kind: 'rate', limit: 90_000, windowMs: 60_000, amount: 30_000 }],
    ['a daily spend budget', { key: 'budget|tenant=acme|w=20000', kind: 'concurrency', limit: 50, windowMs: 86_400_000, amount: 20 }],
  ] as Array<[string, LimitCharge]>)(
    'admits a request that fits %s but not the local share once, then waits a finite time, never "never"',
    async (_label, charge) => {
      const { store, cut, restore } = await storeCutOff('fallback-share');
      try {
        await cut();
        // Fits the limit, exceeds localFraction (0.25) of it: nothing is held locally, so it passes.
        expect((await store.reserve([charge])).ok).toBe(true);
        expect(store.health).toBe('down');
        // The local share is now in debt: the next one waits (until the debt is paid back, or the
        // budget's window ends), a finite time.
        const next = await store.reserve([charge]);
        expect(next.ok).toBe(false);
        if (next.ok) return;
        expect(next.retryAfterMs).toBeGreaterThan(0);
        expect(next.retryAfterMs).toBeLessThan(Infinity);
        // More than the real limit can never pass, on Redis either.
        expect(await store.reserve([{ ...charge, amount: charge.limit * 2 }])).toMatchObject({ ok: false, retryAfterMs: Infinity });
      } finally {
        await restore();
      }
    },
    10_000,
  );

  it('runs a batch request that fits its budget but not the local share, instead of rejecting it as one that can never pass', async () => {
    const { store, clock, cut, restore } = await storeCutOff('fallback-engine');
    const policy = definePolicy(
      {
        targets: { a: { provider: 'alpha', model: 'alpha-1', price: { input: 1000, output: 1000 } } },
        routes: { bulk: { chain: ['a'], priority: 'batch', onExhausted: 'queue' } },
        budgets: [{ scope: ['tenant'], limitUsd: 1, window: '1d' }],
      },
      { onWarning: () => undefined },
    );
    const engine = createResilience(policy, { store, clock });
    try {
      await cut();
      // $0.40 worst case against $1 a day: $0.25 locally (localFraction 0.25), nothing spent yet here.
      const done = await engine.execute({ route: 'bulk', identity: { tenant: 'acme' }, inputTokens: 200, maxOutputTokens: 200 }, async () => 'ok');
      expect(done.value).toBe('ok');
      expect(store.health).toBe('down');
    } finally {
      await engine.shutdown().catch(() => undefined);
      await restore();
    }
  }, 10_000);

  it('admits no more than localFraction locally, whatever reservations made on Redis give back', async () => {
    const events: RedisStoreEvent[] = [];
    const { store, cut, restore } = await storeCutOff('fallback-refund', { localFraction: 0.5, onEvent: (e) => events.push(e) });
    // 1000 tokens, 2 slots and $2 a day; locally half of each. Nothing refills noticeably (manual clock).
    const tpm = (amount: number): LimitCharge => ({ key: 'tpm|team=t1', kind: 'rate', limit: 1000, windowMs: 3_600_000, amount });
    const slot: LimitCharge = { key: 'inflight|team=t1', kind: 'concurrency', limit: 2, windowMs: 0, amount: 1 };
    const spend = (amount: number): LimitCharge => ({ key: 'budget|team=t1|w=1', kind: 'concurrency', limit: 2, windowMs: 86_400_000, amount });
    try {
      // Up: a call reserves a 400-token estimate, a slot and $0.80 on Redis.
      const before = await store.reserve([tpm(400), slot, spend(0.8)]);
      expect(before.ok).toBe(true);
      if (!before.ok) return;

      await cut();
      // Local fallback: 500 tokens, 1 slot and $1 admitted, then full.
      let tokens = 0;
      for (let i = 0; i < 10; i++) if ((await store.reserve([tpm(100)])).ok) tokens += 100;
      expect(store.health).toBe('down');
      expect(tokens).toBe(500);
      expect((await store.reserve([slot])).ok).toBe(true);
      expect((await store.reserve([spend(1)])).ok).toBe(true);

      // The pre-outage call ends having used nothing: refund, release, budget correction, with its marks.
      const settle = [
        { ...tpm(0), delta: -400, mark: before.marks?.[0] },
        { ...slot, delta: -1, mark: before.marks?.[1] },
        { ...spend(0), delta: -0.8, mark: before.marks?.[2] },
      ];
      await store.adjust(settle);
      // The local fallback gained nothing from charges it never held.
      for (let i = 0; i < 10; i++) if ((await store.reserve([tpm(100)])).ok) tokens += 100;
      expect(tokens).toBe(500);
      expect(await store.reserve([slot])).toMatchObject({ ok: false, retryAfterMs: 250 });
      expect(await store.reserve([spend(0.01)])).toMatchObject({ ok: false });
      // The slot's release waits for Redis (its lease is held there); refunds are dropped, reported.
      expect(events.filter((e) => e.type === 'releasesQueued')).toEqual([expect.objectContaining({ count: 1 })]);
      expect(events.filter((e) => e.type === 'adjustDropped')).toEqual([expect.objectContaining({ count: 2 })]);

      // An extra charge of a reservation made on Redis is this process' usage: it counts locally too.
      const usedBefore = (await store.usage([tpm(0)]))[0]!;
      await store.adjust([{ ...tpm(0), delta: 50, mark: before.marks?.[0] }]);
      expect((await store.usage([tpm(0)]))[0]).toBeCloseTo(usedBefore + 50, 6);
    } finally {
      await restore();
    }
  }, 10_000);
});
