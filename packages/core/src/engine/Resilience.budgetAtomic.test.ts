import { MemoryLimiterStore } from '../limits/MemoryLimiterStore';
import type { LimitAdjustment, LimitCharge, LimiterStore } from '../limits/LimiterStore';
import { definePolicy } from '../policy/definePolicy';
import { PolicyConfigError } from '../errors/ResilienceError';
import { drive, scripted, setup, targets } from './engineTestKit';

/**
 * A shared store as Redis is: each call is applied when it reaches the store, its answer comes later
 * (a promise), so other requests' calls can run in between. Counts the reservation calls.
 */
function asyncStore(clock: { now(): number }): { store: LimiterStore; reserveCalls: LimitCharge[][] } {
  const inner = new MemoryLimiterStore({ clock: { now: () => clock.now(), sleep: () => Promise.resolve() } });
  const reserveCalls: LimitCharge[][] = [];
  const store: LimiterStore = {
    reserve: (charges) => {
      reserveCalls.push(charges.map((c) => ({ ...c })));
      return Promise.resolve(inner.reserve(charges));
    },
    adjust: (adjustments: readonly LimitAdjustment[]) => Promise.resolve(inner.adjust(adjustments)),
    peek: (charges) => Promise.resolve(inner.peek(charges)),
    usage: (charges) => Promise.resolve(inner.usage(charges)),
  };
  return { store, reserveCalls };
}

describe('limits and budgets are reserved together at admission', () => {
  // On `premium` ($100 in, $400 out per 1M), the worst case of one request is (10 × 100 + 150 × 400) / 1e6
  // = $0.061: two do not fit $0.10. Each answer costs (10 × 100 + 5 × 400) / 1e6 = $0.003.
  const opts = { inputTokens: 10, maxOutputTokens: 150 };
  const answer = { choices: [{ message: { content: 'x' } }], usage: { prompt_tokens: 10, completion_tokens: 5 } };
  const policy = {
    budgets: [{ id: 'team-daily', scope: ['team' as const], limitUsd: 0.1, window: '1d' }],
    limits: [{ id: 'user-rps', scope: ['user' as const], metric: 'requests' as const, limit: 1, window: '1s' }],
  };

  it("a request a limit denies holds none of its budget, even for a moment: another user's request of the team is not refused by it", async () => {
    const time = { now: () => 1_000_000 }; // the kit's clock starts there
    const { store } = asyncStore(time);
    const { engine, clock } = setup(policy, { chat: { chain: ['premium'] } }, { store });
    time.now = () => clock.now();
    const { fn } = scripted({ premium: [answer] });
    // u1 uses its one request this second; it spends $0.003 of the team's $0.10.
    // (Awaited without moving the clock: the scripted model answers at once.)
    await engine.execute({ route: 'chat', identity: { user: 'u1', team: 't' }, ...opts }, fn);
    const budgetEvents: string[] = [];
    engine.events.on('budget', (e) => budgetEvents.push(`${e.budget}:${e.event}`));
    // u1 again (denied by user-rps) and u2 at once. Reserved in two store calls, u1's budget was held
    // until its limit's answer came back, and u2's budget ($0.061 on top of u1's $0.064) was refused.
    const u1 = engine.execute({ route: 'chat', identity: { user: 'u1', team: 't' }, ...opts }, fn).catch((e: unknown) => e);
    let answerU2!: (v: unknown) => void;
    const u2 = engine.execute({ route: 'chat', identity: { user: 'u2', team: 't' }, ...opts }, () => new Promise((r) => (answerU2 = r))).catch((e: unknown) => e);
    // u1's denial is checked against the budget's spend, u2's worst case in flight included: $0.003 +
    // $0.061 + $0.061 does not fit $0.10, so u1 is refused by the budget (which never queues), at once.
    const r1 = await u1;
    expect((r1 as { ruleId?: string }).ruleId).toBe('team-daily');
    expect(budgetEvents).toEqual(['team-daily:exceeded']);
    answerU2(answer);
    const r2 = await u2;
    expect((r2 as { record: { outcome: string } }).record.outcome).toBe('success');
    expect(clock.now()).toBe(1_000_000);
  });

  it('reserves both in one store call, and one settle gives back what the request did not spend of either', async () => {
    const time = { now: () => 1_000_000 }; // the kit's clock starts there
    const { store, reserveCalls } = asyncStore(time);
    const { engine, clock } = setup(policy, { chat: { chain: ['premium'] } }, { store });
    time.now = () => clock.now();
    const { fn } = scripted({ premium: [answer] });
    await drive(clock, engine.execute({ route: 'chat', identity: { user: 'u1', team: 't' }, ...opts }, fn));
    expect(reserveCalls).toHaveLength(1);
    expect(reserveCalls[0]!.map((c) => c.key.split('|')[0])).toEqual(['team-daily', 'user-rps']);
    // The budget holds what the request cost, not its worst case.
    const [spent] = await store.usage!([{ ...reserveCalls[0]![0]!, amount: 0 }]);
    expect(spent).toBeCloseTo(0.003, 12);
  });

  it("still tells a budget's refusal from a limit's: the budget refuses at once, a limit queues", async () => {
    const { engine, clock, records } = setup(
      { ...policy, budgets: [{ id: 'team-daily', scope: ['team'], limitUsd: 0.05, window: '1d' }] },
      { chat: { chain: ['premium'] } },
    );
    const { fn, calls } = scripted({ premium: [answer] });
    const budgetEvents: string[] = [];
    engine.events.on('budget', (e) => budgetEvents.push(`${e.budget}:${e.event}`));
    // $0.061 never fits the $0.05 budget: refused at once, nothing queued, the model never called.
    const err = await drive(clock, engine.execute({ route: 'chat', identity: { user: 'u1', team: 't' }, ...opts }, fn).catch((e: unknown) => e));
    expect((err as { retryAfterMs?: number }).retryAfterMs).toBe(Infinity);
    expect(budgetEvents).toEqual(['team-daily:exceeded']);
    expect(calls).toEqual([]);
    expect(records[0]!.queue_wait_ms).toBe(0);
  });

  it('names the budget when the request can never fit it nor a limit: the budget event says exceeded', async () => {
    const { engine, clock } = setup(
      {
        budgets: [{ id: 'team-daily', scope: ['team'], limitUsd: 0.05, window: '1d' }],
        limits: [{ id: 'user-tpm', scope: ['user'], metric: 'totalTokens', limit: 100, window: '1m' }],
      },
      { chat: { chain: ['premium'] } },
    );
    const { fn } = scripted({});
    const budgetEvents: string[] = [];
    engine.events.on('budget', (e) => budgetEvents.push(`${e.budget}:${e.event}`));
    // $0.061 never fits $0.05, and 160 tokens never fit 100 a minute: both deny with no end.
    const err = await drive(clock, engine.execute({ route: 'chat', identity: { user: 'u1', team: 't' }, ...opts }, fn).catch((e: unknown) => e));
    expect((err as { ruleId?: string; retryAfterMs?: number }).ruleId).toBe('team-daily');
    expect((err as { retryAfterMs?: number }).retryAfterMs).toBe(Infinity);
    expect(budgetEvents).toEqual(['team-daily:exceeded']);
  });

  it('a spent budget refuses at once although a limit that frees up later is the one the denial names', async () => {
    const { engine, clock } = setup(
      {
        budgets: [{ id: 'team-daily', scope: ['team'], limitUsd: 0.1, window: '1d' }],
        // One request per user a day (a rate): its wait (about a day) outlasts the budget's (to midnight).
        limits: [{ id: 'user-daily', scope: ['user'], metric: 'requests', limit: 1, window: '1d' }],
      },
      { chat: { chain: ['premium'] } },
    );
    const full = { choices: [{ message: { content: 'x' } }], usage: { prompt_tokens: 10, completion_tokens: 150 } };
    const { fn, calls } = scripted({ premium: [full, full] });
    const budgetEvents: string[] = [];
    engine.events.on('budget', (e) => budgetEvents.push(`${e.budget}:${e.event}`));
    await drive(clock, engine.execute({ route: 'chat', identity: { user: 'u1', team: 't' }, ...opts }, fn));
    // $0.061 spent: a second $0.061 does not fit $0.10 today. The budget refuses, nothing is queued.
    const err = await drive(clock, engine.execute({ route: 'chat', identity: { user: 'u1', team: 't' }, ...opts }, fn).catch((e: unknown) => e));
    expect((err as { ruleId?: string }).ruleId).toBe('team-daily');
    expect(budgetEvents).toEqual(['team-daily:exceeded']);
    expect(engine.scheduler.queuedOf('live')).toBe(0);
    expect(calls).toEqual(['premium']);
  });

  it('a spent budget behind a limit that never fits still moves the request to its cheaper route', async () => {
    const { engine, clock } = setup(
      {
        budgets: [{ id: 'team-daily', scope: ['team'], limitUsd: 0.1, window: '1d', downgradeTo: 'cheap' }],
        // 160 tokens never fit 100 a minute on the premium route; the cheap route has no such limit.
        limits: [{ id: 'chat-tpm', scope: ['user'], match: { route: 'chat' }, metric: 'totalTokens', limit: 100, window: '1m' }],
      },
      { chat: { chain: ['premium'] }, cheap: { chain: ['a'] }, spend: { chain: ['premium'] } },
    );
    const answer = { choices: [{ message: { content: 'x' } }], usage: { prompt_tokens: 10, completion_tokens: 5 } };
    const { fn, calls } = scripted({ premium: [], a: [answer] });
    const budgetEvents: string[] = [];
    engine.events.on('budget', (e) => budgetEvents.push(`${e.budget}:${e.event}`));
    // The team spent $0.08 earlier today (200 output tokens at $400 / 1M, on a route without that limit).
    const spend = { choices: [{ message: { content: 'x' } }], usage: { prompt_tokens: 0, completion_tokens: 200 } };
    await drive(clock, engine.execute({ route: 'spend', identity: { user: 'u0', team: 't' }, inputTokens: 0, maxOutputTokens: 200 }, scripted({ premium: [spend] }).fn));
    const r = await drive(clock, engine.execute({ route: 'chat', identity: { user: 'u1', team: 't' }, ...opts }, fn));
    expect(r.record.route).toBe('cheap');
    expect(budgetEvents).toEqual(['team-daily:downgrade']);
    expect(calls).toEqual(['a']);
  });

  it('refuses a policy whose budget has the id of a limit rule, naming both', () => {
    let err: unknown;
    try {
      definePolicy({
        targets,
        routes: { chat: { chain: ['premium'] } },
        limits: [{ id: 'daily', scope: ['team'], metric: 'requests', limit: 100, window: '1d' }],
        budgets: [{ id: 'daily', scope: ['team'], limitUsd: 5, window: '1d' }],
      });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(PolicyConfigError);
    expect((err as Error).message).toContain("budgets[0].id: expected an id no limit rule has, got 'daily' (also limits[0])");
  });
});
