import { ManualClock, RequestFailedError, type PolicyInput } from '../src';
import { engineFor, rejection, startWorld, userMessage, type World } from './support';

const targets: PolicyInput['targets'] = {
  'fast-a': { provider: 'openai', model: 'fast-a', contextWindow: 16_000 },
  'fast-b': { provider: 'anthropic', model: 'fast-b', contextWindow: 16_000 },
};

/**
 * Seed: "Safety/policy rejection -> usually no retry; fallback carefully: providers may behave
 * differently"; "Falling back on policy errors without review" is a listed mistake.
 */
describe('a policy rejection does not fall back', () => {
  let world: World;
  beforeAll(async () => {
    world = await startWorld(
      { models: { 'fast-a': { contextWindow: 16_000 }, 'fast-b': { provider: 'anthropic', contextWindow: 16_000 } } },
      new ManualClock(Date.UTC(2026, 0, 1)),
    );
  });
  afterAll(() => world.stop());
  beforeEach(() => world.fake.reset());

  it.each(['openai', 'azure'] as const)('stops on a content filter (%s shape): one call, no fallback, no retry', async (variant) => {
    world.fake.setFaults([{ model: 'fast-a', kind: 'content_filter', variant }]);
    const { engine, events } = engineFor(world, { targets, routes: { chat: { chain: ['fast-a', 'fast-b'] } } });

    const err = await world.drive(rejection(engine.execute({ route: 'chat', maxOutputTokens: 50 }, world.call(userMessage('something')))));

    expect(err).toBeInstanceOf(RequestFailedError);
    const e = err as RequestFailedError;
    expect(e).toMatchObject({ kind: 'policy_rejected', code: 'ERR_LLMR_NOT_RETRYABLE' });
    expect(e.userMessage).toBe("We can't help with this request. Please rephrase it and try again.");
    expect(e.record).toMatchObject({ outcome: 'failure', error_kind: 'policy_rejected', error_code: 400, fallback_used: false, retry_count: 0 });
    expect(e.record.attempts).toHaveLength(1);
    expect(world.calls('fast-a')).toBe(1);
    expect(world.calls('fast-b')).toBe(0);
    expect(world.fake.counters.tokensByModel['fast-b']).toBeUndefined();
    expect(events.fallback).toEqual([]);
    expect(events.retry).toEqual([]);
    // The request's fault, not the target's: the breaker gives no verdict.
    expect(engine.breakers.target('fast-a').snapshot().window.calls).toBe(0);
  });

  it('falls back only on a route that explicitly allows it', async () => {
    world.fake.setFaults([{ model: 'fast-a', kind: 'content_filter' }]);
    const { engine } = engineFor(world, {
      targets,
      routes: { reviewed: { chain: ['fast-a', 'fast-b'], fallbackOn: ['overloaded', 'rate_limited', 'policy_rejected'] } },
    });

    const { record } = await world.drive(engine.execute({ route: 'reviewed', maxOutputTokens: 50 }, world.call(userMessage('something'))));

    expect(record.final_model).toBe('fast-b');
    expect(world.calls('fast-b')).toBe(1);
  });
});
