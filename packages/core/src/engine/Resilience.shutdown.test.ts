import type { ManualClock } from '../clock';
import { ChainExhaustedError } from '../errors/ChainExhaustedError';
import { limitKey } from '../limits/limitKey';
import { MemoryLimiterStore } from '../limits/MemoryLimiterStore';
import type { LimitAdjustment, LimitCharge, LimiterStore } from '../limits/LimiterStore';
import { QueueRejectedError } from '../scheduler/QueueRejectedError';
import { http, scripted, setup } from './engineTestKit';

/*
 * `engine.shutdown()` leaves no request behind: one being admitted when it is called, and one waiting
 * to run its chain again (`onExhausted: 'queue'`), are rejected as queued work is.
 */

/** A store that answers like a remote one (Redis): every call takes `latencyMs` on the clock. */
function slowStore(clock: () => ManualClock, latencyMs: number): LimiterStore & { memory: () => MemoryLimiterStore } {
  let inner: MemoryLimiterStore | undefined;
  const memory = () => (inner ??= new MemoryLimiterStore({ clock: clock() }));
  return {
    memory,
    reserve: async (charges: readonly LimitCharge[]) => {
      await clock().sleep(latencyMs);
      return memory().reserve(charges);
    },
    adjust: async (adjustments: readonly LimitAdjustment[]) => {
      await clock().sleep(latencyMs);
      return memory().adjust(adjustments);
    },
  };
}

describe('Resilience.shutdown', () => {
  it('rejects a request whose admission the store was still answering, and gives back what it reserved', async () => {
    let clock!: ManualClock;
    const store = slowStore(() => clock, 50);
    const rule = { id: 'user-rpm', scope: ['user'] as Array<'user'>, metric: 'requests' as const, limit: 100, window: '1m' as const };
    const env = setup({ limits: [rule] }, { chat: { chain: ['a'] } }, { store });
    const held = () => store.memory().usage([{ key: limitKey(rule, { user: 'u1' })!, kind: 'rate', limit: 100, windowMs: 60_000, amount: 0 }])[0];
    clock = env.clock;
    const { fn, calls } = scripted({});
    const outcome = env.engine.execute({ route: 'chat', identity: { user: 'u1' }, inputTokens: 10 }, fn).catch((e: unknown) => e);
    await clock.advance(10); // the reservation is in flight (answers at 50)
    expect(held()).toBe(0);
    const shutdown = env.engine.shutdown();
    await clock.advance(100);
    await shutdown;
    const err = await outcome;
    expect(err).toBeInstanceOf(QueueRejectedError);
    expect(err).toMatchObject({ reason: 'shutdown' });
    expect(calls).toEqual([]);
    // The request count it reserved (charged at t=50) went back to the store.
    expect(held()).toBe(0);
  });

  it("ends the wait of a requeued chain (onExhausted: 'queue'): rejected with the chain's error, and a queue event says shutdown", async () => {
    const { engine, clock } = setup({}, { summary: { chain: ['long'], priority: 'batch', onExhausted: 'queue' } });
    const { fn, calls } = scripted({ long: [http(503), http(503), http(503)] });
    const events: string[] = [];
    engine.events.on('queue', (e) => events.push(`${e.event}:${e.reason ?? ''}`));
    const outcome = engine.execute({ route: 'summary', inputTokens: 10 }, fn).catch((e: unknown) => e);
    await clock.advance(1_000); // 503, backoff, 503: the chain is exhausted and waits to run again
    expect(events).toEqual(['enqueued:exhausted']);
    const before = calls.length;
    await engine.shutdown();
    const err = await outcome;
    expect(err).toBeInstanceOf(ChainExhaustedError);
    expect(err).toMatchObject({ kind: 'overloaded' });
    expect(events).toEqual(['enqueued:exhausted', 'rejected:shutdown']);
    await clock.advance(60_000);
    expect(calls.length).toBe(before);
  });

  it('rejects a queue of many tenants in linear time: the depth of each queue event is a counter, not a walk of every queue', async () => {
    const { engine, clock } = setup({ limits: [{ scope: ['route'], metric: 'requests', limit: 10, window: '10m' }] }, { bulk: { chain: ['a'], priority: 'batch' } });
    const { fn } = scripted({});
    const n = 2_000;
    const pending: Array<Promise<unknown>> = [];
    for (let i = 0; i < n; i++) pending.push(engine.execute({ route: 'bulk', identity: { tenant: `t${i}` }, inputTokens: 10 }, fn).catch((e: unknown) => e));
    await clock.advance(0);
    // Batch may use 8 of the 10 (a 20% headroom is kept for live traffic): the rest queue.
    const queued = engine.scheduler.queuedOf('batch');
    expect(queued).toBe(n - 8);
    expect(queued).toBe(engine.scheduler.stats().classes.batch!.queued);
    const depths: number[] = [];
    engine.events.on('queue', (e) => e.event === 'rejected' && depths.push(e.depth));
    let walks = 0;
    const stats = engine.scheduler.stats.bind(engine.scheduler);
    engine.scheduler.stats = () => {
      walks++;
      return stats();
    };
    await engine.shutdown();
    const rejected = (await Promise.all(pending)).filter((r) => r instanceof QueueRejectedError);
    expect(rejected).toHaveLength(queued);
    expect(walks).toBe(0);
    expect(depths[depths.length - 1]).toBe(0);
  });

  const rule = { id: 'user-rpm', scope: ['user'] as Array<'user'>, metric: 'requests' as const, limit: 100, window: '1m' as const };

  it("refuses, with budgets too (the scheduler's own fast path), a request whose reservation is in flight at shutdown()", async () => {
    let clock!: ManualClock;
    const store = slowStore(() => clock, 50);
    const env = setup({ limits: [rule], budgets: [{ id: 'daily', scope: ['tenant'], limitUsd: 10, window: '1d' }] }, { chat: { chain: ['a'] } }, { store });
    clock = env.clock;
    const { fn, calls } = scripted({});
    const outcome = env.engine.execute({ route: 'chat', identity: { user: 'u1', tenant: 't1' }, inputTokens: 10 }, fn).catch((e: unknown) => e);
    // Move until the scheduler's fast-path tryAdmit (budget + limit reservation) is in flight.
    const sched = env.engine.scheduler as unknown as { fastInFlight: number };
    for (let i = 0; i < 50 && sched.fastInFlight === 0; i++) await clock.advance(10);
    expect(sched.fastInFlight).toBe(1);
    const shutdown = env.engine.shutdown();
    await clock.advance(1_000);
    await shutdown;
    const err = await outcome;
    expect(calls).toEqual([]);
    expect(err).toBeInstanceOf(QueueRejectedError);
  });

  it('resolves only once an admission in flight is settled and its reservation given back', async () => {
    let clock!: ManualClock;
    const store = slowStore(() => clock, 50);
    const env = setup({ limits: [rule] }, { chat: { chain: ['a'] } }, { store });
    clock = env.clock;
    const held = () => store.memory().usage([{ key: limitKey(rule, { user: 'u1' })!, kind: 'rate', limit: 100, windowMs: 60_000, amount: 0 }])[0];
    const { fn } = scripted({});
    let settled = false;
    const outcome = env.engine.execute({ route: 'chat', identity: { user: 'u1' }, inputTokens: 10 }, fn).catch((e: unknown) => e).finally(() => (settled = true));
    await clock.advance(10); // the engine's own fast-path reservation is in flight (answers at 50)
    let heldAtResolve: number | undefined;
    let settledAtResolve: boolean | undefined;
    const shutdown = env.engine.shutdown().then(() => {
      heldAtResolve = held();
      settledAtResolve = settled;
    });
    await clock.advance(1_000);
    await shutdown;
    await outcome;
    expect(settledAtResolve).toBe(true);
    expect(heldAtResolve).toBe(0);
  });
});
