import { ManualClock, type PolicyInput, type RequestRecord } from '../src';
import { engineFor, startWorld, userMessage, type World } from './support';

const SECOND = 1000;

const policy: PolicyInput = {
  targets: {
    'fast-a': { provider: 'openai', model: 'fast-a', contextWindow: 16_000 },
    'fast-b': { provider: 'anthropic', model: 'fast-b', contextWindow: 16_000 },
  },
  routes: { chat: { chain: ['fast-a', 'fast-b'], retry: { backoff: { strategy: 'constant', delay: '100ms' } } } },
  breaker: { consecutiveFailures: 3, openFor: '10s', halfOpenProbes: 2, rampUp: '10s', minimumCalls: 10 },
};

function closedAt(transitions: ReadonlyArray<{ to: string; at: number }>): number {
  return transitions.filter((e) => e.to === 'closed').pop()!.at;
}

interface Sample {
  at: number;
  primaryCalls: number;
  record: RequestRecord;
}

/**
 * Seed: "Provider outage -> switch to fallback provider"; "Error rate above threshold -> stop routing
 * new traffic to that model"; "Recovery checks pass -> gradually restore traffic".
 *
 * Scenario: `fast-a` answers 503 from t=10 s to t=40 s (fault timeline on the shared manual clock);
 * one request per second from t=0 to t=70 s.
 */
describe('a provider outage trips the breaker, traffic moves to the fallback, probes restore it', () => {
  let world: World;
  const clock = new ManualClock(Date.UTC(2026, 0, 1));
  beforeAll(async () => {
    world = await startWorld(
      {
        models: { 'fast-a': { contextWindow: 16_000 }, 'fast-b': { provider: 'anthropic', contextWindow: 16_000 } },
        faults: [{ model: 'fast-a', kind: 'overloaded_503', from: 10, to: 40 }],
      },
      clock,
    );
  });
  afterAll(() => world.stop());

  it('never calls the dead target while its breaker is open, and brings it back through probes and a ramp', async () => {
    const { engine, events } = engineFor(world, policy);
    const t0 = clock.now();
    const samples: Sample[] = [];
    for (let s = 0; s <= 70; s++) {
      if (clock.now() < t0 + s * SECOND) clock.set(t0 + s * SECOND);
      const before = world.calls('fast-a');
      const at = clock.now();
      const { record } = await world.drive(
        engine.execute({ route: 'chat', identity: { user: 'u1' }, maxOutputTokens: 50 }, world.call(userMessage(`request at ${s}s`))),
      );
      samples.push({ at, primaryCalls: world.calls('fast-a') - before, record });
    }
    const rel = (ms: number) => (ms - t0) / SECOND;

    // Nothing failed: the outage was absorbed by the fallback.
    expect(samples.every((x) => x.record.outcome === 'success')).toBe(true);
    // Before the outage, the primary served everything.
    expect(samples.filter((x) => rel(x.at) < 10).every((x) => x.record.final_model === 'fast-a')).toBe(true);
    // During the outage, the fallback did.
    const during = samples.filter((x) => rel(x.at) >= 10 && rel(x.at) < 40);
    expect(during.every((x) => x.record.final_model === 'fast-b' && x.record.fallback_used)).toBe(true);

    // The breaker opened on consecutive failures (3: two on the first outage request, one on the next).
    const transitions = events.breaker.filter((e) => e.key === 'target:fast-a');
    expect(transitions[0]).toMatchObject({ from: 'closed', to: 'open', reason: 'consecutive_failures', at: t0 + 11 * SECOND });
    const opens = transitions.filter((e) => e.to === 'open');
    expect(opens.length).toBeGreaterThanOrEqual(2); // the probe at t=21 s failed (still down) and re-opened it

    // While open, the dead target received no call: check the fake provider's counters per request
    // and the engine's attempt records.
    for (const open of opens) {
      // Open until the next transition (to half-open, applied on the first admission after `until`).
      const until = transitions[transitions.indexOf(open) + 1]!.at;
      const inside = samples.filter((x) => x.at > open.at && x.at < until);
      expect(inside.length).toBeGreaterThan(0);
      for (const x of inside) {
        expect(x.primaryCalls).toBe(0);
        expect(x.record.skipped).toContainEqual(expect.objectContaining({ target: 'fast-a', reason: 'breaker_open' }));
      }
      const attemptsWhileOpen = samples
        .flatMap((x) => x.record.attempts)
        .filter((a) => a.target === 'fast-a' && a.startedAt > open.at && a.startedAt < until);
      expect(attemptsWhileOpen).toEqual([]);
    }

    // Half-open probes restored it: 2 successful probes, then a ramp, then closed.
    const names = transitions.map((e) => `${e.from}->${e.to}`);
    expect(names.slice(-3)).toEqual(['open->half-open', 'half-open->ramping', 'ramping->closed']);
    const ramping = transitions.find((e) => e.to === 'ramping')!;
    expect(rel(ramping.at)).toBeGreaterThanOrEqual(40);
    // Exactly `halfOpenProbes` calls reached the primary between half-open and ramping.
    const halfOpen = transitions[transitions.length - 3]!;
    const probes = samples
      .flatMap((x) => x.record.attempts)
      .filter((a) => a.target === 'fast-a' && a.startedAt >= halfOpen.at && a.startedAt <= ramping.at);
    expect(probes.map((a) => a.outcome)).toEqual(['success', 'success']);

    // The ramp restored traffic gradually: part of it still went to the fallback while ramping.
    const whileRamping = samples.filter((x) => x.at > ramping.at && x.at < closedAt(transitions));
    expect(whileRamping.some((x) => x.record.skipped.some((k) => k.target === 'fast-a' && k.detail === 'ramp'))).toBe(true);
    expect(whileRamping.some((x) => x.record.final_model === 'fast-a')).toBe(true);

    // Traffic came back to the primary: after the ramp, every request is served by fast-a.
    const closed = transitions[transitions.length - 1]!;
    const after = samples.filter((x) => x.at >= closed.at);
    expect(after.length).toBeGreaterThan(5);
    expect(after.every((x) => x.record.final_model === 'fast-a' && !x.record.fallback_used && x.primaryCalls === 1)).toBe(true);
    expect(engine.breakers.stateOf('fast-a')).toBe('closed');
    // The records carry the breaker states: open during the outage, closed at the end.
    expect(samples.some((x) => x.record.breakers['fast-a'] === 'open')).toBe(true);
    expect(samples[samples.length - 1]!.record.breakers['fast-a']).toBe('closed');
  });
});
