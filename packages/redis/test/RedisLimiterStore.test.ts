import { Limiter, ManualClock, MemoryLimiterStore } from '@llm-resilience/core';
import type { LimitAdjustment, LimitCharge, LimitState, ReserveResult } from '@llm-resilience/core';
import IORedis from 'ioredis';
import type Redis from 'ioredis';
import { RedisKeyError, RedisLimiterStore, RedisStoreConfigError, RedisUnavailableError, type RedisStoreEvent } from '../src/index';
import { ADJUST_LUA, ADJUST_RUN_TTL_MS, RESERVE_LUA } from '../src/limiterScripts';
import type { ScriptClient } from '../src/redisClient';
import { RedisScript } from '../src/RedisScript';
import { connect, deleteKeys, RedisServerProcess, redisNow, sparePort, uniquePrefix, untilRedisTime } from './redisTestUtils';

const HOUR = 3_600_000;

/** The live leases of a concurrency key (positive scores: their expiry). */
const leasesOf = (redis: Redis, key: string) => redis.zrangebyscore(key, '0', '+inf');
/** The records a concurrency key keeps of units taken from leases by releases without a mark (negative scores). */
const recordsOf = (redis: Redis, key: string) => redis.zrangebyscore(key, '-inf', '(0', 'WITHSCORES');

/**
 * The specification, written out as plainly as possible: GCRA per rate key, a counter per
 * concurrency key (in flight, or per window when `windowMs > 0`), all-or-nothing with cumulative
 * charges, the longest wait reported (a full per-window total waits for the end of its window, epoch
 * aligned). Adjustments here carry no marks, so refunds are not capped.
 */
class ReferenceModel {
  private tat = new Map<string, number>();
  private count = new Map<string, number>();

  reserve(charges: readonly LimitCharge[], now: number): ReserveResult {
    const next = new Map<string, number>();
    const cum = new Map<string, number>();
    const states: LimitState[] = [];
    let index = -1;
    let wait = -1;
    charges.forEach((c, i) => {
      const id = idOf(c);
      const total = (cum.get(id) ?? 0) + c.amount;
      cum.set(id, total);
      if (c.kind === 'rate') {
        const T = c.windowMs / c.limit;
        const burst = c.burst ?? c.limit;
        const tau = burst * T;
        const base = next.get(id) ?? Math.max(this.tat.get(id) ?? now, now);
        const nt = base + c.amount * T;
        next.set(id, nt);
        if (nt - now > tau + 1e-6 * T) {
          const w = total > burst ? Infinity : Math.max(1, Math.ceil(nt - tau - now));
          if (w > wait) [index, wait] = [i, w];
        }
        states.push(this.rateState(c, nt - now));
      } else {
        const nc = (next.get(id) ?? this.count.get(id) ?? 0) + c.amount;
        next.set(id, nc);
        if (nc > c.limit) {
          const w = total > c.limit ? Infinity : c.windowMs > 0 ? Math.max(1, Math.ceil(c.windowMs - (now % c.windowMs))) : 250;
          if (w > wait) [index, wait] = [i, w];
        }
        states.push({ remaining: Math.max(0, c.limit - nc), resetMs: 0 });
      }
    });
    if (index >= 0) return { ok: false, index, retryAfterMs: wait, states: this.peek(charges, now) };
    for (const [id, v] of next) (id.startsWith('rate:') ? this.tat : this.count).set(id, v);
    return { ok: true, states };
  }

  adjust(adjustments: readonly LimitAdjustment[], now: number): void {
    for (const a of adjustments) {
      const id = idOf(a);
      if (a.kind === 'rate') {
        const T = a.windowMs / a.limit;
        this.tat.set(id, Math.max(Math.max(this.tat.get(id) ?? now, now) + a.delta * T, now));
      } else {
        this.count.set(id, Math.max(0, (this.count.get(id) ?? 0) + a.delta));
      }
    }
  }

  peek(charges: readonly LimitCharge[], now: number): LimitState[] {
    return charges.map((c) => {
      const id = idOf(c);
      if (c.kind === 'rate') return this.rateState(c, Math.max(0, (this.tat.get(id) ?? now) - now));
      return { remaining: Math.max(0, c.limit - (this.count.get(id) ?? 0)), resetMs: 0 };
    });
  }

  private rateState(c: LimitCharge, debt: number): LimitState {
    const T = c.windowMs / c.limit;
    const tau = (c.burst ?? c.limit) * T;
    return { remaining: Math.max(0, Math.floor((tau - debt) / T + 1e-6)), resetMs: debt > 0 ? Math.ceil(debt - 1e-6) : 0 };
  }
}

/** In-flight slots and per-window totals live under different Redis keys (`c:` leases, `w:` counters). */
function idOf(u: LimitCharge | LimitAdjustment): string {
  if (u.kind === 'rate') return `rate:${u.key}`;
  return `${u.windowMs > 0 ? 'window' : 'concurrency'}:${u.key}`;
}

/**
 * Fixed slack for single checks: Redis decides at its own `now`, a few ms after the test read TIME.
 * Sequences use {@link Drift} instead, which bounds the difference by what was measured.
 */
const SLACK_MS = 25;

/**
 * The model runs at the TIME the test read before each call, Redis at a `now` up to `gap` ms later.
 * A `tat` set from `now` therefore differs by at most the largest gap so far, and a duration
 * (`tat - now`) by at most twice that.
 */
class Drift {
  private maxGap = 0;
  constructor(private readonly redis: Redis) {}
  /** Runs `call` at the current Redis TIME, then `check`s its result with the slack measured so far (this call included). */
  async around<T>(call: (now: number) => Promise<T>, check: (result: T, slack: number) => void = () => {}): Promise<void> {
    const before = await redisNow(this.redis);
    const result = await call(before);
    this.maxGap = Math.max(this.maxGap, (await redisNow(this.redis)) - before);
    check(result, 2 * this.maxGap + 2);
  }
}

function expectSameDecision(actual: ReserveResult, expected: ReserveResult, label: string, slack = SLACK_MS): void {
  const msg = `${label}: ${JSON.stringify(actual)} vs ${JSON.stringify(expected)}`;
  expect({ label, ok: actual.ok }).toEqual({ label, ok: expected.ok });
  if (!actual.ok && !expected.ok) {
    expect({ label, index: actual.index }).toEqual({ label, index: expected.index });
    if (expected.retryAfterMs === Infinity) expect({ msg, wait: actual.retryAfterMs }).toEqual({ msg, wait: Infinity });
    else expect({ msg, diff: Math.abs(actual.retryAfterMs - expected.retryAfterMs) <= slack }).toEqual({ msg, diff: true });
  }
  expectSameStates(actual.states ?? [], expected.states ?? [], msg, slack);
}

function expectSameStates(actual: LimitState[], expected: LimitState[], msg: string, slack = SLACK_MS): void {
  expect({ msg, remaining: actual.map((s) => s.remaining) }).toEqual({ msg, remaining: expected.map((s) => s.remaining) });
  actual.forEach((s, i) => expect({ msg, i, diff: Math.abs(s.resetMs - expected[i]!.resetMs) <= slack }).toEqual({ msg, i, diff: true }));
}

/** Keeps the process busy for `ms` (a synchronous step of the application: the event loop is blocked). */
function blockEventLoop(ms: number): void {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    // CPU-bound work
  }
}

/** Tiny deterministic PRNG so a failing sequence can be replayed. */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

describe('RedisLimiterStore (real Redis)', () => {
  let redis: Redis;
  let prefix: string;
  let store: RedisLimiterStore;
  const events: RedisStoreEvent[] = [];

  beforeAll(() => {
    redis = connect();
  });
  beforeEach(() => {
    prefix = uniquePrefix('store');
    events.length = 0;
    store = new RedisLimiterStore({ redis, prefix, timeoutMs: 2000, onEvent: (e) => events.push(e) });
  });
  afterEach(async () => {
    await deleteKeys(redis, store.keyspace.pattern());
    expect(events).toEqual([]); // no test here should see an outage or a script error
  });
  afterAll(async () => {
    await redis.quit();
  });

  const rate = (key: string, amount: number, limit = 10, burst?: number): LimitCharge => ({
    key,
    kind: 'rate',
    limit,
    windowMs: HOUR,
    amount,
    ...(burst === undefined ? {} : { burst }),
  });
  const slot = (key: string, amount = 1, limit = 2): LimitCharge => ({ key, kind: 'concurrency', limit, windowMs: 0, amount });
  /** A per-window total, as the core charges a daily spend budget (the key carries the window index). */
  const DAY = 86_400_000;
  const spend = (key: string, amount: number, limit = 1, windowMs = DAY): LimitCharge => ({ key, kind: 'concurrency', limit, windowMs, amount });
  const spendDelta = (key: string, delta: number, limit = 1, windowMs = DAY): LimitAdjustment => ({ key, kind: 'concurrency', limit, windowMs, delta });

  it('follows the GCRA specification on a scripted sequence', async () => {
    const model = new ReferenceModel();
    const steps: LimitCharge[][] = [
      [rate('a', 3)],
      [rate('a', 3), rate('b', 1, 20)],
      [rate('a', 5)], // denied: 11 > 10
      [rate('a', 11)], // denied forever: more than the burst
      [rate('a', 4)], // exactly full
      [rate('b', 0.5, 20, 5), rate('b', 0.25, 20, 5)],
    ];
    const drift = new Drift(redis);
    for (const [i, charges] of steps.entries()) {
      await drift.around(
        async (now) => [await store.reserve(charges), model.reserve(charges, now)] as const,
        ([actual, expected], slack) => expectSameDecision(actual, expected, `step ${i}`, slack),
      );
    }
    const peeked = [rate('a', 1), rate('b', 1, 20)];
    await drift.around(
      async (now) => [await store.peek(peeked), model.peek(peeked, now)] as const,
      ([actual, expected], slack) => expectSameStates(actual, expected, 'peek', slack),
    );
  });

  it('matches the reference model and the core MemoryLimiterStore on random sequences', async () => {
    const random = prng(20240611);
    const model = new ReferenceModel();
    const clock = new ManualClock(await redisNow(redis));
    const memory = new MemoryLimiterStore({ clock });
    const pool: Array<(a: number) => LimitCharge> = [
      (a) => rate('u1', a, 10),
      (a) => rate('u2', a, 20, 5),
      (a) => rate('team', a, 40, 12),
      (a) => slot('c1', Math.min(a, 2), 3),
      (a) => spend('budget|w=1', a / 10, 1.5),
    ];
    const amounts = [1, 2, 3, 0.5, 4];
    const drift = new Drift(redis);
    const budgetDecisions = { admitted: 0, denied: 0 };
    for (let step = 0; step < 150; step++) {
      if (random() < 0.25) {
        const adjustments = [0, 1].map(() => {
          const c = pool[Math.floor(random() * pool.length)]!(1);
          const scale = c.kind === 'concurrency' && c.windowMs > 0 ? 0.1 : 1; // budgets: fractional USD
          const delta = (random() < 0.6 ? -1 : 1) * scale * amounts[Math.floor(random() * amounts.length)]!;
          return { key: c.key, kind: c.kind, limit: c.limit, windowMs: c.windowMs, burst: c.burst, delta } as LimitAdjustment;
        });
        await drift.around(async (now) => {
          clock.set(Math.max(clock.now(), now));
          await store.adjust(adjustments);
          model.adjust(adjustments, now);
          memory.adjust(adjustments);
        });
        continue;
      }
      const n = 1 + Math.floor(random() * 3);
      const charges = Array.from({ length: n }, () => pool[Math.floor(random() * pool.length)]!(amounts[Math.floor(random() * amounts.length)]!));
      await drift.around(
        async (now) => {
          clock.set(Math.max(clock.now(), now));
          return [await store.reserve(charges), model.reserve(charges, now), memory.reserve(charges)] as const;
        },
        ([actual, expected, fromMemory], slack) => {
          expectSameDecision(actual, expected, `step ${step}`, slack);
          expectSameDecision(actual, fromMemory, `step ${step} (memory store)`, slack);
          if (charges.some((c) => c.windowMs > 0 && c.kind === 'concurrency')) {
            if (actual.ok) budgetDecisions.admitted++;
            else budgetDecisions.denied++;
          }
        },
      );
    }
    // The sequence exercised the window total both ways.
    expect(budgetDecisions.admitted).toBeGreaterThan(5);
    expect(budgetDecisions.denied).toBeGreaterThan(5);
  });

  it('computes reset and retry times exactly, in whole Redis milliseconds', async () => {
    const T = HOUR / 10;
    // 'probe' (1 per hour) is fresh, so its tat is exactly the script's now + 1 h.
    const first = await store.reserve([rate('exact', 3), rate('probe', 1, 1)]);
    const now1 = Number(await redis.get(store.keyspace.key('r', 'probe'))) - HOUR;
    expect(Number.isInteger(now1)).toBe(true);
    expect(Number(await redis.get(store.keyspace.key('r', 'exact')))).toBe(now1 + 3 * T);
    // Marks: each key's tat right after the charge (epoch ms), passed back to cap refunds.
    expect(first).toEqual({ ok: true, states: [{ remaining: 7, resetMs: 3 * T }, { remaining: 0, resetMs: HOUR }], marks: [now1 + 3 * T, now1 + HOUR] });

    const denied = await store.reserve([rate('exact', 8)]);
    expect(denied.ok).toBe(false);
    if (denied.ok) return;
    // debt = tat - now (whole ms) = resetMs; 8 more units need debt + 8T <= 10T.
    const [state] = denied.states!;
    expect(state!.remaining).toBe(7);
    expect(denied.retryAfterMs).toBe(state!.resetMs - 2 * T);
  });

  it('is all or nothing: a denied charge leaves the others untouched', async () => {
    const r = await store.reserve([rate('ok', 2), slot('slot'), rate('full', 11)]);
    expect(r).toMatchObject({ ok: false, index: 2, retryAfterMs: Infinity });
    expect(await redis.keys(store.keyspace.pattern())).toEqual([]);
    expect(await store.peek([rate('ok', 1), slot('slot')])).toEqual([
      { remaining: 10, resetMs: 0 },
      { remaining: 2, resetMs: 0 },
    ]);
  });

  it('reports the charge that binds longest', async () => {
    await store.reserve([rate('x', 9), rate('y', 8)]);
    const r = await store.reserve([rate('x', 2), rate('y', 4)]);
    // x needs 1 more unit (1 T), y needs 2 (2 T): y binds longest.
    expect(r).toMatchObject({ ok: false, index: 1 });
    if (!r.ok) expect(Math.abs(r.retryAfterMs - 2 * (HOUR / 10))).toBeLessThanOrEqual(SLACK_MS);
  });

  it('checks several charges on one key cumulatively', async () => {
    const ok = await store.reserve([rate('same', 4), rate('same', 4)]);
    expect(ok.ok && ok.states.map((s) => s.remaining)).toEqual([6, 2]);
    const denied = await store.reserve([rate('same', 1), rate('same', 2)]);
    expect(denied).toMatchObject({ ok: false, index: 1 });
    const never = await store.reserve([rate('other', 6), rate('other', 6)]);
    expect(never).toMatchObject({ ok: false, index: 1, retryAfterMs: Infinity });
    const slots = await store.reserve([slot('s'), slot('s'), slot('s')]);
    expect(slots).toMatchObject({ ok: false, index: 2, retryAfterMs: Infinity });
    expect(await redis.exists(store.keyspace.key('c', 's'))).toBe(0);
  });

  it('caps refunds at full capacity and lets extra charges run into debt', async () => {
    await store.reserve([rate('k', 3)]);
    await store.adjust([{ key: 'k', kind: 'rate', limit: 10, windowMs: HOUR, delta: -100 }]);
    expect(await store.peek([rate('k', 1)])).toEqual([{ remaining: 10, resetMs: 0 }]);
    expect(await redis.exists(store.keyspace.key('r', 'k'))).toBe(0); // full again: nothing stored

    await store.adjust([{ key: 'k', kind: 'rate', limit: 10, windowMs: HOUR, delta: 15 }]);
    const [state] = await store.peek([rate('k', 1)]);
    expect(state!.remaining).toBe(0);
    expect(Math.abs(state!.resetMs - 15 * (HOUR / 10))).toBeLessThanOrEqual(SLACK_MS);
    const r = await store.reserve([rate('k', 1)]);
    // debt 15 T, one more unit needs 16 T <= 10 T: wait 6 T.
    expect(r.ok).toBe(false);
    if (!r.ok) expect(Math.abs(r.retryAfterMs - 6 * (HOUR / 10))).toBeLessThanOrEqual(SLACK_MS);
  });

  it('caps a refund at what the reservation still holds: the part of its interval after now', async () => {
    const T = HOUR / 10;
    const first = await store.reserve([rate('cap', 10)]);
    if (!first.ok) throw new Error('denied');
    const [mark] = first.marks as number[];
    const adjust = (delta: number, m: unknown) => store.adjust([{ key: 'cap', kind: 'rate', limit: 10, windowMs: HOUR, delta, mark: m }]);
    // A reservation whose interval expired (a mark in the past) gives nothing back.
    await adjust(-10, (await redisNow(redis)) - 1);
    expect(await store.peek([rate('cap', 1)])).toMatchObject([{ remaining: 0 }]);
    // One that holds two more units' worth gives back at most those.
    await adjust(-5, (await redisNow(redis)) + 2 * T);
    const [partial] = await store.peek([rate('cap', 1)]);
    expect(partial!.remaining).toBe(2);
    expect(Math.abs(partial!.resetMs - 8 * T)).toBeLessThanOrEqual(SLACK_MS);
    // The reservation's own mark, refunded at once: all of what is left comes back; the key is deleted.
    await adjust(-8, mark);
    expect(await redis.exists(store.keyspace.key('r', 'cap'))).toBe(0);
    expect(await store.peek([rate('cap', 1)])).toEqual([{ remaining: 10, resetMs: 0 }]);
  });

  it('does not let a late refund admit twice the burst (the limiter on Redis, real time)', async () => {
    const windowMs = 300;
    const limiter = new Limiter([{ id: 'tpm', scope: [], metric: 'inputTokens', limit: 10_000, windowMs }], store);
    const tokens = (inputTokens: number) => ({ inputTokens, outputTokens: 0, costUsd: 0 });
    const a = await limiter.reserve({}, tokens(10_000), 'request');
    expect(a.ok).toBe(true);
    await untilRedisTime(redis, (await redisNow(redis)) + windowMs); // a's interval is over: the bucket is full again
    const b = await limiter.reserve({}, tokens(10_000), 'request');
    expect(b.ok).toBe(true);
    if (a.ok) await a.settle(tokens(0)); // a refunds late: what it held has already come back
    const c = await limiter.reserve({}, tokens(10_000), 'request');
    expect(c.ok).toBe(false);
    if (!c.ok) expect(c.retryAfterMs).toBeGreaterThan(windowMs - 100);
    if (b.ok) await b.settle(tokens(0)); // b still holds most of its interval: it comes back
    expect((await limiter.reserve({}, tokens(9_000), 'request')).ok).toBe(true);
  });

  it('reports the full window total whose window ends last, ahead of rate keys and slots', async () => {
    const before = await redisNow(redis);
    await store.reserve([spend('hourly|w=1', 1, 1, HOUR), spend('daily|w=1', 1, 1, DAY), rate('rps', 10), slot('s', 2)]);
    const denied = await store.reserve([spend('hourly|w=1', 0.5, 1, HOUR), rate('rps', 1), slot('s'), spend('daily|w=1', 0.5, 1, DAY)]);
    const after = await redisNow(redis);
    // In the last hour of a UTC day both windows end at midnight: either may be named, same wait.
    const lastHour = (t: number) => t % DAY >= DAY - HOUR;
    if (lastHour(before) || lastHour(after)) expect(denied.ok ? -1 : [0, 3].includes(denied.index)).toBe(true);
    else expect(denied).toMatchObject({ ok: false, index: 3 });
    const wait = denied.ok ? NaN : denied.retryAfterMs;
    expect(wait).toBeLessThanOrEqual(DAY - (before % DAY));
    expect(wait).toBeGreaterThanOrEqual(DAY - (after % DAY));
    // The same through the limiter: the denial names the daily rule and the time to its window's end.
    const cost = (costUsd: number) => ({ inputTokens: 0, outputTokens: 0, costUsd });
    const limiter = new Limiter(
      [
        { id: 'team-hourly', scope: ['team'], metric: 'cost', limit: 10, windowMs: HOUR, fixedWindow: true },
        { id: 'tenant-daily', scope: ['tenant'], metric: 'cost', limit: 10, windowMs: DAY, fixedWindow: true },
        { id: 'tenant-rps', scope: ['tenant'], metric: 'requests', limit: 1, windowMs: 1000 },
      ],
      store,
    );
    const c = { team: 't', tenant: 'x' };
    expect((await limiter.reserve(c, cost(10), 'request')).ok).toBe(true);
    const at = Date.now();
    const d = await limiter.reserve(c, cost(1), 'request');
    if (lastHour(at) || lastHour(Date.now())) {
      expect(d.ok ? undefined : d.rule.id).toMatch(/^(team-hourly|tenant-daily)$/);
      expect(d.ok ? 0 : d.retryAfterMs).toBeGreaterThanOrEqual(DAY - (Date.now() % DAY));
    } else {
      expect(d.ok ? undefined : d.rule.id).toBe('tenant-daily');
      expect(d.ok ? 0 : d.retryAfterMs).toBeGreaterThan(HOUR);
    }
  });

  it('reports usage exactly, where peek floors remaining to whole units', async () => {
    const cost: LimitCharge = { key: 'cost', kind: 'rate', limit: 1, windowMs: HOUR, amount: 0.3 };
    await store.reserve([cost, spend('b|w=1', 0.1), spend('b|w=1', 0.2), rate('k', 4)]);
    const [usedCost, usedBudget, usedRate, fresh] = await store.usage([cost, spend('b|w=1', 0), rate('k', 0), rate('none', 0)]);
    expect(usedCost).toBeCloseTo(0.3, 5); // a few ms of refill at $1 per hour
    expect(usedCost).toBeLessThanOrEqual(0.3);
    expect(usedBudget).toBe(0.1 + 0.2);
    expect(Math.abs(usedRate! - 4)).toBeLessThanOrEqual(SLACK_MS / (HOUR / 10));
    expect(fresh).toBe(0);
    expect(await store.peek([cost])).toEqual([{ remaining: 0, resetMs: expect.any(Number) }]);
    const limiter = new Limiter([{ id: 'team-cost', scope: ['team'], metric: 'cost', limit: 1, windowMs: HOUR }], store);
    expect((await limiter.reserve({ team: 't' }, { inputTokens: 0, outputTokens: 0, costUsd: 0.3 }, 'request')).ok).toBe(true);
    expect(await limiter.usage('team-cost', { team: 't' })).toBeCloseTo(0.3, 5);
  });

  it('counts concurrency slots, releases them, and never goes below zero', async () => {
    expect((await store.reserve([slot('s')])).ok).toBe(true);
    expect(await store.reserve([slot('s')])).toMatchObject({ ok: true, states: [{ remaining: 0, resetMs: 0 }] });
    expect(await store.reserve([slot('s')])).toMatchObject({ ok: false, index: 0, retryAfterMs: 250 });
    await store.adjust([{ key: 's', kind: 'concurrency', limit: 2, windowMs: 0, delta: -1 }]);
    expect((await store.reserve([slot('s')])).ok).toBe(true);
    await store.adjust([{ key: 's', kind: 'concurrency', limit: 2, windowMs: 0, delta: -5 }]);
    // No lease is left; the key keeps only the records of what these releases without a mark took.
    expect(await leasesOf(redis, store.keyspace.key('c', 's'))).toEqual([]);
    expect(await store.peek([slot('s')])).toEqual([{ remaining: 2, resetMs: 0 }]);
  });

  it('takes concurrency leases that expire, and releases the oldest lease first', async () => {
    const leased = new RedisLimiterStore({ redis, prefix, leaseMs: 40, timeoutMs: 2000 });
    const key = leased.keyspace.key('c', 'lease');
    const t0 = await redisNow(redis);
    expect((await leased.reserve([slot('lease', 1, 1)])).ok).toBe(true);
    expect((await leased.reserve([slot('lease', 1, 1)])).ok).toBe(false);
    const [, score] = await redis.zrange(key, '0', '0', 'WITHSCORES');
    expect(Number(score)).toBeGreaterThanOrEqual(t0 + 40);
    // The holder "crashed" and never released: after the lease, the slot is free again.
    while ((await redisNow(redis)) <= Number(score)) await new Promise((r) => setImmediate(r));
    expect((await leased.reserve([slot('lease', 1, 1)])).ok).toBe(true);

    const long = new RedisLimiterStore({ redis, prefix, leaseMs: HOUR, timeoutMs: 2000 });
    await long.reserve([slot('order', 1, 5)]);
    await long.reserve([slot('order', 2, 5)]);
    const orderKey = long.keyspace.key('c', 'order');
    const before = await redis.zrange(orderKey, '0', '-1', 'WITHSCORES');
    await long.adjust([{ key: 'order', kind: 'concurrency', limit: 5, windowMs: 0, delta: -1.5 }]);
    const after = await redis.zrangebyscore(orderKey, '0', '+inf', 'WITHSCORES');
    // The first lease (1 unit) is gone; the second keeps its id and expiry with 1.5 units left.
    const id = (member: string) => member.slice(0, member.lastIndexOf('|'));
    expect(after).toEqual([`${id(before[2]!)}|1.5`, before[3]]);
    // What was taken from each is recorded for its own release, at minus its expiry.
    const records = await recordsOf(redis, orderKey);
    const pairs = records.filter((_, i) => i % 2 === 0).map((member, i) => [member, records[2 * i + 1]]);
    expect(pairs.sort()).toEqual([[`!${id(before[0]!)}|1`, `-${before[1]}`], [`!${id(before[2]!)}|0.5`, `-${before[3]}`]].sort());
    expect(await long.peek([slot('order', 1, 5)])).toEqual([{ remaining: 3.5, resetMs: 0 }]);
  });

  it("releases exactly a reservation's own lease when given its mark; a replay or a release after expiry frees no other slot", async () => {
    const key = store.keyspace.key('c', 'own');
    const mark = (r: ReserveResult) => (r.ok ? r.marks?.[0] : undefined);
    const release = (m: unknown, s = store) => s.adjust([{ key: 'own', kind: 'concurrency', limit: 3, windowMs: 0, delta: -1, mark: m }]);
    /** The release as the store sends it again from its queue: the member after a `~`. */
    const replay = (m: unknown) =>
      new RedisScript(ADJUST_LUA).run(redis as unknown as ScriptClient, [key], [JSON.stringify([HOUR, 1000, 250, 0, 'c', 3, 0, 0, -1, `~${(m as { lease: string }).lease}`])]);
    const first = await store.reserve([slot('own', 1, 3)]);
    const second = await store.reserve([slot('own', 1, 3)]);
    const leases = await redis.zrange(key, '0', '-1');
    expect(leases).toHaveLength(2);
    // The mark is the lease's member.
    expect([mark(first), mark(second)]).toEqual([{ lease: leases[0] }, { lease: leases[1] }]);

    // The newer reservation ends first: its own lease goes, not the oldest.
    await release(mark(second));
    expect(await redis.zrange(key, '0', '-1')).toEqual([leases[0]]);
    // The same release sent again from the outage queue: nothing else is freed.
    await replay(mark(second));
    expect(await redis.zrange(key, '0', '-1')).toEqual([leases[0]]);
    expect(await store.peek([slot('own', 1, 3)])).toEqual([{ remaining: 2, resetMs: 0 }]);

    // A call that outlived its lease: its release must not free the slot someone took since.
    const short = new RedisLimiterStore({ redis, prefix, leaseMs: 40, timeoutMs: 2000 });
    const late = await short.reserve([slot('late', 1, 1)]);
    const [, expiry] = await redis.zrange(short.keyspace.key('c', 'late'), '0', '0', 'WITHSCORES');
    while ((await redisNow(redis)) <= Number(expiry)) await new Promise((r) => setImmediate(r));
    expect((await short.reserve([slot('late', 1, 1)])).ok).toBe(true);
    await short.adjust([{ key: 'late', kind: 'concurrency', limit: 1, windowMs: 0, delta: -1, mark: mark(late) }]);
    expect(await short.peek([slot('late', 1, 1)])).toEqual([{ remaining: 0, resetMs: 0 }]);
  });

  it("tags each lease with its reserve run's id; a '#<run id>' release removes exactly that run's leases (lost replies)", async () => {
    const key = store.keyspace.key('c', 'runs');
    const taken = await Promise.all([store.reserve([slot('runs', 1, 5)]), store.reserve([slot('runs', 1, 5)])]); // one run
    const alone = await store.reserve([slot('runs', 1, 5)]); // another run
    const leases = await redis.zrange(key, '0', '-1');
    expect(leases).toHaveLength(3);
    const leaseOf = (r: ReserveResult) => (r.ok ? (r.marks?.[0] as { lease: string }).lease : '');
    const runOf = (r: ReserveResult) => /#([0-9a-z]+)[.|]/.exec(leaseOf(r))![1]!;
    expect(runOf(taken[0])).toBe(runOf(taken[1]));
    expect(runOf(alone)).not.toBe(runOf(taken[0]));
    // What the store sends for a run whose reply was lost (as a replay from its queue: '~#<run id>').
    const clear = (run: string) =>
      new RedisScript(ADJUST_LUA).run(redis as unknown as ScriptClient, [key], [JSON.stringify([HOUR, 1000, 250, 0, 'c', 5, 0, 0, -1, `~#${run}`])]);
    await clear(runOf(taken[0]));
    expect(await redis.zrange(key, '0', '-1')).toEqual([leaseOf(alone)]);

    // Only whole run ids match: a run id that another one starts with is not taken for it, and a lease
    // renamed for a clashing member (`.<k>` after the id) is.
    const expiry = (await redisNow(redis)) + HOUR;
    await redis.zadd(key, expiry, '1.2.1.1#abc1|1', expiry, '1.2.1.1#abc10|1', expiry, '1.2.1.1#abc1.1|1');
    await clear('abc1');
    expect((await redis.zrange(key, '0', '-1')).sort()).toEqual(['1.2.1.1#abc10|1', leaseOf(alone)].sort());

    // Several runs cleared in one call (a replay chunk), a first release and a replay among them.
    await redis.zadd(key, expiry, '1.2.1.1#def|1', expiry, '1.2.2.1#ghi|1');
    const unit = (mark: string) => ['c', 5, 0, 0, -1, mark];
    await new RedisScript(ADJUST_LUA).run(redis as unknown as ScriptClient, [key, key, key], [
      JSON.stringify([HOUR, 1000, 250, 0, ...unit('~#def'), ...unit('#ghi'), ...unit('~#abc10')]),
    ]);
    expect(await redis.zrange(key, '0', '-1')).toEqual([leaseOf(alone)]);
  });

  it('applies an adjust run once: a copy with the same run id (ioredis sent it again) changes nothing', async () => {
    await store.reserve([rate('once', 6), spend('once|w=1', 0.5)]);
    const record = store.keyspace.key('a', 'run-once');
    const run = () =>
      new RedisScript(ADJUST_LUA).run(
        redis as unknown as ScriptClient,
        [store.keyspace.key('r', 'once'), store.keyspace.key('w', 'once|w=1'), record],
        [JSON.stringify([HOUR, 1000, 250, 0, 'r', 10, HOUR, 10, -4, 0, 'w', 1, DAY, 0, 0.25, 0]), 'run-once'],
      );
    expect(await run()).toBe(1);
    expect(await run()).toBe(0); // the copy: skipped
    // Refund and extra charge, once each: 6 - 4 tokens held (twice: none), $0.5 + 0.25 spent (twice: $1).
    expect((await store.peek([rate('once', 1)]))[0]!.remaining).toBe(8);
    expect(await store.usage([spend('once|w=1', 0)])).toEqual([0.75]);
    // The record lives a short while: long enough for ioredis to reconnect and send the copy.
    const ttl = await redis.pttl(record);
    expect(ttl).toBeGreaterThan(ADJUST_RUN_TTL_MS - 5000);
    expect(ttl).toBeLessThanOrEqual(ADJUST_RUN_TTL_MS);
    // The store names each run (one record per script run, a batch included).
    await Promise.all([store.adjust([{ ...rate('once', 0), delta: -1 }]), store.adjust([{ ...rate('once', 0), delta: -1 }])]);
    expect(await store.peek([rate('once', 1)])).toEqual([{ remaining: 10, resetMs: 0 }]);
    expect(await redis.keys(`{${prefix}}:a:*`)).toHaveLength(2); // 'run-once' and the store's batch
  });

  it('keeps counts right when releases with and without marks mix (a rolling upgrade from a version without marks)', async () => {
    const key = store.keyspace.key('c', 'mixed');
    const lease = (r: ReserveResult) => (r.ok ? (r.marks?.[0] as { lease: string }).lease : '');
    const a = await store.reserve([slot('mixed', 1, 3)]);
    const b = await store.reserve([slot('mixed', 1, 3)]);
    expect(await redis.zcard(key)).toBe(2);
    // B's call ends on a process that sends no mark: the oldest lease goes, which is A's, and what it
    // took is recorded for A.
    await store.adjust([{ key: 'mixed', kind: 'concurrency', limit: 3, windowMs: 0, delta: -1 }]);
    expect(await leasesOf(redis, key)).toEqual([lease(b)]);
    expect((await recordsOf(redis, key))[0]).toBe(`!${lease(a).replace(/\|1$/, '')}|1`);
    // A's release finds its lease gone and its record: it frees the oldest instead (B's, which stood
    // for A's call since). Both calls ended, nothing is held.
    await store.adjust([{ key: 'mixed', kind: 'concurrency', limit: 3, windowMs: 0, delta: -1, mark: a.ok ? a.marks?.[0] : undefined }]);
    expect(await leasesOf(redis, key)).toEqual([]);
    expect(await store.peek([slot('mixed', 1, 3)])).toEqual([{ remaining: 3, resetMs: 0 }]);
    // Each record is used once: A's release sent again (not as a replay) frees nothing more.
    const c = await store.reserve([slot('mixed', 1, 3)]);
    await store.adjust([{ key: 'mixed', kind: 'concurrency', limit: 3, windowMs: 0, delta: -1, mark: a.ok ? a.marks?.[0] : undefined }]);
    expect(await leasesOf(redis, key)).toEqual([lease(c)]);
  });

  it("a marked release whose lease Redis lost (restart, failover, eviction) frees no other process's slot", async () => {
    const key = store.keyspace.key('c', 'lost');
    const [a, b, c] = ['a', 'b', 'c'].map(() => new RedisLimiterStore({ redis, prefix, timeoutMs: 2000 }));
    const first = await a!.reserve([slot('lost', 1, 1)]);
    expect(first.ok).toBe(true);
    // Redis loses the key (what a restart without persistence, a failover to a replica that had not
    // received it, or an eviction does): A's lease is gone, its call still runs.
    await redis.del(key);
    // B takes the slot that now looks free: A and B are both in flight, which nothing can prevent.
    const second = await b!.reserve([slot('lost', 1, 1)]);
    expect(second.ok).toBe(true);
    // A's call ends. Its lease is not there and nothing recorded taking it: it frees nothing, so B
    // still holds the only slot and C is refused (an outage errs towards counting more, never less).
    await a!.adjust([{ key: 'lost', kind: 'concurrency', limit: 1, windowMs: 0, delta: -1, mark: first.ok ? first.marks?.[0] : undefined }]);
    expect(await leasesOf(redis, key)).toEqual([(second.ok ? (second.marks?.[0] as { lease: string }) : { lease: '' }).lease]);
    expect(await c!.peek([slot('lost', 1, 1)])).toEqual([{ remaining: 0, resetMs: 0 }]);
    expect((await c!.reserve([slot('lost', 1, 1)])).ok).toBe(false);
  });

  it('keeps at most limit records per key, those that expire last, and counts the units of the others', async () => {
    const key = store.keyspace.key('c', 'capped');
    const held = [];
    // Leases a second apart in expiry (stores with different lease lengths), the first expiring first.
    for (let i = 0; i < 3; i++) held.push(await new RedisLimiterStore({ redis, prefix, leaseMs: HOUR + i * 1000 }).reserve([slot('capped', 1, 3)]));
    // Released without marks at a limit of 2 (the limit was lowered meanwhile): all three are taken.
    await store.adjust([{ key: 'capped', kind: 'concurrency', limit: 2, windowMs: 0, delta: -3 }]);
    const records = await recordsOf(redis, key);
    const lease = (r: ReserveResult) => (r.ok ? (r.marks?.[0] as { lease: string }).lease : '');
    // The first lease's record is dropped; its unit goes to the evicted count (which expires with it).
    expect(records.filter((_, i) => i % 2 === 0)).toEqual([`!${lease(held[2]!)}`, `!${lease(held[1]!)}`, '!evicted|1']);
  });

  it("frees, for a marked release whose record was dropped past the cap, a slot of the evicted count: no slot stays counted", async () => {
    const storeAt = (i: number) => new RedisLimiterStore({ redis, prefix, leaseMs: HOUR + i * 1000 });
    const two = (amount = 1): LimitCharge => ({ key: 'evicted', kind: 'concurrency', limit: 2, windowMs: 0, amount });
    const unmarked = { key: 'evicted', kind: 'concurrency' as const, limit: 2, windowMs: 0, delta: -1 };
    // E (marked) holds a slot; U's calls release without marks (an older version of the store).
    const e = await storeAt(0).reserve([two()]);
    expect(e.ok).toBe(true);
    for (let i = 1; i <= 3; i++) {
      expect((await storeAt(i).reserve([two()])).ok).toBe(true); // U's call i
      await store.adjust([unmarked]); // U's call i ends: the oldest lease goes (E's, then U's own)
    }
    // Three records at a limit of 2: E's (expiring first) is dropped, its unit counted as evicted.
    await store.adjust([{ ...unmarked, mark: e.ok ? e.marks?.[0] : undefined }]); // E's call ends
    expect(await store.peek([two()])).toEqual([{ remaining: 2, resetMs: 0 }]);
  });

  it('a lease released in two parts with its mark ends fully released', async () => {
    const key = store.keyspace.key('c', 'halves');
    const taken = await store.reserve([slot('halves', 2, 4)]);
    const m = taken.ok ? taken.marks?.[0] : undefined;
    await store.adjust([{ key: 'halves', kind: 'concurrency', limit: 4, windowMs: 0, delta: -1, mark: m }]);
    expect(await store.peek([slot('halves', 1, 4)])).toEqual([{ remaining: 3, resetMs: 0 }]);
    // What is left keeps the lease's id and expiry: the second part finds it by the same mark.
    expect(await leasesOf(redis, key)).toEqual([(m as { lease: string }).lease.replace(/\|2$/, '|1')]);
    await store.adjust([{ key: 'halves', kind: 'concurrency', limit: 4, windowMs: 0, delta: -1, mark: m }]);
    expect(await store.peek([slot('halves', 1, 4)])).toEqual([{ remaining: 4, resetMs: 0 }]);
    expect(await redis.exists(key)).toBe(0);

    // Part of a lease taken by a release without a mark (z's call, which ended), the rest released
    // with the mark: x's release frees its remainder and, for the recorded part, the oldest lease.
    const x = await store.reserve([slot('halves', 2, 4)]);
    await store.reserve([slot('halves', 1, 4)]); // z
    await store.adjust([{ key: 'halves', kind: 'concurrency', limit: 4, windowMs: 0, delta: -1 }]); // z ends: 1 of x's 2
    expect(await store.peek([slot('halves', 1, 4)])).toEqual([{ remaining: 2, resetMs: 0 }]);
    await store.adjust([{ key: 'halves', kind: 'concurrency', limit: 4, windowMs: 0, delta: -2, mark: x.ok ? x.marks?.[0] : undefined }]);
    expect(await leasesOf(redis, key)).toEqual([]);
    expect(await store.peek([slot('halves', 1, 4)])).toEqual([{ remaining: 4, resetMs: 0 }]);
  });

  it('keeps per-window totals (budgets) as exact float counters: extra charges, refunds, clamp at zero', async () => {
    const key = 'budget:tenant|tenant=acme|w=20000';
    // 0.1 + 0.2 is 0.30000000000000004 in JS: Redis must hold the very same double (no INCRBYFLOAT text).
    // Counters have no mark (0): only rate refunds are capped.
    expect(await store.reserve([spend(key, 0.1)])).toEqual({ ok: true, states: [{ remaining: 0.9, resetMs: 0 }], marks: [0] });
    expect(await store.reserve([spend(key, 0.2)])).toEqual({ ok: true, states: [{ remaining: 1 - (0.1 + 0.2), resetMs: 0 }], marks: [0] });
    expect(await redis.get(store.keyspace.key('w', key))).toBe(String(0.1 + 0.2));
    // A window total is not a lease: no sorted set, nothing under c:.
    expect(await redis.exists(store.keyspace.key('c', key))).toBe(0);

    // Admitted iff count + amount <= limit; an amount above the limit can never pass.
    expect(await store.reserve([spend(key, 0.7)])).toMatchObject({ ok: true, states: [{ remaining: 0 }] });
    const before = await redisNow(redis);
    const full = await store.reserve([spend(key, 0.01)]);
    const after = await redisNow(redis);
    expect(full).toMatchObject({ ok: false, index: 0, states: [{ remaining: 0 }] });
    // A full window total waits for the end of its window (epoch-aligned days), not for a slot.
    const wait = full.ok ? NaN : full.retryAfterMs;
    expect(wait).toBeLessThanOrEqual(DAY - (before % DAY));
    expect(wait).toBeGreaterThanOrEqual(DAY - (after % DAY));
    expect(await store.reserve([spend('fresh|w=1', 1.5)])).toMatchObject({ ok: false, index: 0, retryAfterMs: Infinity });

    // Settle: the call cost more than reserved (extra charge, never denied), then a refund.
    await store.adjust([spendDelta(key, 0.5)]);
    expect(await store.peek([spend(key, 0)])).toEqual([{ remaining: 0, resetMs: 0 }]);
    expect(Number(await redis.get(store.keyspace.key('w', key)))).toBeCloseTo(1.5, 12);
    await store.adjust([spendDelta(key, -0.75)]);
    expect((await store.peek([spend(key, 0)]))[0]!.remaining).toBeCloseTo(0.25, 12);
    // Refunds clamp at zero and delete the key.
    await store.adjust([spendDelta(key, -10)]);
    expect(await redis.exists(store.keyspace.key('w', key))).toBe(0);
    expect(await store.peek([spend(key, 0)])).toEqual([{ remaining: 1, resetMs: 0 }]);
    // An extra charge on a key never reserved (a rule whose estimate was 0) creates it.
    await store.adjust([spendDelta('late|w=3', 0.4)]);
    expect(await store.peek([spend('late|w=3', 0)])).toEqual([{ remaining: 0.6, resetMs: 0 }]);
  });

  it('admits spend that fills a per-window total exactly in cents (a float tolerance of a billionth of the limit)', async () => {
    const key = 'budget:tenant|tenant=cents|w=20000';
    // 0.1 + 0.1 + 0.1 is 0.30000000000000004 in doubles: $0.30 still fits a $0.30 cap, as in the memory store.
    for (let i = 0; i < 3; i++) expect(await store.reserve([spend(key, 0.1, 0.3)])).toMatchObject({ ok: true });
    expect(await store.reserve([spend(key, 0.01, 0.3)])).toMatchObject({ ok: false, index: 0 });
    expect(await store.reserve([spend('cents|w=2', 0.3 + 1e-6, 0.3)])).toMatchObject({ ok: false, index: 0, retryAfterMs: Infinity });
    expect(await store.reserve([spend('cents|w=2', 0.3, 0.3)])).toMatchObject({ ok: true });
  });

  it('keeps a window total at least windowMs after each write, and a new window index starts from zero', async () => {
    const windowMs = DAY;
    const today = Math.floor((await redisNow(redis)) / windowMs);
    const keyOf = (w: number) => `budget:tenant|tenant=acme|w=${w}`;
    expect((await store.reserve([spend(keyOf(today), 0.9)])).ok).toBe(true);
    const ttl = await redis.pttl(store.keyspace.key('w', keyOf(today)));
    expect(ttl).toBeGreaterThan(windowMs - 1000);
    expect(ttl).toBeLessThanOrEqual(windowMs + 1000);
    expect((await store.reserve([spend(keyOf(today), 0.2)])).ok).toBe(false);
    // The next window (the core puts its index in the key) is a fresh counter.
    expect(await store.reserve([spend(keyOf(today + 1), 0.2)])).toEqual({ ok: true, states: [{ remaining: 0.8, resetMs: 0 }], marks: [0] });
    // Adjustments refresh the expiry too (a 31-day budget: longer than any rate key).
    await store.adjust([spendDelta('month|w=7', 0.1, 5, 31 * DAY)]);
    expect(await redis.pttl(store.keyspace.key('w', 'month|w=7'))).toBeGreaterThan(31 * DAY - 1000);
  });

  it('charges window totals all or nothing together with rate and in-flight charges', async () => {
    // The budget binds: neither the rate bucket nor the slot is charged.
    await store.reserve([spend('b|w=1', 0.95)]);
    const denied = await store.reserve([rate('rpm', 1), slot('inflight'), spend('b|w=1', 0.1)]);
    expect(denied).toMatchObject({ ok: false, index: 2, states: [{ remaining: 10 }, { remaining: 2 }, { remaining: expect.closeTo(0.05, 12) }] });
    expect(await redis.exists(store.keyspace.key('r', 'rpm'), store.keyspace.key('c', 'inflight'))).toBe(0);
    // The rate bucket binds: the budget is not charged.
    await store.reserve([rate('rpm', 10)]);
    expect(await store.reserve([spend('b2|w=1', 0.5), rate('rpm', 1)])).toMatchObject({ ok: false, index: 1 });
    expect(await redis.exists(store.keyspace.key('w', 'b2|w=1'))).toBe(0);
    // Several charges on one counter add up; reservations batched in one EVALSHA see each other.
    expect(await store.reserve([spend('b3|w=1', 0.5), spend('b3|w=1', 0.6)])).toMatchObject({ ok: false, index: 1, retryAfterMs: Infinity });
    const batch = await Promise.all([store.reserve([spend('b3|w=1', 0.4)]), store.reserve([spend('b3|w=1', 0.4)]), store.reserve([spend('b3|w=1', 0.4)])]);
    expect(batch.map((r) => r.ok)).toEqual([true, true, false]);
    expect(Number(await redis.get(store.keyspace.key('w', 'b3|w=1')))).toBeCloseTo(0.8, 12);
  });

  it('sets an expiry on every key it writes', async () => {
    await store.reserve([rate('r1', 2), rate('r2', 1, 20), slot('c1')]);
    await store.adjust([
      { key: 'r3', kind: 'rate', limit: 10, windowMs: HOUR, delta: 1 },
      { key: 'c2', kind: 'concurrency', limit: 2, windowMs: 0, delta: 1 },
    ]);
    const keys = await redis.keys(store.keyspace.pattern());
    const adjustRun = keys.filter((k) => k.startsWith(`{${prefix}}:a:`)); // the adjust run's record
    expect(adjustRun).toHaveLength(1);
    expect(keys.sort()).toEqual([...adjustRun, ...['c:c1', 'c:c2', 'r:r1', 'r:r2', 'r:r3'].map((k) => `{${prefix}}:${k}`)].sort());
    for (const key of keys) {
      const ttl = await redis.pttl(key);
      expect({ key, positive: ttl > 0 }).toEqual({ key, positive: true });
    }
    // A rate key lives until it is back at full capacity, plus the margin (1 s).
    const ttl = await redis.pttl(store.keyspace.key('r', 'r1'));
    expect(ttl).toBeGreaterThan(2 * (HOUR / 10));
    expect(ttl).toBeLessThanOrEqual(2 * (HOUR / 10) + 1000);
    // A concurrency key lives as long as its newest lease, plus the margin.
    expect(await redis.pttl(store.keyspace.key('c', 'c1'))).toBeLessThanOrEqual(600_000 + 1000);
  });

  it('escapes keys so no id can reach another tenant or leave the hash tag', async () => {
    const hostile = ['tenant=a}{b', 'tenant=a%7D%7Bb', `}{${prefix}}:r:tenant=victim`, 'tenant=victim', 'x'.repeat(5000)];
    for (const key of hostile) expect((await store.reserve([rate(key, 10)])).ok).toBe(true);
    const keys = await redis.keys(store.keyspace.pattern());
    expect(keys).toHaveLength(hostile.length);
    for (const key of keys) {
      expect(key.startsWith(`{${prefix}}:r:`)).toBe(true);
      expect(key.slice(prefix.length + 2)).not.toMatch(/[{}]/);
      expect(key.length).toBeLessThan(600);
    }
    // Each is its own full bucket: the victim was not charged by the look-alike.
    expect(await store.peek([rate('tenant=victim', 1)])).toMatchObject([{ remaining: 0 }]);
    await store.adjust([{ key: 'tenant=victim', kind: 'rate', limit: 10, windowMs: HOUR, delta: -10 }]);
    expect(await store.peek(hostile.map((k) => rate(k, 1)))).toEqual(
      hostile.map((k) => (k === 'tenant=victim' ? { remaining: 10, resetMs: 0 } : expect.objectContaining({ remaining: 0 }))),
    );
    // A rate key and a concurrency key with the same name do not collide either.
    expect((await store.reserve([slot('tenant=victim')])).ok).toBe(true);
  });

  it('loads its scripts once, runs them with EVALSHA and recovers from NOSCRIPT', async () => {
    // SCRIPT FLUSH is server-wide: use a private server so no other test (or package) sees it.
    const server = new RedisServerProcess(await sparePort());
    await server.start();
    const own = new IORedis(server.port, '127.0.0.1');
    try {
      const s = new RedisLimiterStore({ redis: own, prefix, timeoutMs: 2000 });
      await s.load();
      expect(await own.script('EXISTS', new RedisScript(RESERVE_LUA).sha)).toEqual([1]);
      const evalsha = jest.spyOn(own, 'evalsha');
      const evalScript = jest.spyOn(own, 'eval');
      expect((await s.reserve([rate('k', 1)])).ok).toBe(true);
      expect(evalsha).toHaveBeenCalledTimes(1);
      expect(evalScript).not.toHaveBeenCalled();

      await own.script('FLUSH');
      expect((await s.reserve([rate('k', 1)])).ok).toBe(true);
      expect(evalsha).toHaveBeenCalledTimes(2);
      expect(evalScript).toHaveBeenCalledTimes(1); // NOSCRIPT -> EVAL, which caches the script again

      expect((await s.reserve([rate('k', 1)])).ok).toBe(true);
      expect(evalsha).toHaveBeenCalledTimes(3);
      expect(evalScript).toHaveBeenCalledTimes(1);
      expect(await s.peek([rate('k', 1)])).toMatchObject([{ remaining: 7 }]);
    } finally {
      own.disconnect();
      await server.dispose();
    }
  });

  it('batches reservations made in the same tick into one EVALSHA, in call order, each all or nothing', async () => {
    const spied = connect();
    try {
      const s = new RedisLimiterStore({ redis: spied, prefix, timeoutMs: 2000 });
      await s.load();
      const evalsha = jest.spyOn(spied, 'evalsha');
      const results = await Promise.all([
        s.reserve([rate('b', 3)]),
        s.reserve([rate('b', 3), slot('bs')]),
        s.reserve([rate('b', 3)]),
        s.reserve([rate('b', 3), rate('other', 1)]), // 12 > 10: denied, 'other' untouched
        s.reserve([rate('b', 1)]), // exactly full
      ]);
      expect(evalsha).toHaveBeenCalledTimes(1);
      expect(results.map((r) => r.ok)).toEqual([true, true, true, false, true]);
      expect(results[3]).toMatchObject({ ok: false, index: 0 });
      expect(results[4]).toMatchObject({ ok: true, states: [{ remaining: 0 }] });
      expect(await redis.exists(s.keyspace.key('r', 'other'))).toBe(0);
      expect(await s.peek([slot('bs')])).toEqual([{ remaining: 1, resetMs: 0 }]);

      evalsha.mockClear();
      const unbatched = new RedisLimiterStore({ redis: spied, prefix, timeoutMs: 2000, maxBatch: 1 });
      await Promise.all([unbatched.reserve([rate('u', 1)]), unbatched.reserve([rate('u', 1)])]);
      expect(evalsha).toHaveBeenCalledTimes(2);
    } finally {
      spied.disconnect();
    }
  });

  it('reports a key written by someone else as an event and falls back instead of throwing', async () => {
    await redis.set(store.keyspace.key('c', 'clash'), 'x'); // written by someone else: WRONGTYPE for ZRANGEBYSCORE
    const r = await store.reserve([rate('fine', 1), slot('clash')]);
    expect(r.ok).toBe(true); // fail-open: decided locally
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ type: 'error', operation: 'reserve', error: { code: 'ERR_LLMR_REDIS_KEY', kind: 'unknown', index: 1 } });
    expect((events[0] as { error: RedisKeyError }).error).toBeInstanceOf(RedisKeyError);
    expect((events[0] as { error: RedisKeyError }).error.reply).toMatch(/^WRONGTYPE/);
    expect(await redis.exists(store.keyspace.key('r', 'fine'))).toBe(0); // nothing of it charged on Redis
    expect(store.health).toBe('up'); // a reply error is not an outage
    // A peek on it is refused as a whole (one caller per run), as a reservation is, with Redis's error.
    await store.peek([slot('clash')]);
    expect(events[1]).toMatchObject({ type: 'error', operation: 'peek', error: { code: 'ERR_LLMR_REDIS_KEY', index: 0, operation: 'peek' } });
    expect((events[1] as { error: RedisKeyError }).error.reply).toMatch(/^WRONGTYPE/);
    events.length = 0;

    // Rate and window keys that hold something other than a number are refused the same way.
    await redis.set(store.keyspace.key('r', 'garbled'), 'x');
    await redis.set(store.keyspace.key('w', 'garbled|w=1'), 'x');
    const closed = new RedisLimiterStore({ redis, prefix, timeoutMs: 2000, onRedisError: 'fail-closed', onEvent: (e) => events.push(e) });
    const refused = await Promise.all([closed.reserve([rate('garbled', 1)]), closed.reserve([spend('garbled|w=1', 0.1)])].map((p) => p.catch((e: unknown) => e)));
    for (const e of refused) {
      expect(e).toBeInstanceOf(RedisUnavailableError); // fail-closed: refused, the cause classified
      expect((e as RedisUnavailableError).cause).toBeInstanceOf(RedisKeyError);
    }
    expect(events.map((e) => (e as { error: RedisKeyError }).error.reply)).toEqual(['ERR value is not a number', 'ERR value is not a number']);
    expect(await redis.mget(store.keyspace.key('r', 'garbled'), store.keyspace.key('w', 'garbled|w=1'))).toEqual(['x', 'x']); // left as they were
    events.length = 0;
  });

  it("decides the other reservations of a batch on Redis when one caller's key was written by someone else", async () => {
    await redis.set(store.keyspace.key('c', 'tenant=b'), 'garbage'); // tenant b's key is broken
    const spied = connect();
    try {
      const s = new RedisLimiterStore({ redis: spied, prefix, timeoutMs: 2000, onEvent: (e) => events.push(e) });
      await s.load();
      const evalsha = jest.spyOn(spied, 'evalsha');
      const [a, b, c] = await Promise.all([
        s.reserve([slot('tenant=a', 1, 1)]),
        s.reserve([rate('tenant=b', 1), slot('tenant=b', 1, 1)]),
        s.reserve([slot('tenant=c', 1, 1), rate('tenant=c', 1)]),
      ]);
      expect(evalsha).toHaveBeenCalledTimes(1); // one batch
      expect(events).toEqual([{ type: 'error', operation: 'reserve', error: expect.any(RedisKeyError) }]);
      expect((events[0] as { error: RedisKeyError }).error.index).toBe(1);
      events.length = 0;
      // Tenants a and c were admitted on Redis (their leases are their marks); b locally, nothing of it on Redis.
      expect([a.ok, b.ok, c.ok]).toEqual([true, true, true]);
      expect(await leasesOf(redis, s.keyspace.key('c', 'tenant=a'))).toHaveLength(1);
      expect(await leasesOf(redis, s.keyspace.key('c', 'tenant=c'))).toHaveLength(1);
      expect(await redis.exists(s.keyspace.key('r', 'tenant=b'))).toBe(0);
      expect((await s.peek([rate('tenant=c', 1)]))[0]!.remaining).toBe(9);
      // Their calls end: their slots are free on Redis at once, not when the leases expire.
      if (a.ok && c.ok) await s.adjust([{ ...slot('tenant=a', 1, 1), delta: -1, mark: a.marks?.[0] }, { ...slot('tenant=c', 1, 1), delta: -1, mark: c.marks?.[0] }]);
      expect(await redis.zcard(s.keyspace.key('c', 'tenant=a'))).toBe(0);
      expect((await s.reserve([slot('tenant=a', 1, 1)])).ok).toBe(true);
    } finally {
      spied.disconnect();
    }
  });

  it('takes a reply Redis sent in time although the event loop was blocked past timeoutMs', async () => {
    const s = new RedisLimiterStore({ redis, prefix, timeoutMs: 50, onEvent: (e) => events.push(e) });
    await s.load();
    expect((await s.reserve([rate('stall', 1)])).ok).toBe(true);
    const started = Date.now();
    const reserved = s.reserve([rate('stall', 1)]);
    await new Promise((r) => setImmediate(r)); // the batcher has sent it; Redis answers in microseconds
    blockEventLoop(150); // ... while the process is busy (a tokenizer, a big JSON, a GC pause)
    const peeked = s.peek([rate('stall', 1)]); // sent now: its reply arrives while the loop is blocked again
    blockEventLoop(150);
    expect(await reserved).toMatchObject({ ok: true, states: [{ remaining: 8 }] });
    expect(await peeked).toMatchObject([{ remaining: 8 }]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);
    expect(s.health).toBe('up'); // no outage, no fallback, nothing undone (afterEach: no events)
    expect((await s.peek([rate('stall', 1)]))[0]!.remaining).toBe(8); // charged twice, never undone
  });

  it('validates options and charges at the door', async () => {
    expect(() => new RedisLimiterStore({ redis, localFraction: 0 })).toThrow(RedisStoreConfigError);
    expect(() => new RedisLimiterStore({ redis, timeoutMs: -1 })).toThrow(/timeoutMs/);
    expect(() => new RedisLimiterStore({ redis: {} as never })).toThrow(/ioredis/);
    expect(() => new RedisLimiterStore({ redis, onRedisError: 'maybe' as never })).toThrow(/onRedisError/);
    await expect(store.reserve([{ ...rate('k', 1), limit: 0 }])).rejects.toThrow(RangeError);
    // Bad input to peek and usage is the caller's error too, not a Redis outage.
    await expect(store.peek([{ ...rate('k', 1), limit: NaN }])).rejects.toThrow(RangeError);
    await expect(store.usage([{ ...rate('k', 1), limit: NaN }])).rejects.toThrow(RangeError);
    expect(store.health).toBe('up');
  });

  it('answers empty calls without a round trip', async () => {
    await expect(store.reserve([])).resolves.toEqual({ ok: true, states: [] });
    await expect(store.peek([])).resolves.toEqual([]);
    await expect(store.adjust([])).resolves.toBeUndefined();
  });

  it('skips adjustments with delta 0 (a settled reservation hands back every charge it holds)', async () => {
    await store.reserve([rate('r1', 4)]);
    // Count round trips at the ioredis client (scripts run with EVALSHA).
    const evalsha = jest.spyOn(redis, 'evalsha');
    try {
      await store.adjust([{ key: 'r2', kind: 'rate', limit: 10, windowMs: HOUR, delta: 0 }]);
      expect(evalsha).not.toHaveBeenCalled();
      await store.adjust([
        { key: 'r3', kind: 'rate', limit: 10, windowMs: HOUR, delta: 0 },
        { key: 'r1', kind: 'rate', limit: 10, windowMs: HOUR, delta: -3 },
      ]);
      expect(evalsha).toHaveBeenCalledTimes(1);
      const sent = evalsha.mock.calls[0]!.map(String).join(' ');
      expect(sent).toContain('r1');
      expect(sent).not.toContain('r3');
    } finally {
      evalsha.mockRestore();
    }
    expect((await store.peek([rate('r1', 1)]))[0]?.remaining).toBe(9); // 4 reserved, 3 refunded
  });
});

describe('RedisLimiterStore without hash tag (real Redis): each prefix is a namespace of its own', () => {
  let redis: Redis;
  const base = uniquePrefix('untagged');
  beforeAll(() => {
    redis = connect();
  });
  afterAll(async () => {
    await deleteKeys(redis, `${base}*`);
    await redis.quit();
  });

  // Each pair was one Redis key while `:` was left alone in an untagged prefix (prefix `P`, key `r:x` and
  // prefix `P:r`, key `x` were both `P:r:r:x`), and one prefix's pattern() matched the other's keys.
  it.each([
    ['', 'r:x', ':r', 'x'],
    ['', 'a:r:x', ':r:a', 'x'],
    [':r', 'r:x', ':r:r', 'x'],
  ])("a store with prefix 'P%s' and key '%s' does not charge the bucket of one with prefix 'P%s' and key '%s'", async (pa, ka, pb, kb) => {
    const events: RedisStoreEvent[] = [];
    const ns = `${base}-${pa.length}${pb.length}`;
    const a = new RedisLimiterStore({ redis, prefix: `${ns}${pa}`, hashTag: false, timeoutMs: 2000, onEvent: (e) => events.push(e) });
    const b = new RedisLimiterStore({ redis, prefix: `${ns}${pb}`, hashTag: false, timeoutMs: 2000, onEvent: (e) => events.push(e) });
    const rate = (key: string): LimitCharge => ({ key, kind: 'rate', limit: 1, windowMs: HOUR, amount: 1 });
    try {
      expect((await a.reserve([rate(ka)])).ok).toBe(true);
      // b was never charged: its bucket is full.
      expect(await b.peek([rate(kb)])).toEqual([{ remaining: 1, resetMs: 0 }]);
      expect((await b.reserve([rate(kb)])).ok).toBe(true);
      expect(await redis.keys(a.keyspace.pattern())).toEqual([a.keyspace.key('r', ka)]);
      expect(await redis.keys(b.keyspace.pattern())).toEqual([b.keyspace.key('r', kb)]);
      expect(events).toEqual([]);
    } finally {
      a.close();
      b.close();
    }
  });
});
