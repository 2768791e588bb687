import { ManualClock, systemClock, type PolicyInput } from '../src';
import { engineFor, startWorld, userMessage, type World } from './support';

const policy = (route: PolicyInput['routes'][string] = { chain: ['fast-a', 'fast-b'] }): PolicyInput => ({
  targets: {
    'fast-a': { provider: 'openai', model: 'fast-a', contextWindow: 16_000 },
    'fast-b': { provider: 'anthropic', model: 'fast-b', contextWindow: 16_000 },
  },
  routes: { chat: route },
});

/**
 * Seed: "Temporary 429 with Retry-After header -> retry first: the provider tells you when to retry."
 * A burst of 429s is absorbed by waiting for the hint on the same target: every request succeeds on
 * the primary, no fallback is used, and the waits are the provider's hints.
 */
describe('a 429 burst with Retry-After is absorbed', () => {
  let world: World | undefined;
  afterEach(async () => {
    await world?.stop();
    world = undefined;
  });

  it('waits for retry-after-ms (50 ms, real time) and retries the same target', async () => {
    world = await startWorld(
      {
        models: { 'fast-a': { contextWindow: 16_000 }, 'fast-b': { provider: 'anthropic', contextWindow: 16_000 } },
        faults: [{ model: 'fast-a', kind: 'rate_limit', count: 4, retryAfterSeconds: 0.05 }],
      },
      systemClock,
    );
    const { engine, events } = engineFor(world, policy());

    const results = await Promise.all(
      Array.from({ length: 4 }, (_, i) =>
        engine.execute({ route: 'chat', identity: { user: `u${i}` }, maxOutputTokens: 50 }, world!.call(userMessage(`question ${i}`))),
      ),
    );

    // Real sockets: which request takes which of the four 429s depends on arrival order, so the
    // assertions are per attempt, not per request.
    let retries = 0;
    for (const { record } of results) {
      expect(record).toMatchObject({ outcome: 'success', final_model: 'fast-a', fallback_used: false });
      retries += record.retry_count;
      record.attempts.forEach((a, i) => {
        expect(a.target).toBe('fast-a');
        if (a.outcome === 'error') {
          expect(a).toMatchObject({ errorKind: 'rate_limited', status: 429, retryAfterMs: 50 });
          const next = record.attempts[i + 1]!;
          // The hint was honoured in real time (more when a later 429 of the burst announced a later
          // reset: the breaker's pause and proactive pacing wait for it).
          expect(next.waitedMs).toBeGreaterThanOrEqual(50);
          expect(next.startedAt - (a.startedAt + a.latencyMs)).toBeGreaterThanOrEqual(49);
        }
      });
    }
    expect(retries).toBe(4);
    expect(events.retry).toHaveLength(4);
    expect(events.retry.every((e) => e.source === 'hint' && e.delayMs === 50 && e.kind === 'rate_limited')).toBe(true);
    expect(events.fallback).toHaveLength(0);
    const c = world.fake.counters;
    expect(c.rateLimited).toBe(4);
    expect(c.responsesByStatus).toEqual({ '200': 4, '429': 4 });
    expect(world.calls('fast-a')).toBe(8);
    expect(world.calls('fast-b')).toBe(0);
  });

  it('retries every request of the burst once on the primary, after exactly the hint (manual clock)', async () => {
    const clock = new ManualClock(Date.UTC(2026, 0, 1));
    world = await startWorld(
      {
        models: { 'fast-a': { contextWindow: 16_000 }, 'fast-b': { provider: 'anthropic', contextWindow: 16_000 } },
        faults: [{ model: 'fast-a', kind: 'rate_limit', count: 4, retryAfterSeconds: 0.05 }],
      },
      clock,
    );
    const { engine, events } = engineFor(world, policy());
    const t0 = clock.now();

    const results = await world.drive(
      Promise.all(
        Array.from({ length: 4 }, (_, i) =>
          engine.execute({ route: 'chat', identity: { user: `u${i}` }, maxOutputTokens: 50 }, world!.call(userMessage(`question ${i}`))),
        ),
      ),
    );

    for (const { record } of results) {
      expect(record).toMatchObject({ outcome: 'success', final_model: 'fast-a', fallback_used: false, retry_count: 1, latency_ms: 50 });
      const [first, second] = record.attempts;
      expect(first).toMatchObject({ target: 'fast-a', outcome: 'error', errorKind: 'rate_limited', status: 429, retryAfterMs: 50 });
      expect(second).toMatchObject({ target: 'fast-a', outcome: 'success', waitedMs: 50, startedAt: t0 + 50 });
    }
    // Three 429s in a row paused the breaker until the provider's reset; the pause ended on time.
    expect(events.breaker.map((e) => `${e.key}:${e.to}`)).toEqual(
      expect.arrayContaining(['target:fast-a:paused', 'target:fast-a:closed']),
    );
    expect(world.fake.counters.rateLimited).toBe(4);
    expect(world.calls('fast-a')).toBe(8);
    expect(world.calls('fast-b')).toBe(0);
  });

  it('caps a larger burst with the per-provider retry budget: the excess falls back, nothing fails', async () => {
    const clock = new ManualClock(Date.UTC(2026, 0, 1));
    world = await startWorld(
      {
        models: { 'fast-a': { contextWindow: 16_000 }, 'fast-b': { provider: 'anthropic', contextWindow: 16_000 } },
        faults: [{ model: 'fast-a', kind: 'rate_limit', count: 15, retryAfterSeconds: 0.05 }],
      },
      clock,
    );
    const { engine, events } = engineFor(world, policy());

    const results = await world.drive(
      Promise.all(
        Array.from({ length: 15 }, (_, i) =>
          engine.execute({ route: 'chat', identity: { user: `u${i}` }, maxOutputTokens: 50 }, world!.call(userMessage(`question ${i}`))),
        ),
      ),
    );

    // Default budget: 20 tokens per provider, retries while more than half remain -> the first 9
    // failures retry; the other 6 requests fall back at once instead of piling retries on the provider.
    expect(results.every((r) => r.record.outcome === 'success')).toBe(true);
    expect(events.retry).toHaveLength(9);
    expect(results.filter((r) => r.record.final_model === 'fast-a' && r.record.retry_count === 1)).toHaveLength(9);
    expect(results.filter((r) => r.record.final_model === 'fast-b' && r.record.fallback_used && r.record.retry_count === 0)).toHaveLength(6);
    expect(world.fake.counters.rateLimited).toBe(15);
    expect(world.calls('fast-a')).toBe(24);
    expect(world.calls('fast-b')).toBe(6);
  });

  it('absorbs a burst over a real RPM limit by waiting for the window reset (manual clock)', async () => {
    const clock = new ManualClock(Date.UTC(2026, 0, 1));
    world = await startWorld(
      {
        models: {
          'fast-a': { contextWindow: 16_000, limits: { rpm: 4, algorithm: 'window' } },
          'fast-b': { provider: 'anthropic', contextWindow: 16_000 },
        },
      },
      clock,
    );
    // A minute-long hint is acceptable on this route (the default for live traffic is 5 s, then fallback).
    const { engine, events } = engineFor(world, policy({ chain: ['fast-a', 'fast-b'], retry: { maxHint: '2m' } }));
    const t0 = clock.now();

    const results = await world.drive(
      Promise.all(
        Array.from({ length: 8 }, (_, i) =>
          engine.execute({ route: 'chat', identity: { user: `u${i}` }, maxOutputTokens: 50 }, world!.call(userMessage(`burst ${i}`))),
        ),
      ),
    );

    expect(results.every((r) => r.record.outcome === 'success' && r.record.final_model === 'fast-a')).toBe(true);
    const retried = results.filter((r) => r.record.retry_count > 0);
    expect(retried).toHaveLength(4);
    for (const { record } of retried) {
      const [first, second] = record.attempts;
      expect(first).toMatchObject({ errorKind: 'rate_limited', status: 429, retryAfterMs: 60_000 });
      // Waited exactly until the provider's window reset, on the shared clock.
      expect(second!.startedAt).toBe(t0 + 60_000);
      expect(record.latency_ms).toBe(60_000);
    }
    expect(clock.now() - t0).toBe(60_000);
    expect(events.fallback).toHaveLength(0);
    expect(world.fake.counters.rateLimited).toBe(4);
    expect(world.calls('fast-a')).toBe(12);
    expect(world.calls('fast-b')).toBe(0);
  });
});
