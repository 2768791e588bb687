import { ChainExhaustedError, ManualClock, type PolicyInput } from '../src';
import { engineFor, promptOfTokens, rejection, startWorld, userMessage, type World } from './support';

/**
 * Seed: "Context length error -> no retry; use a larger-context model or shorten the prompt: the same
 * request will keep failing."
 *
 * `small` has a 4k window at the provider but the policy does not declare it (so only the provider's
 * 400 tells); `mid` declares its 8k window (the engine skips it before calling); `long` fits.
 */
describe('a context-length error routes to a long-context model', () => {
  let world: World;
  beforeAll(async () => {
    world = await startWorld(
      {
        models: {
          small: { contextWindow: 4_000 },
          mid: { provider: 'anthropic', contextWindow: 8_000 },
          long: { contextWindow: 200_000 },
        },
      },
      new ManualClock(Date.UTC(2026, 0, 1)),
    );
  });
  afterAll(() => world.stop());
  beforeEach(() => world.fake.reset());

  const targets: PolicyInput['targets'] = {
    small: { provider: 'openai', model: 'small' },
    mid: { provider: 'anthropic', model: 'mid', contextWindow: 8_000 },
    long: { provider: 'openai', model: 'long', contextWindow: 200_000 },
  };

  it('does not retry the target that said context_length, skips the ones too small, and answers from the long one', async () => {
    const { engine, events } = engineFor(world, { targets, routes: { summary: { chain: ['small', 'mid', 'long'] } } });
    const prompt = promptOfTokens(10_000);

    const { record } = await world.drive(
      engine.execute({ route: 'summary', input: { messages: userMessage(prompt) }, maxOutputTokens: 500 }, world.call(userMessage(prompt))),
    );

    expect(record).toMatchObject({ outcome: 'success', final_model: 'long', fallback_used: true, retry_count: 0 });
    expect(record.attempts.map((a) => [a.target, a.errorKind ?? 'ok', a.status ?? 200])).toEqual([
      ['small', 'context_length', 400],
      ['long', 'ok', 200],
    ]);
    expect(record.skipped).toEqual([{ target: 'mid', reason: 'context_window', detail: expect.stringContaining('window is 8000') }]);
    expect(events.fallback).toEqual([expect.objectContaining({ from: 'small', kind: 'context_length' })]);
    expect(events.retry).toEqual([]);
    // Exactly one call reached the small model; none reached the declared-too-small one.
    expect(world.calls('small')).toBe(1);
    expect(world.calls('mid')).toBe(0);
    expect(world.calls('long')).toBe(1);
    // A context-length error is the request's fault, not the target's: no breaker verdict.
    expect(engine.breakers.target('small').snapshot().window.failures).toBe(0);
  });

  it('skips every target whose declared window is below the one that already refused the prompt', async () => {
    // The policy overstates `small` (32k): after its refusal, targets up to 32k are known too small.
    const { engine } = engineFor(world, {
      targets: { ...targets, small: { provider: 'openai', model: 'small', contextWindow: 32_000 }, mid: { provider: 'anthropic', model: 'mid', contextWindow: 20_000 } },
      routes: { summary: { chain: ['small', 'mid', 'long'] } },
    });
    const prompt = promptOfTokens(10_000);

    const { record } = await world.drive(
      engine.execute({ route: 'summary', input: { messages: userMessage(prompt) }, maxOutputTokens: 500 }, world.call(userMessage(prompt))),
    );

    expect(record.final_model).toBe('long');
    expect(record.skipped).toEqual([{ target: 'mid', reason: 'context_window', detail: expect.stringContaining('window is 20000') }]);
    expect(world.calls('mid')).toBe(0);
  });

  it('fails fast, without any call, with a context_length error when no target can fit the prompt', async () => {
    const { engine } = engineFor(world, {
      targets: { ...targets, small: { provider: 'openai', model: 'small', contextWindow: 4_000 } },
      routes: { summary: { chain: ['small', 'mid'], audience: 'customer' } },
    });
    const prompt = promptOfTokens(10_000);

    const err = await world.drive(
      rejection(engine.execute({ route: 'summary', input: { messages: userMessage(prompt) }, maxOutputTokens: 500 }, world.call(userMessage(prompt)))),
    );

    expect(err).toBeInstanceOf(ChainExhaustedError);
    const e = err as ChainExhaustedError;
    expect(e.kind).toBe('context_length');
    expect(e.userMessage).toMatch(/too long/);
    expect(e.record.attempts).toEqual([]);
    expect(e.record.skipped.map((s) => s.reason)).toEqual(['context_window', 'context_window']);
    expect(world.fake.counters.requests).toBe(0);
  });
});
