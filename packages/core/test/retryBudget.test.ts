import { ChainExhaustedError, ManualClock, type PolicyInput } from '../src';
import { engineFor, rejection, startWorld, userMessage, type World } from './support';

const targets: PolicyInput['targets'] = {
  a: { provider: 'openai', model: 'a', contextWindow: 16_000 },
  b: { provider: 'anthropic', model: 'b', contextWindow: 16_000 },
  c: { provider: 'openai-eu', model: 'c', contextWindow: 16_000 },
};

/**
 * Users' complaint: "retry cycles restarting on every fallback". One attempt budget per request spans
 * the whole chain: `retry.maxAttempts` counts every call, on every target.
 */
describe('one retry budget spans the whole fallback chain', () => {
  let world: World;
  beforeAll(async () => {
    world = await startWorld(
      {
        models: { a: { contextWindow: 16_000 }, b: { provider: 'anthropic', contextWindow: 16_000 }, c: { contextWindow: 16_000 } },
        faults: [{ kind: 'overloaded_503' }],
      },
      new ManualClock(Date.UTC(2026, 0, 1)),
    );
  });
  afterAll(() => world.stop());
  beforeEach(() => world.fake.reset());

  it('stops after maxAttempts calls in total, even with targets left', async () => {
    const { engine, events } = engineFor(world, { targets, routes: { chat: { chain: ['a', 'b', 'c'], retry: { maxAttempts: 3 } } } });

    const err = await world.drive(rejection(engine.execute({ route: 'chat', maxOutputTokens: 50 }, world.call(userMessage('hi')))));

    expect(err).toBeInstanceOf(ChainExhaustedError);
    const record = (err as ChainExhaustedError).record;
    expect(record.attempts.map((a) => `${a.target}#${a.attempt}`)).toEqual(['a#1', 'a#2', 'b#3']);
    expect(record.retry_count).toBe(1);
    expect(events.retry).toHaveLength(1);
    expect(world.fake.counters.requestsByModel).toEqual({ a: 2, b: 1 });
    expect(world.calls('c')).toBe(0);
  });

  it('with the default budget (chain length + 2), a three-target outage costs 5 calls, not 2 per target', async () => {
    const { engine } = engineFor(world, { targets, routes: { chat: { chain: ['a', 'b', 'c'] } } });

    const err = await world.drive(rejection(engine.execute({ route: 'chat', maxOutputTokens: 50 }, world.call(userMessage('hi')))));

    const record = (err as ChainExhaustedError).record;
    expect(record.attempts.map((a) => a.target)).toEqual(['a', 'a', 'b', 'b', 'c']);
    expect(world.fake.counters.requests).toBe(5);
    expect((err as ChainExhaustedError).kind).toBe('overloaded');
  });
});
