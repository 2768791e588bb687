import { ChainExhaustedError, RequestFailedError } from '../errors/ChainExhaustedError';
import { Limiter } from '../limits/Limiter';
import { drive, http, ok, scripted, setup } from './engineTestKit';
import type { AttemptContext } from './types';

/** Edges of the engine: no time left, capacity waits, aborts while waiting, garbage usage, hostile throws. */
describe('Resilience.execute at its edges', () => {
  it('sends nothing when the deadline has already passed, and does not blame the targets for it', async () => {
    const { engine, clock } = setup();
    const { calls, fn } = scripted({});
    for (let i = 0; i < 10; i++) {
      const err = await drive(clock, engine.execute({ route: 'chat', inputTokens: 10, deadline: clock.now() - 1 }, fn)).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(RequestFailedError);
      expect(err).toMatchObject({ code: 'ERR_LLMR_DEADLINE', kind: 'timeout' });
    }
    expect(calls).toEqual([]);
    expect(engine.breakers.stateOf('a')).toBe('closed');
    expect(engine.breakers.stateOf('b')).toBe('closed');
    // A request with time left is served by the primary as usual.
    const res = await drive(clock, engine.execute({ route: 'chat', inputTokens: 10 }, fn));
    expect(res.record.final_target).toBe('a');
    expect(res.record.skipped).toEqual([]);
  });

  it('does not count an attempt cut short by the caller\'s deadline against the target\'s breaker', async () => {
    const { engine, clock } = setup({}, { chat: { chain: ['a'] } });
    // The target answers in 5 s (within its own 60 s timeout); callers give it 100 ms.
    const slow = async () => {
      await clock.sleep(5_000);
      return ok();
    };
    for (let i = 0; i < 8; i++) {
      const err = await drive(clock, engine.execute({ route: 'chat', inputTokens: 10, deadline: clock.now() + 100 }, slow)).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'ERR_LLMR_DEADLINE', kind: 'timeout' });
    }
    expect(engine.breakers.stateOf('a')).toBe('closed');
  });

  it('fails with ERR_LLMR_CANCELLED whether the abort comes during a call, a backoff wait or before any attempt', async () => {
    const { engine, clock } = setup({}, { chat: { chain: ['a', 'b'] } });
    // During the backoff after a 503 (a is retried after a backoff wait).
    const ac = new AbortController();
    const calls: string[] = [];
    const p = engine.execute({ route: 'chat', inputTokens: 10, signal: ac.signal }, async (t) => {
      calls.push(t.id);
      throw http(503);
    });
    p.catch(() => undefined);
    for (let i = 0; i < 10 && clock.pending === 0; i++) await new Promise((r) => setImmediate(r));
    expect(clock.pending).toBeGreaterThan(0); // waiting for the retry
    ac.abort(new Error('user left'));
    await expect(p).rejects.toMatchObject({ code: 'ERR_LLMR_CANCELLED', kind: 'cancelled' });
    expect(calls).toEqual(['a']);

    // Already aborted: no call, no attempt in the record.
    const { calls: none, fn } = scripted({});
    const err = await drive(clock, engine.execute({ route: 'chat', inputTokens: 10, signal: AbortSignal.abort() }, fn)).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ERR_LLMR_CANCELLED', kind: 'cancelled' });
    expect((err as RequestFailedError).record.attempts).toEqual([]);
    expect(none).toEqual([]);
  });

  it('treats a cancellation the caller did not ask for (Gemini 499 CANCELLED) as a cut call: retried, then fallen back', async () => {
    const { engine, clock } = setup();
    const cancelled = { status: 499, error: { code: 499, status: 'CANCELLED', message: 'The operation was cancelled.' } };
    const { calls, fn } = scripted({ a: [cancelled] });
    const res = await drive(clock, engine.execute({ route: 'chat', inputTokens: 10 }, fn));
    expect(calls).toEqual(['a', 'a', 'b']);
    expect(res.record.attempts.map((a) => a.errorKind ?? 'ok')).toEqual(['network', 'network', 'ok']);
  });

  it('counts a RequestFailedError thrown by the call (a nested engine) as a failure of the attempt: no stuck probe, no leaked slot', async () => {
    const { engine, clock } = setup(
      { breaker: { consecutiveFailures: 1, openFor: '1s', halfOpenProbes: 1, rampUp: 0 }, limits: [{ id: 'slots', scope: ['model'], metric: 'concurrency', limit: 1 }] },
      { chat: { chain: ['a'], retry: { maxAttempts: 1 } } },
    );
    const nested = new RequestFailedError('ERR_LLMR_DEADLINE', 'inner request timed out', { kind: 'timeout', message: 'x', cause: undefined }, { attempts: [], skipped: [] } as never, 'msg');
    const thrower = async () => {
      throw nested;
    };
    // The slot: a call throwing the nested error gives it back.
    const first = await drive(clock, engine.execute({ route: 'chat', inputTokens: 10 }, thrower)).catch((e: unknown) => e);
    expect((first as ChainExhaustedError).record.attempts).toEqual([expect.objectContaining({ target: 'a', outcome: 'error', errorKind: 'timeout' })]);
    // The breaker opened on that failure; past its open period the next call is its half-open probe,
    // and the probe throws the nested error too: a failed probe, not one that never ends.
    expect(engine.breakers.stateOf('a')).toBe('open');
    await clock.advance(1_500);
    await drive(clock, engine.execute({ route: 'chat', inputTokens: 10 }, thrower)).catch((e: unknown) => e);
    await clock.advance(60_000);
    const { calls, fn } = scripted({});
    const t0 = clock.now();
    const healthy = await drive(clock, engine.execute({ route: 'chat', inputTokens: 10 }, fn));
    expect(calls).toEqual(['a']);
    expect(healthy.record.outcome).toBe('success');
    expect(clock.now()).toBe(t0); // the slot was free: no wait
  });

  it('a stream failing after it started does not free another call\'s half-open probe slot', async () => {
    const { engine, clock } = setup({ breaker: { consecutiveFailures: 1, openFor: '1s', halfOpenProbes: 2, rampUp: 0 } }, { chat: { chain: ['a'], retry: { maxAttempts: 1 } } });
    await drive(clock, engine.execute({ route: 'chat', inputTokens: 10 }, async () => Promise.reject(http(503)))).catch(() => undefined);
    await clock.advance(1_500);
    // Probe 1: a stream that starts at once (a success), then is cancelled by its caller.
    const ac = new AbortController();
    const stream = await engine.execute({ route: 'chat', inputTokens: 10, stream: true, signal: ac.signal }, async () => ({ stream: true }));
    // Probe 2: a slow call in flight.
    const slow = engine.execute({ route: 'chat', inputTokens: 10 }, () => new Promise<never>(() => undefined));
    slow.catch(() => undefined);
    await clock.advance(1);
    const inFlight = () => (engine.breakers.target('a').state as { probesInFlight?: number }).probesInFlight;
    expect(inFlight()).toBe(1);
    ac.abort();
    stream.fail(new Error('aborted'));
    expect(inFlight()).toBe(1); // probe 2 still holds its slot
  });

  it('downgrades requests that arrive together instead of rejecting those the budget cap denies', async () => {
    const { engine, clock } = setup({
      targets: {
        a: { provider: 'openai', model: 'model-a', price: { input: 1, output: 2 } },
        free: { provider: 'openai', model: 'model-free', price: { input: 0, output: 0 } },
      },
      budgets: [{ id: 'daily', scope: ['tenant'], limitUsd: 0.01, window: '1d', downgradeAt: 0.95, downgradeTo: 'cheap' }],
    }, { chat: { chain: ['a'] }, cheap: { chain: ['free'] } });
    // Each request's worst case is $0.003: the fourth reads $0.009 reserved, under the 95% mark, and the
    // cap denies its $0.003; it and those after it are moved to 'cheap', not rejected.
    const ask = () => engine.execute({ route: 'chat', identity: { tenant: 't' }, inputTokens: 1000, maxOutputTokens: 1000 }, async () => ok('x', { prompt_tokens: 1000, completion_tokens: 1000 }));
    const results = await drive(clock, Promise.all([0, 1, 2, 3, 4, 5].map(ask)));
    expect(results.map((r) => r.record.route)).toEqual(['chat', 'chat', 'chat', 'cheap', 'cheap', 'cheap']);
    // The cap held: three requests of $0.003 on the expensive route.
    expect(results.reduce((sum, r) => sum + r.record.actual_cost, 0)).toBeCloseTo(0.009, 9);
  });

  it('downgrades requests that arrive together as soon as the spend reserved before them reaches downgradeAt (in-memory store)', async () => {
    const { engine, clock } = setup({
      targets: {
        a: { provider: 'openai', model: 'model-a', price: { input: 1, output: 2 } },
        free: { provider: 'openai', model: 'model-free', price: { input: 0, output: 0 } },
      },
      budgets: [{ id: 'daily', scope: ['tenant'], limitUsd: 0.01, window: '1d', downgradeAt: 0.5, downgradeTo: 'cheap' }],
    }, { chat: { chain: ['a'] }, cheap: { chain: ['free'] } });
    // The spend is read and reserved before execute() returns: the third reads $0.006, past the $0.005 mark.
    const ask = () => engine.execute({ route: 'chat', identity: { tenant: 't' }, inputTokens: 1000, maxOutputTokens: 1000 }, async () => ok('x', { prompt_tokens: 1000, completion_tokens: 1000 }));
    const results = await drive(clock, Promise.all([0, 1, 2, 3, 4, 5].map(ask)));
    expect(results.map((r) => r.record.route)).toEqual(['chat', 'chat', 'cheap', 'cheap', 'cheap', 'cheap']);
  });

  it('a stream that broke off is charged the usage its adapter gives, or released without one', async () => {
    const { engine, clock } = setup({ limits: [{ id: 'tpm', scope: ['user'], metric: 'outputTokens', limit: 1_000, window: '1m' }] }, { chat: { chain: ['a'] } });
    const open = () => drive(clock, engine.execute({ route: 'chat', identity: { user: 'u' }, inputTokens: 10, maxOutputTokens: 400, stream: true }, async () => ({ stream: true })));
    const charged = await open();
    const record = charged.fail(new Error('reader stopped'), { inputTokens: 10, outputTokens: 400 });
    expect(record).toMatchObject({ outcome: 'failure', input_tokens: 10, output_tokens: 400 });
    expect(record.actual_cost).toBeGreaterThan(0);
    // 400 of 1000 output tokens stay charged; without usage a failure releases its 400.
    const released = await open();
    released.fail(new Error('broken'));
    const peek = new Limiter(engine.policy.limits, engine.store, { clock });
    expect(await peek.usage('tpm', { user: 'u' })).toBeCloseTo(400, 6);
  });

  it('a stream failed without usage still keeps the cost of replies billed before it, as a request that fails before streaming does', async () => {
    const spend = { id: 'spend', scope: ['user'] as Array<'user'>, metric: 'cost' as const, limit: 100, window: '1h' as const };
    const { engine, clock } = setup({ limits: [spend] }, { chat: { chain: ['a', 'b'], retry: { perKind: { overloaded: 0 } } } });
    const call = async (t: { id: string }, ctx: AttemptContext) => {
      if (t.id === 'a') {
        ctx.reportUsage({ inputTokens: 1000, outputTokens: 1000 }); // billed by the provider, then failed
        throw http(503);
      }
      return { stream: true };
    };
    const res = await drive(clock, engine.execute({ route: 'chat', identity: { user: 'u' }, inputTokens: 1000, maxOutputTokens: 1000, stream: true }, call));
    const record = res.fail(new Error('reader stopped'));
    await new Promise((r) => setImmediate(r));
    // a's reply: (1000 * 1 + 1000 * 2) / 1e6.
    expect(record).toMatchObject({ outcome: 'failure', actual_cost: expect.closeTo(0.003, 9) });
    const peek = new Limiter(engine.policy.limits, engine.store, { clock });
    expect(await peek.usage('spend', { user: 'u' })).toBeCloseTo(0.003, 9);
  });

  it('waits for a busy target concurrency slot at most maxLimiterWait in all, then falls back', async () => {
    const { engine, clock } = setup({ limits: [{ id: 'slots', scope: ['model'], metric: 'concurrency', limit: 1 }] });
    // Another process holds model-a's only slot for a minute.
    const other = new Limiter(engine.policy.limits, engine.store, { clock });
    const held = await other.reserve({ provider: 'openai', model: 'model-a' }, { inputTokens: 1, outputTokens: 1, costUsd: 0 }, 'target');
    expect(held.ok).toBe(true);
    const t0 = clock.now();
    const { calls, fn } = scripted({});
    const res = await drive(clock, engine.execute({ route: 'chat', priority: 'live', inputTokens: 10 }, fn));
    expect(calls).toEqual(['b']);
    expect(res.record.skipped).toEqual([expect.objectContaining({ target: 'a', reason: 'limited' })]);
    // live: maxLimiterWait 1 s, polled every 250 ms.
    expect(clock.now() - t0).toBeLessThanOrEqual(1_000);
    expect(clock.now() - t0).toBeGreaterThanOrEqual(750);
  });

  it('gives back a half-open probe slot when the request is aborted while waiting for a limit', async () => {
    const { engine, clock } = setup({ limits: [{ id: 'slots', scope: ['model'], metric: 'concurrency', limit: 1 }] }, { chat: { chain: ['a', 'b'], priority: 'batch' } });
    // Open a's breaker with 503s (b answers), then let it go half-open.
    for (let i = 0; i < 6; i++) {
      await drive(clock, engine.execute({ route: 'chat', inputTokens: 10 }, scripted({ a: [http(503)] }).fn));
    }
    expect(engine.breakers.stateOf('a')).toBe('open');
    await clock.advance(31_000); // past the open period: the next admissions are half-open probes

    // Another process holds a's only slot: every request is admitted as a probe and waits for the slot.
    const other = new Limiter(engine.policy.limits, engine.store, { clock });
    const held = await other.reserve({ provider: 'openai', model: 'model-a' }, { inputTokens: 1, outputTokens: 1, costUsd: 0 }, 'target');
    const ac = new AbortController();
    const waiting = [0, 1, 2].map(() => engine.execute({ route: 'chat', inputTokens: 10, signal: ac.signal }, scripted({}).fn));
    for (const w of waiting) w.catch(() => undefined);
    for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r));
    ac.abort();
    for (const w of waiting) await expect(w).rejects.toMatchObject({ kind: 'cancelled' });
    if (held.ok) held.settle({ inputTokens: 1, outputTokens: 1, costUsd: 0 });

    // The probes were given back: the next request probes a, which has recovered.
    const { calls, fn } = scripted({});
    const res = await drive(clock, engine.execute({ route: 'chat', inputTokens: 10 }, fn));
    expect(calls).toEqual(['a']);
    expect(res.record.final_target).toBe('a');
  });

  it.each([
    ['an overflowing count', { prompt_tokens: 1, completion_tokens: 1e308 }],
    ['a count past any context window', { prompt_tokens: 1e9, completion_tokens: 0 }],
  ])('charges the estimate instead of %s, so the user is not locked out', async (_name, usage) => {
    const warnings: unknown[] = [];
    const logger = { warn: (message: string, fields?: Record<string, unknown>) => warnings.push({ message, ...fields }) };
    const { engine, clock } = setup({ limits: [{ id: 'tpm', scope: ['user'], metric: 'totalTokens', limit: 1_000, window: '1m' }] }, { chat: { chain: ['a'] } }, { logger });
    const ask = (reply: unknown) =>
      drive(clock, engine.execute({ route: 'chat', identity: { user: 'u' }, inputTokens: 100, maxOutputTokens: 100 }, async () => reply));
    const first = await ask(ok('x', usage));
    expect(Number.isFinite(first.record.actual_cost)).toBe(true);
    expect(first.record.input_tokens).toBeLessThanOrEqual(100);
    expect(first.record.output_tokens).toBeLessThanOrEqual(100);
    expect(warnings).toEqual([expect.objectContaining({ message: expect.stringContaining('implausible token usage'), target: 'a' })]);
    // 200 of 1000 tokens were charged: the next request passes at once.
    const second = await ask(ok());
    expect(second.record.outcome).toBe('success');
  });

  it('keeps NaN, negative and string counts out of the record (ctx.reportUsage)', async () => {
    const { engine, clock } = setup({}, { chat: { chain: ['a'] } });
    const res = await drive(
      clock,
      engine.execute({ route: 'chat', inputTokens: 100, maxOutputTokens: 50 }, async (_t, ctx) => {
        ctx.reportUsage({ inputTokens: NaN, outputTokens: -1_000_000 });
        return ok();
      }),
    );
    expect(res.record).toMatchObject({ input_tokens: 100, output_tokens: 50 });
    expect(Number.isFinite(res.record.actual_cost)).toBe(true);
    const res2 = await drive(
      clock,
      engine.execute({ route: 'chat', inputTokens: 100, maxOutputTokens: 50 }, async (_t, ctx) => {
        ctx.reportUsage({ inputTokens: '80' as unknown as number, outputTokens: 20 });
        return ok();
      }),
    );
    expect(res2.record).toMatchObject({ input_tokens: 100, output_tokens: 20 });
  });

  it.each([
    ['quota', http(429, { error: { code: 'insufficient_quota', type: 'insufficient_quota' } }), 'quota_exhausted'],
    ['auth', http(401, { error: { type: 'authentication_error' } }), 'auth'],
  ])('still alerts on %s when the error arrives as the deadline passes', async (_name, error, kind) => {
    const errors: unknown[] = [];
    const logger = { error: (message: string, fields?: Record<string, unknown>) => errors.push({ message, ...fields }) };
    const { engine, clock } = setup({}, { chat: { chain: ['a', 'b'] } }, { logger });
    const alerts: unknown[] = [];
    engine.events.on('alert', (a) => alerts.push(a));
    const deadline = clock.now() + 1_000;
    const err = await drive(
      clock,
      engine.execute({ route: 'chat', inputTokens: 10, deadline }, async () => {
        // The reply comes at the deadline (the attempt's own timeout would fire at the same instant).
        await clock.sleep(999);
        clock.set(deadline);
        throw error;
      }),
    ).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ERR_LLMR_DEADLINE', kind: 'timeout' });
    expect(alerts).toEqual([expect.objectContaining({ kind, target: 'a' })]);
    expect(errors).toEqual([expect.objectContaining({ message: 'provider needs attention', kind, target: 'a' })]);
  });

  it('releases a concurrency slot when the call throws a revoked Proxy', async () => {
    const { engine, clock } = setup({ limits: [{ id: 'slots', scope: ['model'], metric: 'concurrency', limit: 1 }] }, { chat: { chain: ['a'], retry: { perKind: { unknown: 0 } } } });
    const { proxy, revoke } = Proxy.revocable({}, {});
    revoke();
    const err = await drive(
      clock,
      engine.execute({ route: 'chat', inputTokens: 10 }, async () => {
        throw proxy;
      }),
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ChainExhaustedError);
    expect((err as ChainExhaustedError).record.attempts).toEqual([expect.objectContaining({ target: 'a', outcome: 'error', errorKind: 'unknown' })]);
    // The slot is free again: the next request is served at once.
    const t0 = clock.now();
    const res = await drive(clock, engine.execute({ route: 'chat', inputTokens: 10 }, scripted({}).fn));
    expect(res.record.final_target).toBe('a');
    expect(clock.now()).toBe(t0);
  });

  it('never fails a request because the metrics sink threw: the error goes to the logger', async () => {
    const logged: Array<[string, Record<string, unknown> | undefined]> = [];
    const sink = {
      request: () => {
        throw new Error('exporter down');
      },
      attempt: () => {
        throw new Error('exporter down');
      },
      breaker: () => undefined,
      queue: () => undefined,
    };
    const { clock, engine } = setup({}, undefined, { metrics: sink, logger: { error: (m, f) => logged.push([m, f]) } });
    const res = await drive(clock, engine.execute({ route: 'chat', inputTokens: 10 }, scripted({}).fn));
    expect(res.record.final_target).toBe('a');
    expect(logged.map(([, f]) => f?.method)).toEqual(['attempt', 'request']);
    expect(logged[0]![0]).toBe('a metrics sink threw; the engine ignored it');
    expect(logged[0]![1]?.error).toBe('Error: exporter down');
  });
});
