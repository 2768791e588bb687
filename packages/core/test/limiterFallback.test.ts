import { ChainExhaustedError, ManualClock, type PolicyInput } from '../src';
import { engineFor, rejection, startWorld, userMessage, type World } from './support';

const targets: PolicyInput['targets'] = {
  'fast-a': { provider: 'openai', model: 'fast-a', contextWindow: 16_000 },
  'fast-b': { provider: 'anthropic', model: 'fast-b', contextWindow: 16_000 },
};

/**
 * Users' complaint about existing gateways: "fallbacks that do not trigger on a limiter 429". Our own
 * target-scoped limit (scope `model`) denies like a provider 429 would, and the chain moves on.
 */
describe('a limiter 429 (our own target-scoped limit) triggers fallback', () => {
  let world: World;
  const clock = new ManualClock(Date.UTC(2026, 0, 1));
  beforeAll(async () => {
    world = await startWorld({ models: { 'fast-a': { contextWindow: 16_000 }, 'fast-b': { provider: 'anthropic', contextWindow: 16_000 } } }, clock);
  });
  afterAll(() => world.stop());
  beforeEach(() => world.fake.reset());

  it('falls back when the wait for our limit is longer than the route accepts, without calling the limited model', async () => {
    const { engine, events } = engineFor(world, {
      targets,
      routes: { chat: { chain: ['fast-a', 'fast-b'] } },
      limits: [{ id: 'model-rpm', scope: ['model'], metric: 'requests', limit: 2, window: '1m' }],
    });
    const run = (i: number) =>
      world.drive(engine.execute({ route: 'chat', identity: { user: 'u1' }, maxOutputTokens: 50 }, world.call(userMessage(`q${i}`))));

    const records = [(await run(1)).record, (await run(2)).record, (await run(3)).record];

    expect(records.map((r) => r.final_model)).toEqual(['fast-a', 'fast-a', 'fast-b']);
    expect(records[2]).toMatchObject({ fallback_used: true, retry_count: 0, latency_ms: 0 });
    expect(records[2]!.skipped).toEqual([{ target: 'fast-a', reason: 'limited', detail: expect.stringMatching(/^model-rpm: retry in \d+ ms$/) }]);
    expect(events.limited).toEqual([expect.objectContaining({ rule: 'model-rpm', phase: 'target', action: 'fallback' })]);
    expect(events.limited[0]!.retryAfterMs).toBeGreaterThan(1_000);
    // The provider never saw a third request on fast-a and never sent a 429: the limit was ours.
    expect(world.calls('fast-a')).toBe(2);
    expect(world.calls('fast-b')).toBe(1);
    expect(world.fake.counters.rateLimited).toBe(0);
  });

  it('waits instead when our limit frees up within maxLimiterWait (1 s for live traffic)', async () => {
    const { engine, events } = engineFor(world, {
      targets,
      routes: { chat: { chain: ['fast-a', 'fast-b'] } },
      limits: [{ id: 'model-rps', scope: ['model'], metric: 'requests', limit: 60, window: '1m', burst: 1 }],
    });
    const run = (i: number) => world.drive(engine.execute({ route: 'chat', maxOutputTokens: 50 }, world.call(userMessage(`q${i}`))));

    await run(1);
    const { record } = await run(2);

    expect(record).toMatchObject({ final_model: 'fast-a', fallback_used: false, latency_ms: 1_000 });
    expect(record.attempts[0]!.waitedMs).toBe(1_000);
    expect(events.limited).toEqual([expect.objectContaining({ rule: 'model-rps', action: 'wait', retryAfterMs: 1_000 })]);
    expect(world.calls('fast-b')).toBe(0);
  });

  it('fails with rate_limited and the wait, without any call, when no target of the chain is left', async () => {
    const { engine } = engineFor(world, {
      targets,
      routes: { solo: { chain: ['fast-a'], audience: 'internal' } },
      limits: [{ id: 'model-rpm', scope: ['model'], metric: 'requests', limit: 1, window: '1m' }],
    });
    await world.drive(engine.execute({ route: 'solo', maxOutputTokens: 50 }, world.call(userMessage('first'))));
    const before = world.fake.counters.requests;

    const err = await world.drive(rejection(engine.execute({ route: 'solo', maxOutputTokens: 50 }, world.call(userMessage('second')))));

    expect(err).toBeInstanceOf(ChainExhaustedError);
    expect(err).toMatchObject({ kind: 'rate_limited', retryAfterMs: expect.any(Number) });
    expect((err as ChainExhaustedError).userMessage).toBe("We hit the current model's rate limit. Retrying in a few seconds.");
    expect(world.fake.counters.requests).toBe(before);
  });
});
