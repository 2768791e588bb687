import { createResilience, definePolicy, RateLimitExceededError, type AttemptContext, type RateLimitSnapshot, type Resilience } from '@llm-resilience/core';
import IORedis from 'ioredis';
import type Redis from 'ioredis';
import { createRedisResilienceState, type RedisResilienceState, type RedisSyncError } from '../src/index';
import { connect, deleteKeys, Inbox, RedisServerProcess, sparePort, uniquePrefix } from './redisTestUtils';

const DAY = 86_400_000;

/** Two targets on two providers; 1000 $/M tokens, so 100 in + 100 out = $0.20; $1 per tenant per day. */
const policy = definePolicy(
  {
    targets: {
      primary: { provider: 'alpha', model: 'alpha-1', price: { input: 1000, output: 1000 } },
      backup: { provider: 'beta', model: 'beta-1', price: { input: 1000, output: 1000 } },
    },
    routes: { chat: { chain: ['primary', 'backup'], retry: { maxAttempts: 2, perKind: { overloaded: 0 } } } },
    budgets: [{ scope: ['tenant'], limitUsd: 1, window: '1d' }],
  },
  { onWarning: () => undefined },
);

/**
 * Resolves when `client` is connected and ready. Not `once(client, 'ready')`: that rejects on the
 * client's next 'error' event, and a reconnecting client emits one per failed attempt (one racing the
 * server's start included).
 */
function ready(client: Redis): Promise<unknown> {
  return client.status === 'ready' ? Promise.resolve() : new Promise((resolve) => client.once('ready', resolve));
}

/** A provider answering 503. */
function overloaded(): Error {
  return Object.assign(new Error('service unavailable'), { status: 503 });
}

/** One replica: its own ioredis connection, its own shared-state objects, its own engine. */
interface Replica {
  redis: Redis;
  shared: RedisResilienceState;
  engine: Resilience;
  /** Targets this replica's calls were sent to, in order. */
  calls: string[];
  syncErrors: RedisSyncError[];
}

describe('engines sharing limits, budgets, breakers and pacing over Redis', () => {
  let prefix: string;
  const replicas: Replica[] = [];

  /** `spread`: the engine gets `{ ...shared }` instead of the three parts one by one. */
  function replica(redis: Redis = connect(), extra: { subscriber?: Redis; timeoutMs?: number; localFraction?: number; spread?: boolean } = {}): Replica {
    const syncErrors: RedisSyncError[] = [];
    const { spread, ...stateOptions } = extra;
    const shared = createRedisResilienceState({ redis, prefix, timeoutMs: extra.timeoutMs ?? 2000, onSyncError: (e) => syncErrors.push(e), ...stateOptions });
    const engine = createResilience(policy, spread ? { ...shared } : { store: shared.store, breakerSync: shared.breakerSync, pacingSync: shared.pacingSync });
    const r = { redis, shared, engine, calls: [], syncErrors };
    replicas.push(r);
    return r;
  }

  /** A call whose primary fails with 503 (or reports headers), recording where it went. */
  function call(r: Replica, options: { primaryFails?: boolean; headers?: Record<string, string>; usage?: { inputTokens: number; outputTokens: number } } = {}) {
    return async (target: { id: string }, ctx: AttemptContext) => {
      r.calls.push(target.id);
      if (options.headers) ctx.reportHeaders(options.headers);
      if (options.usage) ctx.reportUsage(options.usage);
      if (target.id === 'primary' && options.primaryFails) throw overloaded();
      return `answer from ${target.id}`;
    };
  }

  beforeEach(() => {
    prefix = uniquePrefix('engines');
  });
  afterEach(async () => {
    const all = replicas.splice(0);
    for (const r of all) {
      await r.engine.shutdown();
      await r.shared.close();
    }
    const cleaner = connect();
    await deleteKeys(cleaner, `{${prefix}}:*`);
    await cleaner.quit();
    for (const r of all) r.redis.disconnect();
  });

  it('a breaker opened by one engine makes the others, including one started later, skip the target', async () => {
    const a = replica();
    const b = replica();
    await Promise.all([a.shared.ready(), b.shared.ready()]);
    const bSawOpen = new Promise<void>((resolve) =>
      b.engine.events.on('breaker', (e) => {
        if (e.key === 'target:primary' && e.to === 'open') resolve();
      }),
    );

    // Five consecutive 503s open A's breaker on `primary` (each request falls back to `backup`).
    for (let i = 0; i < 5; i++) {
      const { record } = await a.engine.execute({ route: 'chat', inputTokens: 10 }, call(a, { primaryFails: true }));
      expect(record.final_target).toBe('backup');
    }
    expect(a.engine.breakers.stateOf('primary')).toBe('open');
    await bSawOpen;

    const atB = await b.engine.execute({ route: 'chat', inputTokens: 10 }, call(b));
    expect(atB.record.skipped).toEqual([expect.objectContaining({ target: 'primary', reason: 'breaker_open' })]);
    expect(b.calls).toEqual(['backup']); // B never called the failing target

    // A replica that starts now loads the stored open state before its first request. Its engine gets
    // the state spread into its options: only the three parts are enumerable.
    const c = replica(connect(), { spread: true });
    expect(Object.keys(c.shared)).toEqual(['store', 'breakerSync', 'pacingSync']);
    expect(c.engine.store).toBe(c.shared.store);
    await c.shared.ready();
    const atC = await c.engine.execute({ route: 'chat', inputTokens: 10 }, call(c));
    expect(atC.record.skipped).toEqual([expect.objectContaining({ target: 'primary', reason: 'breaker_open' })]);
    expect(c.calls).toEqual(['backup']);
    expect([...a.syncErrors, ...b.syncErrors, ...c.syncErrors]).toEqual([]);
  });

  it('quota headers seen by one engine hold the others back', async () => {
    const a = replica();
    const b = replica();
    await Promise.all([a.shared.ready(), b.shared.ready()]);
    const atB = new Inbox<RateLimitSnapshot>();
    b.shared.pacingSync.subscribe(atB.onRemote);
    await b.shared.ready();

    // The provider tells A its request quota is spent; it refills over 10 minutes (longer than B may wait).
    const headers = { 'x-ratelimit-limit-requests': '100', 'x-ratelimit-remaining-requests': '0', 'x-ratelimit-reset-requests': '10m' };
    await a.engine.execute({ route: 'chat', inputTokens: 10 }, call(a, { headers }));
    await atB.count(1);
    expect(b.engine.pacingOf('primary')).toMatchObject({ limitRequests: 100, remainingRequests: 0 });

    const res = await b.engine.execute({ route: 'chat', inputTokens: 10 }, call(b));
    expect(res.record.skipped).toEqual([expect.objectContaining({ target: 'primary', reason: 'paced' })]);
    expect(b.calls).toEqual(['backup']);
  });

  it('a spend budget consumed through one engine denies the others, per tenant, for the window', async () => {
    const a = replica();
    const b = replica();
    const request = { route: 'chat', identity: { tenant: 'acme' }, inputTokens: 100, maxOutputTokens: 100 };
    // A reserves $0.20; the call used far more output than estimated: settle charges the extra ($1.00 in all).
    const first = await a.engine.execute(request, call(a, { usage: { inputTokens: 100, outputTokens: 900 } }));
    expect(first.record.actual_cost).toBeCloseTo(1, 12);

    const key = (await a.redis.keys(`{${prefix}}:w:*`))[0]!;
    expect(key).toContain('tenant=acme');
    expect(Number(await a.redis.get(key))).toBeCloseTo(1, 12);
    expect(await a.redis.pttl(key)).toBeGreaterThan(DAY - 60_000); // lives at least the window

    const denied = b.engine.execute(request, call(b));
    await expect(denied).rejects.toBeInstanceOf(RateLimitExceededError);
    await expect(denied).rejects.toMatchObject({ code: 'ERR_LLMR_LIMIT_EXCEEDED', ruleId: 'budget:tenant:86400000' });
    expect(b.calls).toEqual([]);
    // Another tenant has its own budget.
    await b.engine.execute({ ...request, identity: { tenant: 'globex' } }, call(b));
    expect(b.calls).toEqual(['primary']);
  });

  describe('when Redis goes away', () => {
    let server: RedisServerProcess;

    beforeAll(async () => {
      server = new RedisServerProcess(await sparePort());
      await server.start();
    });
    afterAll(async () => {
      await server.dispose();
    });

    it('engines keep working locally, the syncs report errors, and sharing resumes when Redis is back', async () => {
      const client = (options: { autoResubscribe?: boolean } = {}) => {
        const c = new IORedis(server.port, '127.0.0.1', { retryStrategy: () => 50, maxRetriesPerRequest: 1, ...options });
        c.on('error', () => undefined); // the app's logger
        return c;
      };
      // The syncs resubscribe by themselves on every `ready`. ioredis' own resubscription is a command
      // whose promise nobody handles: closed before its reply (disconnect() at the end of this test),
      // it rejects unhandled with `Connection is closed.` (what the connections the syncs create avoid).
      const subscriberA = client({ autoResubscribe: false });
      const subscriberB = client({ autoResubscribe: false });
      // A third replica with the default subscriber (created and owned by the shared state).
      let subscriberDown!: () => void;
      const cErrors = new Promise<void>((resolve) => (subscriberDown = resolve));
      const cSubscriberErrors: RedisSyncError[] = [];
      const cRedis = client();
      const c = createRedisResilienceState({
        redis: cRedis,
        prefix,
        onSyncError: (e) => {
          if (e.source !== 'subscriber') return;
          cSubscriberErrors.push(e);
          subscriberDown();
        },
      });
      c.breakerSync.subscribe(() => undefined);
      try {
        await c.ready();
        // Fail-open with the whole limit locally (one replica per tenant here, in effect).
        const a = replica(client(), { subscriber: subscriberA, timeoutMs: 300, localFraction: 1 });
        const b = replica(client(), { subscriber: subscriberB, timeoutMs: 300, localFraction: 1 });
        await Promise.all([a.shared.ready(), b.shared.ready()]);
        const request = { route: 'chat', identity: { tenant: 'acme' }, inputTokens: 10, maxOutputTokens: 100 }; // $0.11

        await server.stop();
        // Both engines keep serving: breakers open locally, budgets decided by the local fallback.
        for (let i = 0; i < 5; i++) {
          const { record } = await a.engine.execute(request, call(a, { primaryFails: true }));
          expect(record.outcome).toBe('success');
        }
        expect(a.engine.breakers.stateOf('primary')).toBe('open');
        expect(a.shared.store.health).toBe('down');
        const atB = await b.engine.execute(request, call(b));
        expect(atB.record.outcome).toBe('success');
        // The lost subscriber connection is reported too (once per outage, not per reconnect attempt).
        await cErrors;
        // The open breaker could not be shared: reported, not thrown.
        expect(a.syncErrors.some((e) => e.source === 'breaker' && e.operation === 'publish')).toBe(true);
        expect(a.syncErrors.every((e) => e.code === 'ERR_LLMR_REDIS_SYNC')).toBe(true);

        // Redis is back: the subscriber reconnects and resubscribes by itself, and new changes flow again.
        await server.start();
        await Promise.all([ready(subscriberB), ready(a.redis)]);
        await b.shared.ready();
        const atBPacing = new Inbox<RateLimitSnapshot>();
        b.shared.pacingSync.subscribe(atBPacing.onRemote);
        await b.shared.ready();
        // (A's breaker on `primary` is still open locally: this call goes to `backup`.)
        const headers = { 'x-ratelimit-limit-requests': '100', 'x-ratelimit-remaining-requests': '0', 'x-ratelimit-reset-requests': '30s' };
        await a.engine.execute({ route: 'chat', inputTokens: 10 }, call(a, { headers }));
        await atBPacing.count(1);
        expect(atBPacing.keys()).toEqual(['backup']);
        expect(b.engine.pacingOf('backup')).toMatchObject({ remainingRequests: 0 });
        expect(cSubscriberErrors).toHaveLength(1); // one report for the outage, not one per reconnect attempt
        // Every replica resubscribed, nothing left in flight on the connections closed below.
        await Promise.all([ready(subscriberA), ready(cRedis)]);
        await Promise.all([a.shared.ready(), b.shared.ready(), c.ready()]);
      } finally {
        await c.close();
        cRedis.disconnect();
        subscriberA.disconnect();
        subscriberB.disconnect();
      }
    });
  });
});
