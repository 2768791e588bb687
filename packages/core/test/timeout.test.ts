import { systemClock, type PolicyInput } from '../src';
import { engineFor, startWorld, userMessage, type World } from './support';

const policy: PolicyInput = {
  targets: {
    'fast-a': { provider: 'openai', model: 'fast-a', contextWindow: 16_000, timeout: '100ms' },
    'fast-b': { provider: 'anthropic', model: 'fast-b', contextWindow: 16_000 },
  },
  routes: { chat: { chain: ['fast-a', 'fast-b'], retry: { backoff: { strategy: 'constant', delay: '10ms' } } } },
};

/** Seed: "Timeout -> retry once, then fallback or queue: could be a network blip." */
describe('a hanging model times out, is retried once, then the fallback answers', () => {
  let world: World;
  beforeAll(async () => {
    // Real time: the attempt timeout (100 ms, the engine's own) has to cut off a socket that never answers.
    world = await startWorld(
      {
        models: { 'fast-a': { contextWindow: 16_000 }, 'fast-b': { provider: 'anthropic', contextWindow: 16_000 } },
        faults: [{ model: 'fast-a', kind: 'hang' }],
      },
      systemClock,
    );
  });
  afterAll(() => world.stop());

  it('classifies the engine attempt timeout as timeout, retries once and falls back', async () => {
    const { engine, events } = engineFor(world, policy);
    const started = Date.now();

    const { record } = await engine.execute({ route: 'chat', maxOutputTokens: 50 }, world.call(userMessage('hello')));

    expect(record).toMatchObject({ outcome: 'success', final_model: 'fast-b', fallback_used: true, retry_count: 1 });
    expect(record.attempts.map((a) => `${a.target}:${a.errorKind ?? 'ok'}`)).toEqual(['fast-a:timeout', 'fast-a:timeout', 'fast-b:ok']);
    for (const a of record.attempts.slice(0, 2)) expect(a.latencyMs).toBeGreaterThanOrEqual(99);
    expect(events.retry).toEqual([expect.objectContaining({ kind: 'timeout', source: 'backoff', delayMs: 10 })]);
    expect(Date.now() - started).toBeLessThan(1_500);
    // An aborted request may reach the server a little after the engine gave up on it (cold sockets):
    // wait for the second one to land, then check that no third came.
    for (let i = 0; i < 100 && world.calls('fast-a') < 2; i++) await new Promise((r) => setTimeout(r, 10));
    expect(world.calls('fast-a')).toBe(2);
  });
});
