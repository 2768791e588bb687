import { ManualClock, type PolicyInput } from '../src';
import { engineFor, startWorld, userMessage, type World } from './support';

const SECOND = 1000;

/**
 * Seed: "Model-specific capacity issue -> fallback: another model may have capacity". When the
 * fallback is another model of the same provider, one model's outage must not open the provider-wide
 * breaker and take the healthy sibling down with it.
 */
describe("one model's outage leaves a sibling model of the same provider usable", () => {
  let world: World;
  const clock = new ManualClock(Date.UTC(2026, 0, 1));
  beforeAll(async () => {
    world = await startWorld(
      {
        models: { 'fast-a': { contextWindow: 16_000 }, 'fast-c': { contextWindow: 16_000 } },
        faults: [{ model: 'fast-a', kind: 'overloaded_503', from: 0, to: 30 }],
      },
      clock,
    );
  });
  afterAll(() => world.stop());

  it('serves every request from the sibling while the primary is down', async () => {
    const policy: PolicyInput = {
      targets: {
        'fast-a': { provider: 'openai', model: 'fast-a', contextWindow: 16_000 },
        'fast-c': { provider: 'openai', model: 'fast-c', contextWindow: 16_000 },
      },
      routes: { chat: { chain: ['fast-a', 'fast-c'], retry: { backoff: { strategy: 'constant', delay: '100ms' } } } },
      breaker: { consecutiveFailures: 3, openFor: '10s', halfOpenProbes: 2, rampUp: '5s', minimumCalls: 10 },
    };
    const { engine, events } = engineFor(world, policy);
    const t0 = clock.now();
    const outcomes: string[] = [];
    for (let s = 0; s < 40; s++) {
      if (clock.now() < t0 + s * SECOND) clock.set(t0 + s * SECOND);
      const { record } = await world.drive(
        engine.execute({ route: 'chat', maxOutputTokens: 50 }, world.call(userMessage(`request at ${s}s`))),
      );
      outcomes.push(`${record.outcome}:${record.final_model}`);
    }
    expect(outcomes.every((o) => o.startsWith('success'))).toBe(true);
    expect(outcomes.slice(0, 30).every((o) => o === 'success:fast-c')).toBe(true);
    expect(events.breaker.some((e) => e.key === 'target:fast-a' && e.to === 'open')).toBe(true);
    expect(events.breaker.filter((e) => e.key === 'provider:openai')).toEqual([]);
    // After the outage the primary serves again.
    expect(outcomes[outcomes.length - 1]).toBe('success:fast-a');
  });
});
