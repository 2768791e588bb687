import { ManualClock } from '../clock';
import { Limiter, type LimitDecision, type LimitDenied, type Reservation } from './Limiter';
import { limitKey } from './limitKey';
import type { LimitCharge, LimiterStore } from './LimiterStore';
import type { LimitContext, LimitRule, UsageAmounts } from './LimitRule';
import { MemoryLimiterStore } from './MemoryLimiterStore';
import { RateLimitExceededError } from './RateLimitExceededError';

const userRpm: LimitRule = { id: 'user-rpm', scope: ['user'], metric: 'requests', limit: 3, windowMs: 60_000 };
const userTpm: LimitRule = { id: 'user-tpm', scope: ['user'], metric: 'totalTokens', limit: 1000, windowMs: 60_000 };
const modelItpm: LimitRule = { id: 'model-itpm', scope: ['model'], metric: 'inputTokens', limit: 100_000, windowMs: 60_000 };
const modelOtpm: LimitRule = { id: 'model-otpm', scope: ['provider', 'model'], metric: 'outputTokens', limit: 500, windowMs: 60_000 };
const teamCost: LimitRule = { id: 'team-cost', scope: ['team'], metric: 'cost', limit: 1, windowMs: 3_600_000 };
const userConc: LimitRule = { id: 'user-conc', scope: ['user'], metric: 'concurrency', limit: 2, windowMs: 0 };

const ctx: LimitContext = { user: 'u1', team: 't1', provider: 'openai', model: 'gpt-4o' };
const usage = (inputTokens: number, outputTokens = 0, costUsd = 0): UsageAmounts => ({ inputTokens, outputTokens, costUsd });

function setup(rules: LimitRule[]) {
  const clock = new ManualClock(0);
  const store = new MemoryLimiterStore({ clock });
  const limiter = new Limiter(rules, store);
  /** Remaining capacity of `rule` for `c`, read from the store without charging. */
  const remaining = (rule: LimitRule, c: LimitContext = ctx): number => {
    const charge: LimitCharge = {
      key: limitKey(rule, c)!,
      kind: rule.metric === 'concurrency' ? 'concurrency' : 'rate',
      limit: rule.limit,
      windowMs: rule.windowMs,
      burst: rule.burst,
      amount: 1,
    };
    return store.peek([charge])[0]!.remaining;
  };
  return { clock, store, limiter, remaining };
}

function ok(d: LimitDecision | Promise<LimitDecision>): Reservation {
  if (d instanceof Promise) throw new Error('expected a synchronous decision from the memory store');
  if (!d.ok) throw new Error(`denied by ${d.rule.id}`);
  return d;
}

function denied(d: LimitDecision | Promise<LimitDecision>): LimitDenied {
  if (d instanceof Promise) throw new Error('expected a synchronous decision from the memory store');
  if (d.ok) throw new Error('expected a denial');
  return d;
}

describe('Limiter — phases, matching and amounts', () => {
  it('reserves request-scoped rules in the request phase and provider/model rules per target', () => {
    const { limiter, remaining } = setup([userRpm, modelItpm, modelOtpm]);
    ok(limiter.reserve(ctx, usage(400, 100), 'request'));
    expect(remaining(userRpm)).toBe(2);
    expect(remaining(modelItpm)).toBe(100_000);
    ok(limiter.reserve(ctx, usage(400, 100), 'target'));
    expect(remaining(userRpm)).toBe(2);
    expect(remaining(modelItpm)).toBe(99_600);
    expect(remaining(modelOtpm)).toBe(400);
    expect(limiter.hasRequestRules && limiter.hasTargetRules).toBe(true);
  });

  it('charges each metric its amount', () => {
    const { limiter, remaining } = setup([userRpm, userTpm, teamCost, userConc]);
    const r = ok(limiter.reserve(ctx, usage(300, 200, 0.25), 'request'));
    expect(remaining(userRpm)).toBe(2);
    expect(remaining(userTpm)).toBe(500);
    expect(remaining(teamCost)).toBe(0); // floor(0.75) whole dollars left
    expect(remaining(userConc)).toBe(1);
    expect(r.limits().map((l) => [l.rule.id, l.amount])).toEqual([
      ['user-rpm', 1],
      ['user-tpm', 500],
      ['team-cost', 0.25],
      ['user-conc', 1],
    ]);
    expect(r.states).toHaveLength(4);
  });

  it('applies match filters', () => {
    const staging: LimitRule = { ...userRpm, id: 'staging-rpm', limit: 1, match: { environment: 'staging' } };
    const { limiter } = setup([staging]);
    ok(limiter.reserve({ user: 'u1', environment: 'prod' }, usage(1), 'request'));
    ok(limiter.reserve({ user: 'u1', environment: 'prod' }, usage(1), 'request'));
    ok(limiter.reserve({ user: 'u1', environment: 'staging' }, usage(1), 'request'));
    expect(denied(limiter.reserve({ user: 'u1', environment: 'staging' }, usage(1), 'request')).rule.id).toBe('staging-rpm');
    ok(limiter.reserve({ user: 'u1' }, usage(1), 'request'));
  });

  it('skips rules whose scope dimension is missing from the context', () => {
    const { limiter } = setup([{ ...userRpm, limit: 1 }]);
    for (let i = 0; i < 5; i++) ok(limiter.reserve({ team: 't1' }, usage(1), 'request'));
  });

  it('keeps users apart, however their ids are spelled', () => {
    const { limiter } = setup([{ ...userRpm, limit: 1 }]);
    ok(limiter.reserve({ user: 'a|b' }, usage(1), 'request'));
    ok(limiter.reserve({ user: 'a' }, usage(1), 'request'));
    ok(limiter.reserve({ user: 'a%7Cb' }, usage(1), 'request'));
    denied(limiter.reserve({ user: 'a|b' }, usage(1), 'request'));
  });

  it('rejects duplicate rule ids and invalid numbers', () => {
    const store = new MemoryLimiterStore();
    expect(() => new Limiter([userRpm, { ...userTpm, id: 'user-rpm' }], store)).toThrow(/used twice/);
    expect(() => new Limiter([{ ...userRpm, limit: 0 }], store)).toThrow(/limit must be a positive number/);
    expect(() => new Limiter([{ ...userRpm, windowMs: 0 }], store)).toThrow(/windowMs/);
    expect(() => new Limiter([userRpm], store, { keyCacheSize: 1 })).toThrow(/keyCacheSize must be a finite number >= 2, got 1/);
    expect(() => new Limiter([userRpm], store, { keyCacheSize: Number.NaN })).toThrow(/keyCacheSize/);
  });

  it('refuses a NaN, negative or non-number estimate instead of reserving nothing for it', () => {
    const { limiter } = setup([userRpm, userTpm]);
    expect(() => limiter.reserve({ user: 'u1' }, usage(Number.NaN), 'request')).toThrow(
      "Limiter.reserve: the estimate for rule 'user-tpm' (totalTokens) is NaN; token and cost estimates must be numbers >= 0.",
    );
    expect(() => limiter.reserve({ user: 'u1' }, usage(-1_000), 'request')).toThrow(/rule 'user-tpm' \(totalTokens\) is -1000/);
    expect(() => limiter.reserve({ user: 'u1' }, usage('300' as never, '300' as never), 'request')).toThrow(/is string/);
    // Nothing was charged by the refused calls: the RPM rule still admits its full limit.
    for (let i = 0; i < 3; i++) ok(limiter.reserve({ user: 'u1' }, usage(10), 'request'));
    denied(limiter.reserve({ user: 'u1' }, usage(10), 'request'));
  });

  it('gives a reservation that awaits as itself and is not taken for a promise', async () => {
    const { limiter, remaining } = setup([userRpm]);
    const d = limiter.reserve(ctx, usage(10), 'request');
    const r = ok(d);
    // `then` is an own property that is undefined (see Reservation.then): awaiting reads it, finds no
    // method, and resolves to the reservation itself.
    expect(Object.prototype.hasOwnProperty.call(r, 'then')).toBe(true);
    expect(r.then).toBeUndefined();
    await expect(Promise.resolve(d)).resolves.toBe(r);
    expect(await d).toBe(r);
    expect(remaining(userRpm)).toBe(2);
    await r.settle(usage(10));
    expect(r.closed).toBe(true);
  });

  it('keeps limiting every user when there are more users than its key cache holds', () => {
    const clock = new ManualClock(0);
    const limiter = new Limiter([userRpm], new MemoryLimiterStore({ clock }), { clock, keyCacheSize: 4 });
    const ask = (user: string) => limiter.reserve({ user }, usage(1), 'request') as LimitDecision;
    for (let round = 0; round < 3; round++) {
      for (let u = 0; u < 10; u++) expect(ask(`u${u}`).ok).toBe(true);
    }
    for (let u = 0; u < 10; u++) expect(ask(`u${u}`)).toMatchObject({ ok: false, rule: userRpm, key: `user-rpm|user=u${u}` });
  });
});

describe('Limiter — denials', () => {
  it('denies with the rule, key, scope and wait; nothing is charged', () => {
    const { limiter, remaining } = setup([userRpm, userTpm]);
    ok(limiter.reserve(ctx, usage(900), 'request'));
    const d = denied(limiter.reserve(ctx, usage(200), 'request'));
    expect(d).toMatchObject({ ok: false, key: 'user-tpm|user=u1', amount: 200, scope: { user: 'u1' } });
    expect(d.rule).toBe(userTpm);
    expect(d.retryAfterMs).toBe(6000); // 100 tokens over, at 60 ms per token
    expect(remaining(userRpm)).toBe(2);
    const err = RateLimitExceededError.fromDenial(d);
    expect(err).toMatchObject({ kind: 'rate_limited', code: 'ERR_LLMR_LIMIT_EXCEEDED', ruleId: 'user-tpm', metric: 'totalTokens', retryAfterMs: 6000 });
    expect(err.message).toBe(
      'Limit "user-tpm" (totalTokens per user) denied the request; it can pass in 6.0 s. Retry after that, or raise the limit in the policy if this is regular traffic.',
    );
    expect(err.message).not.toContain('u1');
  });

  it('says Infinity, and never, when the request cannot fit the bucket at all', () => {
    const { limiter } = setup([modelItpm]);
    const d = denied(limiter.reserve(ctx, usage(200_000), 'target'));
    expect(d.retryAfterMs).toBe(Infinity);
    const err = RateLimitExceededError.fromDenial(d);
    expect(err.message).toContain('it asks for 200000 inputTokens but the bucket holds at most 100000');
    expect(err.message).toContain('can never pass');
  });
});

describe('Limiter — denials naming the longest real wait', () => {
  const HOUR = 3_600_000;
  const DAY = 86_400_000;
  const cost = (costUsd: number): UsageAmounts => ({ inputTokens: 0, outputTokens: 0, costUsd });

  it('names the per-window total whose window ends last, with the time to that end', () => {
    const clock = new ManualClock(0);
    const limiter = new Limiter(
      [
        { id: 'team-hourly', scope: ['team'], metric: 'cost', limit: 10, windowMs: HOUR, fixedWindow: true },
        { id: 'tenant-daily', scope: ['tenant'], metric: 'cost', limit: 10, windowMs: DAY, fixedWindow: true },
      ],
      new MemoryLimiterStore({ clock }),
      { clock },
    );
    const c = { team: 't', tenant: 'x' };
    ok(limiter.reserve(c, cost(10), 'request'));
    clock.set(HOUR / 2);
    const d = denied(limiter.reserve(c, cost(1), 'request'));
    expect([d.rule.id, d.retryAfterMs]).toEqual(['tenant-daily', DAY - HOUR / 2]);
  });

  it('names a full per-window total rather than a rate rule that frees up sooner', () => {
    const clock = new ManualClock(0);
    const limiter = new Limiter(
      [
        { id: 'tenant-daily', scope: ['tenant'], metric: 'cost', limit: 10, windowMs: DAY, fixedWindow: true },
        { id: 'tenant-rps', scope: ['tenant'], metric: 'requests', limit: 1, windowMs: 1000 },
      ],
      new MemoryLimiterStore({ clock }),
      { clock },
    );
    const c = { tenant: 'x' };
    ok(limiter.reserve(c, cost(10), 'request'));
    clock.set(200);
    const d = denied(limiter.reserve(c, cost(1), 'request')); // the rate rule alone would say 800 ms
    expect([d.rule.id, d.retryAfterMs]).toEqual(['tenant-daily', DAY - 200]);
    clock.set(1000);
    // The rate rule has room again; the budget still waits for its window.
    expect(denied(limiter.reserve(c, cost(1), 'request')).rule.id).toBe('tenant-daily');
    clock.set(DAY);
    ok(limiter.reserve(c, cost(1), 'request'));
  });
});

describe('Limiter — usage', () => {
  it('reports exact usage, not whole units, while the states stay floored', () => {
    const clock = new ManualClock(0);
    const limiter = new Limiter([teamCost, userTpm], new MemoryLimiterStore({ clock }), { clock });
    const r = ok(limiter.reserve(ctx, usage(400, 100, 0.3), 'request'));
    expect(r.states.map((s) => s.remaining)).toEqual([0, 500]); // $0.70 left: floored to 0 units
    expect(limiter.usage('team-cost', ctx)).toBe(0.3);
    expect(limiter.usage('user-tpm', ctx)).toBe(500);
    clock.set(30); // half a token of user-tpm is back (60 ms per token)
    expect(limiter.usage('user-tpm', ctx)).toBe(499.5);
    r.settle(usage(400, 700, 0.05)); // 600 tokens more than reserved: debt beyond the capacity
    expect(limiter.usage('user-tpm', ctx)).toBe(1099.5);
    expect(limiter.usage('team-cost', ctx)).toBeCloseTo(0.05 - 30 / 3_600_000, 12);
    expect(limiter.usage('team-cost', { user: 'u1' })).toBeUndefined(); // the rule does not apply
  });

  it('falls back to whole units with a store that can peek but not report usage', () => {
    const inner = new MemoryLimiterStore({ clock: new ManualClock(0) });
    const store: LimiterStore = { reserve: (c) => inner.reserve(c), adjust: (a) => inner.adjust(a), peek: (c) => inner.peek(c) };
    const limiter = new Limiter([teamCost], store);
    ok(limiter.reserve(ctx, usage(0, 0, 0.3), 'request'));
    expect(limiter.usage('team-cost', ctx)).toBe(1);
    expect(new Limiter([teamCost], { reserve: store.reserve, adjust: store.adjust }).usage('team-cost', ctx)).toBeUndefined();
  });
});

describe('Limiter — settle', () => {
  it('refunds over-estimates and charges under-estimates', () => {
    const { limiter, remaining } = setup([userTpm]);
    const a = ok(limiter.reserve(ctx, usage(300, 300), 'request'));
    expect(remaining(userTpm)).toBe(400);
    a.settle(usage(250, 50)); // used 300 of the 600 reserved
    expect(remaining(userTpm)).toBe(700);
    const b = ok(limiter.reserve(ctx, usage(100, 100), 'request'));
    b.settle(usage(800, 200)); // 800 more than reserved: debt
    expect(remaining(userTpm)).toBe(0);
    expect(denied(limiter.reserve(ctx, usage(1), 'request')).retryAfterMs).toBe(18_060);
  });

  it('settles against the estimate as it was when reserved, whatever the caller does with its object', () => {
    const { limiter, remaining } = setup([userTpm]);
    const estimate = usage(300, 300);
    const a = ok(limiter.reserve(ctx, estimate, 'request'));
    estimate.inputTokens = 0; // e.g. an object reused for the next request
    estimate.outputTokens = 0;
    a.settle(usage(250, 50)); // used 300 of the 600 reserved
    expect(remaining(userTpm)).toBe(700);
  });

  it('charges rules whose estimate was 0 with their actual usage', () => {
    const { limiter, remaining } = setup([modelOtpm, teamCost]);
    const t = ok(limiter.reserve(ctx, usage(100, 0, 0), 'target'));
    expect(t.limits()).toEqual([]);
    t.settle(usage(100, 120, 0.5));
    expect(remaining(modelOtpm)).toBe(380);
    const r = ok(limiter.reserve(ctx, usage(100, 0, 0), 'request'));
    expect(remaining(teamCost)).toBe(1);
    r.settle(usage(100, 120, 0.5));
    expect(remaining(teamCost)).toBe(0);
  });

  it('releases concurrency and is idempotent', () => {
    const { limiter, remaining } = setup([userConc, userTpm]);
    const r = ok(limiter.reserve(ctx, usage(100), 'request'));
    expect(remaining(userConc)).toBe(1);
    r.settle(usage(50));
    r.settle(usage(50));
    r.fail('release');
    expect(r.closed).toBe(true);
    expect(remaining(userConc)).toBe(2);
    expect(remaining(userTpm)).toBe(950);
  });

  it('charges in-flight concurrency with windowMs 0 even when the rule carries a window', async () => {
    // To stores, concurrency with windowMs > 0 means a per-window total (budgets), not slots in flight.
    const seen: LimitCharge[] = [];
    const store: LimiterStore = { reserve: (charges) => (seen.push(...charges), { ok: true, states: [] }), adjust: () => undefined };
    const limiter = new Limiter([{ ...userConc, windowMs: 60_000 }], store);
    await limiter.reserve(ctx, usage(1), 'request');
    expect(seen).toEqual([expect.objectContaining({ kind: 'concurrency', windowMs: 0 })]);
  });

  it('a late refund gives back only what the reservation still holds: no twice the burst', async () => {
    const tpm: LimitRule = { id: 'tpm', scope: [], metric: 'inputTokens', limit: 10_000, windowMs: 60_000 };
    // The memory store through the limiter's batch calls, through plain charges, and asynchronously.
    const stores: Array<(inner: MemoryLimiterStore) => LimiterStore> = [
      (inner) => inner,
      (inner) => ({ reserve: (c) => inner.reserve(c), adjust: (a) => inner.adjust(a) }),
      (inner) => ({ reserve: async (c) => inner.reserve(c), adjust: async (a) => inner.adjust(a) }),
    ];
    for (const storeOf of stores) {
      const clock = new ManualClock(0);
      const limiter = new Limiter([tpm], storeOf(new MemoryLimiterStore({ clock })), { clock });
      const a = await limiter.reserve({}, usage(10_000), 'request');
      clock.set(60_000); // a's tokens are back by now: the bucket is full again
      const b = await limiter.reserve({}, usage(10_000), 'request');
      expect(a.ok && b.ok).toBe(true);
      if (a.ok) await a.settle(usage(0)); // a refunds late: what it held has already come back
      const c = await limiter.reserve({}, usage(10_000), 'request');
      expect(c.ok).toBe(false);
      if (!c.ok) expect(c.retryAfterMs).toBe(60_000);
      clock.set(120_000);
      expect((await limiter.reserve({}, usage(10_000), 'request')).ok).toBe(true);
    }
  });

  it('a refund gives back what the reservation still holds, and no more once its key was dropped', () => {
    const rule: LimitRule = { id: 'k', scope: [], metric: 'inputTokens', limit: 10, windowMs: 1000 }; // 100 ms per token
    const charge: LimitCharge = { key: 'k', kind: 'rate', limit: 10, windowMs: 1000, amount: 0 };
    const clock = new ManualClock(0);
    const store = new MemoryLimiterStore({ clock });
    const limiter = new Limiter([rule], store, { clock });
    // Refunded at once: everything comes back (the key is back at full capacity and dropped).
    ok(limiter.reserve({}, usage(10), 'request')).settle(usage(0));
    expect(store.size).toBe(0);
    const a = ok(limiter.reserve({}, usage(10), 'request')); // holds [0, 1000]
    clock.set(400);
    a.settle(usage(8)); // 2 refunded: well within the 600 ms a still holds
    expect(store.peek([charge])).toEqual([{ remaining: 6, resetMs: 400 }]);

    clock.set(800);
    const b = ok(limiter.reserve({}, usage(10), 'request')); // holds [800, 1800]
    clock.set(1800);
    store.sweep(); // b's interval is over: the key is dropped, and re-created by the next reservation
    ok(limiter.reserve({}, usage(10), 'request'));
    b.settle(usage(0)); // b's mark predates the new key; the store's largest r keeps it from refunding
    expect(denied(limiter.reserve({}, usage(10), 'request')).retryAfterMs).toBe(1000);
  });

  it('keeps the estimate when the actual amount is not a number', () => {
    const { limiter, remaining } = setup([userTpm]);
    ok(limiter.reserve(ctx, usage(100), 'request')).settle(usage(Number.NaN));
    expect(remaining(userTpm)).toBe(900);
  });
});

describe('Limiter — failed calls', () => {
  const rules = [userRpm, userTpm, teamCost, userConc];

  it("default 'requests': request counts stay, tokens and cost are refunded, concurrency released", () => {
    const { limiter, remaining } = setup(rules);
    ok(limiter.reserve(ctx, usage(400, 100, 0.5), 'request')).fail();
    expect(remaining(userRpm)).toBe(2);
    expect(remaining(userTpm)).toBe(1000);
    expect(remaining(teamCost)).toBe(1);
    expect(remaining(userConc)).toBe(2);
  });

  it("'keep' keeps everything charged (but releases concurrency)", () => {
    const { limiter, remaining } = setup(rules);
    ok(limiter.reserve(ctx, usage(400, 100, 0.5), 'request')).fail('keep');
    expect([remaining(userRpm), remaining(userTpm), remaining(teamCost), remaining(userConc)]).toEqual([2, 500, 0, 2]);
  });

  it("'release' refunds everything", () => {
    const { limiter, remaining } = setup(rules);
    ok(limiter.reserve(ctx, usage(400, 100, 0.5), 'request')).fail('release');
    expect([remaining(userRpm), remaining(userTpm), remaining(teamCost), remaining(userConc)]).toEqual([3, 1000, 1, 2]);
  });

  it("each rule's onFailure applies when fail() gets no kind", () => {
    const keepTokens: LimitRule = { ...userTpm, onFailure: 'keep' };
    const releaseRequests: LimitRule = { ...userRpm, onFailure: 'release' };
    const { limiter, remaining } = setup([keepTokens, releaseRequests]);
    const r = ok(limiter.reserve(ctx, usage(400, 100), 'request'));
    r.fail();
    r.fail('release'); // no-op: already failed
    expect(remaining(keepTokens)).toBe(500);
    expect(remaining(releaseRequests)).toBe(3);
  });
});

describe('Limiter — asynchronous stores', () => {
  it('works through promises (as with Redis)', async () => {
    const clock = new ManualClock(0);
    const inner = new MemoryLimiterStore({ clock });
    const adjusted: number[] = [];
    const store: LimiterStore = {
      reserve: async (charges) => inner.reserve(charges),
      adjust: async (adjustments) => {
        adjusted.push(...adjustments.map((a) => a.delta));
        inner.adjust(adjustments);
      },
    };
    const limiter = new Limiter([userRpm, userTpm], store);
    const pending = limiter.reserve(ctx, usage(600), 'request');
    expect(pending).toBeInstanceOf(Promise);
    const r = await pending;
    if (!r.ok) throw new Error('denied');
    await r.settle(usage(500));
    // Every held charge comes back; the unchanged request count with delta 0, which stores skip.
    expect(adjusted).toEqual([0, -100]);
    const d = await limiter.reserve(ctx, usage(901), 'request');
    expect(d).toMatchObject({ ok: false, retryAfterMs: 24_060 });
  });
});

describe('Limiter headroom (traffic classes)', () => {
  it('leaves a share for higher classes, but never makes a whole-unit bucket hold less than one unit', () => {
    const clock = new ManualClock(0);
    const lim = new Limiter(
      [
        { id: 'one-per-minute', scope: ['user'], metric: 'requests', limit: 1, windowMs: 60_000 },
        { id: 'tpm', scope: ['team'], metric: 'totalTokens', limit: 1_000, windowMs: 60_000 },
      ],
      new MemoryLimiterStore({ clock }),
      { clock },
    );
    const batch = { headroom: 0.2 };
    // 80% of one request is no request at all: batch traffic still gets the single unit when it is free.
    const first = lim.reserve({ user: 'u' }, { inputTokens: 0, outputTokens: 0, costUsd: 0 }, 'request', batch);
    expect(first).toMatchObject({ ok: true });
    const second = lim.reserve({ user: 'u' }, { inputTokens: 0, outputTokens: 0, costUsd: 0 }, 'request', batch);
    expect(second).toMatchObject({ ok: false, retryAfterMs: 60_000 });
    // Tokens: batch may use 800 of 1000, so 900 never fits batch, 800 does.
    expect(lim.reserve({ team: 't' }, { inputTokens: 900, outputTokens: 0, costUsd: 0 }, 'request', batch)).toMatchObject({ ok: false, retryAfterMs: Infinity });
    expect(lim.reserve({ team: 't' }, { inputTokens: 800, outputTokens: 0, costUsd: 0 }, 'request', batch)).toMatchObject({ ok: true });
  });
});
