import { ManualClock, type PolicyInput } from '../src';
import { engineFor, startWorld, userMessage, type World } from './support';

const policy: PolicyInput = {
  targets: {
    'fast-a': { provider: 'openai', model: 'fast-a', contextWindow: 16_000 },
    'fast-b': { provider: 'anthropic', model: 'fast-b', contextWindow: 16_000 },
  },
  routes: {
    chat: { chain: ['fast-a', 'fast-b'] },
    reverse: { chain: ['fast-b', 'fast-a'] },
  },
};

/**
 * Seed: "Quota/billing error -> stop retries and alert the team"; "Billing/quota exhaustion -> no
 * retry; fallback yes, if another provider is configured".
 */
describe('a quota error stops retries on that target and raises an alert', () => {
  let world: World;
  beforeAll(async () => {
    world = await startWorld(
      { models: { 'fast-a': { contextWindow: 16_000 }, 'fast-b': { provider: 'anthropic', contextWindow: 16_000 } } },
      new ManualClock(Date.UTC(2026, 0, 1)),
    );
  });
  afterAll(() => world.stop());
  beforeEach(() => world.fake.reset());

  it('OpenAI 429 insufficient_quota (even with a retry hint): one call, an alert, then the fallback answers', async () => {
    world.fake.setFaults([{ model: 'fast-a', kind: 'insufficient_quota', retryAfterSeconds: 0.05 }]);
    const logged: Array<{ message: string; fields: unknown }> = [];
    const { engine, events } = engineFor(world, policy, { logger: { error: (message, fields) => logged.push({ message, fields }) } });
    const secret = 'my confidential question';

    const { record } = await world.drive(
      engine.execute({ route: 'chat', identity: { user: 'u1' }, maxOutputTokens: 50 }, world.call(userMessage(secret))),
    );

    expect(record).toMatchObject({ outcome: 'success', final_model: 'fast-b', fallback_used: true, retry_count: 0 });
    expect(record.attempts[0]).toMatchObject({ target: 'fast-a', errorKind: 'quota_exhausted', status: 429 });
    expect(world.calls('fast-a')).toBe(1);
    expect(world.fake.counters.faults.insufficient_quota).toBe(1);
    expect(world.calls('fast-b')).toBe(1);
    expect(events.retry).toEqual([]);
    expect(events.alert).toEqual([
      expect.objectContaining({ requestId: record.request_id, kind: 'quota_exhausted', target: 'fast-a', provider: 'openai' }),
    ]);
    expect(events.fallback).toEqual([expect.objectContaining({ from: 'fast-a', kind: 'quota_exhausted' })]);
    // The team hears about it through the logger too, without the prompt.
    expect(logged).toEqual([{ message: 'provider needs attention', fields: expect.objectContaining({ kind: 'quota_exhausted', target: 'fast-a' }) }]);
    expect(JSON.stringify(logged)).not.toContain(secret);
    expect(JSON.stringify(events.alert)).not.toContain(secret);
  });

  it('Anthropic 400 billing_error: the same, from the other provider', async () => {
    world.fake.setFaults([{ model: 'fast-b', kind: 'insufficient_quota' }]);
    const { engine, events } = engineFor(world, policy);

    const { record } = await world.drive(
      engine.execute({ route: 'reverse', maxOutputTokens: 50 }, world.call(userMessage('hello'))),
    );

    expect(record).toMatchObject({ outcome: 'success', final_model: 'fast-a', retry_count: 0 });
    expect(record.attempts[0]).toMatchObject({ target: 'fast-b', errorKind: 'quota_exhausted', status: 400 });
    expect(world.calls('fast-b')).toBe(1);
    expect(events.alert).toEqual([expect.objectContaining({ kind: 'quota_exhausted', target: 'fast-b', provider: 'anthropic' })]);
  });

  it('with no fallback left, fails with quota_exhausted after exactly one call, and still alerts', async () => {
    world.fake.setFaults([{ model: 'fast-a', kind: 'insufficient_quota' }]);
    const { engine, events } = engineFor(world, { ...policy, routes: { solo: { chain: ['fast-a'], retry: { maxAttempts: 5 }, audience: 'internal' } } });

    const err = (await world.drive(
      engine.execute({ route: 'solo', maxOutputTokens: 50 }, world.call(userMessage('hello'))).catch((e: unknown) => e),
    )) as { kind: string; code: string; userMessage: string; record: { retry_count: number } };

    expect(err).toMatchObject({ kind: 'quota_exhausted', code: 'ERR_LLMR_CHAIN_EXHAUSTED' });
    expect(err.userMessage).toMatch(/quota|billing/i);
    expect(err.record.retry_count).toBe(0);
    expect(world.calls('fast-a')).toBe(1);
    expect(events.alert).toHaveLength(1);
  });
});
