import { drive, ok, setup } from './engineTestKit';

/** A request a budget moved to a cheaper route runs under that route: its record and its deadline. */
describe('Resilience: a request downgraded by a budget', () => {
  it('records the estimate of the route the request was admitted on (what its budgets reserved)', async () => {
    const { engine, clock } = setup(
      {
        targets: {
          a: { provider: 'openai', model: 'model-a', price: { input: 1, output: 2 } },
          free: { provider: 'openai', model: 'model-free', price: { input: 0, output: 0 } },
        },
        budgets: [{ id: 'daily', scope: ['tenant'], limitUsd: 0.01, window: '1d', downgradeAt: 0.95, downgradeTo: 'cheap' }],
      },
      { chat: { chain: ['a'] }, cheap: { chain: ['free'] } },
    );
    const ask = () =>
      engine.execute({ route: 'chat', identity: { tenant: 't' }, inputTokens: 1000, maxOutputTokens: 1000 }, async () =>
        ok('x', { prompt_tokens: 1000, completion_tokens: 1000 }),
      );
    // Six together: the fourth reads $0.009, under the 95% mark; the last three are moved by the cap's denial.
    const results = await drive(clock, Promise.all([0, 1, 2, 3, 4, 5].map(ask)));
    const cheap = results.filter((r) => r.record.route === 'cheap');
    expect(cheap).toHaveLength(3);
    // On `cheap` (a free target) the worst case is $0, and that is what the budget reserved for them.
    for (const r of cheap) expect(r.record.estimated_cost).toBe(0);
  });

  it("is bounded by the downgrade route's deadline (the route it now runs on)", async () => {
    const { engine, clock } = setup(
      { budgets: [{ id: 'd', scope: ['tenant'], limitUsd: 100, window: '1d', downgradeAt: 0, downgradeTo: 'cheap' }] },
      { chat: { chain: ['a'] }, cheap: { chain: ['b'], deadline: '1s' } },
    );
    const started = clock.now();
    const call = async (_t: unknown, ctx: { signal: AbortSignal }) => {
      await clock.sleep(10_000, ctx.signal);
      return ok();
    };
    const outcome = await drive(clock, engine.execute({ route: 'chat', identity: { tenant: 't' }, inputTokens: 10 }, call).then(
      (r) => ({ ok: true as const, route: r.record.route, at: clock.now() }),
      (e: unknown) => ({ ok: false as const, error: e, at: clock.now() }),
    ));
    // `cheap` has a 1 s deadline: the call is cut off by then, not run its 10 s.
    expect(outcome.ok).toBe(false);
    expect(outcome.at - started).toBeLessThanOrEqual(1_000);
    expect((outcome as { error: { kind?: string; record?: { route?: string } } }).error).toMatchObject({ kind: 'timeout', record: { route: 'cheap' } });
  });

  it("leaves the admission queue by the downgrade route's deadline (1 s), not the original route's (none)", async () => {
    const { engine, clock } = setup(
      {
        targets: {
          a: { provider: 'openai', model: 'model-a', price: { input: 1, output: 2 } },
          free: { provider: 'openai', model: 'model-free', price: { input: 0, output: 0 } },
        },
        budgets: [{ id: 'daily', scope: ['tenant'], limitUsd: 0.01, window: '1d', downgradeAt: 0.95, downgradeTo: 'cheap' }],
        // 3 per 5 s: a denied request could pass in ~1.7 s, within the 'live' class's 2 s maxWait.
        limits: [{ id: 'rp5s', scope: ['tenant'], metric: 'requests', limit: 3, window: '5s' }],
      },
      { chat: { chain: ['a'] }, cheap: { chain: ['free'], deadline: '1s' } },
    );
    const downgraded: unknown[] = [];
    engine.events.on('budget', (e) => {
      if (e.event === 'downgrade') downgraded.push(e);
    });
    const started = clock.now();
    const ask = () =>
      engine
        .execute({ route: 'chat', identity: { tenant: 't' }, inputTokens: 1000, maxOutputTokens: 1000 }, async () => ok('x', { prompt_tokens: 1000, completion_tokens: 1000 }))
        .then(
          (r) => ({ ok: true as const, route: r.record.route, at: clock.now() - started }),
          (e: unknown) => ({ ok: false as const, err: String(e).slice(0, 120), at: clock.now() - started }),
        );
    // Six together: three pass the cap on 'chat' (and take the 3 requests); the cap moves the other three
    // to 'cheap' (deadline 1 s), where the request limit queues them (~1.7 s to wait).
    const results = await drive(clock, Promise.all([0, 1, 2, 3, 4, 5].map(ask)));
    expect(downgraded).toHaveLength(3);
    // Bound by 'cheap''s deadline: refused (or failed) by 1 s after the start, never still queued after it.
    for (const r of results) expect(r.at).toBeLessThanOrEqual(1_000);
    expect(results.filter((r) => !r.ok)).toHaveLength(3);
  });
});
