import { ManualClock } from '../clock';
import type { ErrorKind } from '../errors/ErrorKind';
import type { BreakerPolicy } from '../policy/Policy';
import { BreakerRegistry, NO_PROBE, type BreakerChangeEvent, type BreakerRegistryOptions, type BreakerStateSync } from './BreakerRegistry';
import type { BreakerState } from './BreakerState';
import { InvalidBreakerStateError } from './InvalidBreakerStateError';
import { MemoryBreakerSyncHub } from './MemoryBreakerSyncHub';

const policy: BreakerPolicy = {
  windowMs: 120_000,
  errorRate: 0.2,
  minimumCalls: 10,
  consecutiveFailures: 5,
  slowCallMs: 30_000,
  slowCallRate: 0.5,
  openForMs: 30_000,
  halfOpenProbes: 3,
  rampUpMs: 30_000,
  rateLimitPauseAfter: 3,
  failOn: new Set<ErrorKind>(['overloaded', 'timeout', 'network', 'unknown', 'quota_exhausted', 'auth']),
};

function setup(options: Partial<BreakerRegistryOptions> = {}) {
  const clock = new ManualClock(1_000_000);
  const errors: Array<[unknown, string]> = [];
  const registry = new BreakerRegistry({ policy, clock, onError: (e, s) => errors.push([e, s]), ...options });
  const events: BreakerChangeEvent[] = [];
  registry.events.on('breaker', (e) => events.push(e));
  const path = () => events.map((e) => `${e.key}:${e.from}->${e.to}:${e.reason}${e.origin === 'remote' ? ':remote' : ''}`);
  return { clock, registry, events, path, errors };
}

/** Admits and records one call on `target` of `provider`; fails the test when refused. */
function call(r: BreakerRegistry, target: string, provider: string, outcome: 'ok' | ErrorKind, retryAfterMs?: number): void {
  const admission = r.admit(target, provider);
  if (!admission.allowed) throw new Error(`expected ${target} to be admitted, got ${admission.key} ${admission.reason}`);
  if (outcome === 'ok') r.record(target, provider, { latencyMs: 100, admission });
  else r.record(target, provider, { kind: outcome, latencyMs: 100, admission, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) });
}

describe('BreakerRegistry', () => {
  it('creates a breaker per target and per provider lazily, from one policy', () => {
    const { registry, clock } = setup();
    expect(registry.get('target:fast-a')).toBeUndefined();
    expect(registry.admit('fast-a', 'openai')).toEqual({ allowed: true, probe: false, probes: { target: false, provider: false } });
    expect(registry.get('target:fast-a')?.policy).toBe(policy);
    expect(registry.get('provider:openai')?.key).toBe('provider:openai');
    expect(registry.get('bogus')).toBeUndefined();
    expect(registry.stateOf('fast-a')).toBe('closed');
    expect(registry.stateOf('never-seen')).toBe('closed');
    expect(registry.states(clock.now()).map((s) => `${s.scope}/${s.id}=${s.state.state}`)).toEqual([
      'target/fast-a=closed',
      'provider/openai=closed',
    ]);
  });

  it("a provider breaker aggregates its targets' outcomes and blocks all its targets", () => {
    const { registry, clock, path } = setup();
    // 5 failures in a row for the provider, spread so that no target sees 5 in a row.
    for (const t of ['a1', 'a2', 'a3', 'a1', 'a2']) call(registry, t, 'acme', 'overloaded');
    expect(registry.stateOf('a1')).toBe('closed');
    expect(registry.get('provider:acme')?.state).toEqual({ state: 'open', until: clock.now() + 30_000, reason: 'consecutive_failures' });
    for (const t of ['a1', 'a2', 'a3', 'a-new']) {
      expect(registry.admit(t, 'acme')).toEqual({ allowed: false, scope: 'provider', key: 'provider:acme', reason: 'open', retryAfterMs: 30_000 });
    }
    expect(registry.admit('b1', 'other').allowed).toBe(true);
    expect(path()).toEqual(['provider:acme:closed->open:consecutive_failures']);
  });

  it('pauses neither the target nor its provider on 429s that can never pass (retryAfterMs Infinity)', () => {
    const { registry, path } = setup();
    for (let i = 0; i < 5; i++) call(registry, 'fast-a', 'openai', 'rate_limited', Infinity);
    expect(path()).toEqual([]);
    expect(registry.admit('fast-a', 'openai').allowed).toBe(true);
  });

  it("a target's own breaker refuses first, without asking the provider", () => {
    const { registry, clock } = setup({ targetOverrides: { flaky: { consecutiveFailures: 2 } } });
    call(registry, 'flaky', 'acme', 'timeout');
    call(registry, 'flaky', 'acme', 'timeout');
    expect(registry.admit('flaky', 'acme')).toEqual({ allowed: false, scope: 'target', key: 'target:flaky', reason: 'open', retryAfterMs: 30_000 });
    expect(registry.get('provider:acme')?.state.state).toBe('closed');
    expect(registry.admit('steady', 'acme').allowed).toBe(true);
    expect(registry.get('target:steady')?.policy.consecutiveFailures).toBe(5);
    expect(registry.get('target:flaky')?.policy.consecutiveFailures).toBe(2);
    expect(clock.now()).toBe(1_000_000);
  });

  it('ignores override keys inherited from Object.prototype', () => {
    const { registry } = setup({ targetOverrides: {} });
    expect(registry.admit('constructor', 'acme').allowed).toBe(true);
    expect(registry.get('target:constructor')?.policy).toBe(policy);
  });

  it('gives a probe slot back to the target when the provider refuses', () => {
    const { registry, clock } = setup({ targetOverrides: { t: { consecutiveFailures: 1 } } });
    call(registry, 't', 'acme', 'overloaded'); // target open
    clock.set(clock.now() + 30_000);
    registry.provider('acme').forceOpen(clock.now() + 60_000, 'maintenance', clock.now());
    expect(registry.admit('t', 'acme')).toMatchObject({ allowed: false, scope: 'provider', reason: 'open' });
    expect(registry.get('target:t')?.state).toEqual({ state: 'half-open', probesInFlight: 0, probeSuccesses: 0 });
  });

  it('accounts probes exactly through the admission, and release frees them', () => {
    const { registry, clock, path } = setup({ targetOverrides: { t: { consecutiveFailures: 1, rampUpMs: 0 } } });
    call(registry, 't', 'acme', 'overloaded');
    clock.set(clock.now() + 30_000);
    const probes = [registry.admit('t', 'acme'), registry.admit('t', 'acme'), registry.admit('t', 'acme')];
    expect(probes.map((a) => a.allowed && a.probes.target)).toEqual([true, true, true]);
    expect(registry.admit('t', 'acme')).toMatchObject({ allowed: false, scope: 'target', reason: 'half-open-busy' });
    registry.release('t', 'acme', probes[2]);
    registry.record('t', 'acme', { latencyMs: 50, admission: probes[0] });
    registry.record('t', 'acme', { kind: 'cancelled', admission: probes[1] }); // no verdict
    expect(registry.get('target:t')?.state).toEqual({ state: 'half-open', probesInFlight: 0, probeSuccesses: 1 });
    call(registry, 't', 'acme', 'ok');
    call(registry, 't', 'acme', 'ok');
    expect(registry.stateOf('t')).toBe('closed');
    expect(path()).toEqual([
      'target:t:closed->open:consecutive_failures',
      'target:t:open->half-open:open_elapsed',
      'target:t:half-open->closed:probes_succeeded',
    ]);
  });

  it('hands out one shared admission to calls that are not probes, and the half-open periods of probes', () => {
    const { registry, clock } = setup({ targetOverrides: { t: { consecutiveFailures: 1 } } });
    expect(registry.admit('t', 'acme')).toBe(NO_PROBE);
    expect(registry.admit('u', 'acme')).toBe(NO_PROBE);
    call(registry, 't', 'acme', 'overloaded');
    clock.set(clock.now() + 30_000);
    expect(registry.admit('t', 'acme')).toEqual({
      allowed: true,
      probe: true,
      probes: { target: true, provider: false },
      periods: { target: 1, provider: 0 },
    });
  });

  it('a probe from an earlier half-open period frees no slot and counts toward no later recovery', () => {
    const { registry, clock } = setup({ targetOverrides: { t: { consecutiveFailures: 1, halfOpenProbes: 2, rampUpMs: 0 } } });
    call(registry, 't', 'acme', 'overloaded');
    clock.set(clock.now() + 30_000);
    const p1 = registry.admit('t', 'acme');
    const p2 = registry.admit('t', 'acme');
    const p2b = registry.admit('t2', 'acme'); // not a probe
    registry.record('t', 'acme', { kind: 'overloaded', latencyMs: 100, admission: p1 });
    expect(registry.get('target:t')?.state).toMatchObject({ state: 'open', reason: 'probe_failed' });
    clock.set(clock.now() + 60_000);
    const p3 = registry.admit('t', 'acme');
    expect(p3).toMatchObject({ allowed: true, periods: { target: 2, provider: 0 } });
    // P2 of the first period ends now, in every way it can: none of them touches the new period.
    registry.record('t', 'acme', { latencyMs: 100, admission: p2 });
    registry.record('t', 'acme', { kind: 'cancelled', admission: p2 });
    registry.release('t', 'acme', p2);
    registry.release('t2', 'acme', p2b);
    expect(registry.get('target:t')?.state).toEqual({ state: 'half-open', probesInFlight: 1, probeSuccesses: 0 });
    expect(registry.admit('t', 'acme').allowed).toBe(true);
    expect(registry.admit('t', 'acme')).toMatchObject({ allowed: false, reason: 'half-open-busy' });
    registry.record('t', 'acme', { latencyMs: 100, admission: p3 });
    expect(registry.get('target:t')?.state).toEqual({ state: 'half-open', probesInFlight: 1, probeSuccesses: 1 });
  });

  it('emits a breaker event for every change, in order, with scope, id and time', () => {
    const { registry, clock, events } = setup({ random: () => 0 });
    for (let i = 0; i < 5; i++) call(registry, 'fast-a', 'openai', 'network'); // target and provider both open
    const opened = clock.now();
    clock.set(opened + 30_000);
    for (let i = 0; i < 3; i++) call(registry, 'fast-a', 'openai', 'ok');
    clock.set(clock.now() + 30_000);
    call(registry, 'fast-a', 'openai', 'ok');
    expect(events.map((e) => [e.key, e.scope, e.id, e.from, e.to, e.reason, e.at - opened, e.origin])).toEqual([
      ['target:fast-a', 'target', 'fast-a', 'closed', 'open', 'consecutive_failures', 0, 'local'],
      ['provider:openai', 'provider', 'openai', 'closed', 'open', 'consecutive_failures', 0, 'local'],
      ['target:fast-a', 'target', 'fast-a', 'open', 'half-open', 'open_elapsed', 30_000, 'local'],
      ['provider:openai', 'provider', 'openai', 'open', 'half-open', 'open_elapsed', 30_000, 'local'],
      ['target:fast-a', 'target', 'fast-a', 'half-open', 'ramping', 'probes_succeeded', 30_000, 'local'],
      ['provider:openai', 'provider', 'openai', 'half-open', 'ramping', 'probes_succeeded', 30_000, 'local'],
      ['target:fast-a', 'target', 'fast-a', 'ramping', 'closed', 'ramp_complete', 60_000, 'local'],
      ['provider:openai', 'provider', 'openai', 'ramping', 'closed', 'ramp_complete', 60_000, 'local'],
    ]);
    expect(events[0]?.state).toEqual({ state: 'open', until: opened + 30_000, reason: 'consecutive_failures' });
  });

  it('reports listener errors to onError and keeps working', () => {
    const { registry, errors } = setup({ targetOverrides: { t: { consecutiveFailures: 1 } } });
    registry.events.on('breaker', () => {
      throw new Error('listener bug');
    });
    call(registry, 't', 'acme', 'overloaded');
    expect(registry.stateOf('t')).toBe('open');
    expect(errors.map(([e, s]) => `${s}:${(e as Error).message}`)).toEqual(['listener:listener bug']);
  });

  it('rejects an unusable policy at construction', () => {
    expect(() => new BreakerRegistry({ policy: { ...policy, minimumCalls: 0 } })).toThrow(/minimumCalls/);
  });

  describe('sharing state across processes', () => {
    function pair() {
      const hub = new MemoryBreakerSyncHub();
      const clock = new ManualClock(1_000_000);
      const make = (name: string) => {
        const errors: unknown[] = [];
        const published: string[] = [];
        const connection = hub.connect();
        const sync: BreakerStateSync = {
          publish: (key, state) => {
            published.push(`${key}=${state.state}`);
            return connection.publish(key, state);
          },
          subscribe: (onRemote) => connection.subscribe!(onRemote),
        };
        const registry = new BreakerRegistry({ policy, clock, sync, random: () => 0, onError: (e) => errors.push(e) });
        const events: string[] = [];
        registry.events.on('breaker', (e) => events.push(`${name} ${e.key} ${e.from}->${e.to} ${e.reason} ${e.origin}`));
        return { registry, errors, published, events };
      };
      return { hub, clock, a: make('A'), b: make('B') };
    }

    it('an opening in one registry blocks the target in the other, which does not publish it back', () => {
      const { hub, clock, a, b } = pair();
      for (let i = 0; i < 5; i++) call(a.registry, 'fast-a', 'openai', 'overloaded');
      const until = clock.now() + 30_000;
      expect(b.registry.admit('fast-a', 'openai', clock.now())).toEqual({
        allowed: false,
        scope: 'target',
        key: 'target:fast-a',
        reason: 'open',
        retryAfterMs: 30_000,
      });
      expect(b.registry.get('provider:openai')?.state).toEqual({ state: 'open', until, reason: 'consecutive_failures' });
      expect(a.events).toEqual([
        'A target:fast-a closed->open consecutive_failures local',
        'A provider:openai closed->open consecutive_failures local',
      ]);
      expect(b.events).toEqual([
        'B target:fast-a closed->open consecutive_failures remote',
        'B provider:openai closed->open consecutive_failures remote',
      ]);
      expect(a.published).toEqual(['target:fast-a=open', 'provider:openai=open']);
      expect(b.published).toEqual([]);
      expect(hub.published).toBe(2);
    });

    it('publishes only on changes, and each process recovers on its own probes', () => {
      const { clock, a, b } = pair();
      for (let i = 0; i < 5; i++) call(a.registry, 'fast-a', 'openai', 'overloaded');
      for (let i = 0; i < 20; i++) expect(a.registry.admit('fast-a', 'openai').allowed).toBe(false);
      expect(a.published).toHaveLength(2);
      clock.set(clock.now() + 30_000);
      for (let i = 0; i < 3; i++) call(a.registry, 'fast-a', 'openai', 'ok');
      expect(a.published).toEqual([
        'target:fast-a=open',
        'provider:openai=open',
        'target:fast-a=half-open',
        'provider:openai=half-open',
        'target:fast-a=ramping',
        'provider:openai=ramping',
      ]);
      // B ignored the recovery states: it is still open until it probes by itself.
      expect(b.registry.stateOf('fast-a')).toBe('open');
      expect(b.registry.admit('fast-a', 'openai')).toMatchObject({ allowed: true, probe: true });
      expect(b.registry.stateOf('fast-a')).toBe('half-open');
      expect(b.published).toEqual(['target:fast-a=half-open', 'provider:openai=half-open']);
      // A is already ramping, so B's half-open is not applied there.
      expect(a.registry.stateOf('fast-a')).toBe('ramping');
    });

    it('a remote opening during a local recovery makes the local probes stale', () => {
      const { hub, clock, a } = pair();
      for (let i = 0; i < 5; i++) call(a.registry, 'fast-a', 'openai', 'overloaded');
      clock.set(clock.now() + 30_000);
      const probe = a.registry.admit('fast-a', 'openai');
      expect(probe).toMatchObject({ allowed: true, periods: { target: 1, provider: 1 } });
      // Another process finds the target failing and shares an opening; A applies it while its probe is in flight.
      hub.connect().publish('target:fast-a', { state: 'open', until: clock.now() + 10_000, reason: 'error_rate' });
      expect(a.registry.stateOf('fast-a')).toBe('open');
      clock.set(clock.now() + 10_000);
      const next = a.registry.admit('fast-a', 'openai');
      expect(next).toMatchObject({ allowed: true, periods: { target: 2, provider: 1 } });
      a.registry.record('fast-a', 'openai', { latencyMs: 100, admission: probe });
      // The target's slot held by `next` is still held; the provider (never reopened) counted the success.
      expect(a.registry.get('target:fast-a')?.state).toEqual({ state: 'half-open', probesInFlight: 1, probeSuccesses: 0 });
      expect(a.registry.get('provider:openai')?.state).toEqual({ state: 'half-open', probesInFlight: 1, probeSuccesses: 1 });
    });

    it('a 429 pause is shared until the provider’s reset', () => {
      const { clock, a, b } = pair();
      for (let i = 0; i < 3; i++) call(a.registry, 'fast-a', 'openai', 'rate_limited', 20_000);
      expect(b.registry.admit('fast-a', 'openai')).toEqual({
        allowed: false,
        scope: 'target',
        key: 'target:fast-a',
        reason: 'paused',
        retryAfterMs: 20_000,
      });
      clock.set(clock.now() + 20_000);
      expect(b.registry.admit('fast-a', 'openai').allowed).toBe(true);
      expect(b.events.at(-2)).toBe('B target:fast-a paused->closed pause_elapsed local');
    });

    it('publishes a local forceOpen (kill switch) to the other registries', () => {
      const { clock, a, b } = pair();
      b.registry.target('fast-a').forceOpen(clock.now() + 100_000, 'maintenance', clock.now());
      expect(a.registry.admit('fast-a', 'openai')).toMatchObject({ allowed: false, reason: 'open', retryAfterMs: 100_000 });
      expect(a.events).toEqual(['A target:fast-a closed->open maintenance remote']);
      expect(b.published).toEqual(['target:fast-a=open']);
    });

    it('does not let a remote pause replace a local opening, nor apply expired states', () => {
      const { hub, clock, a } = pair();
      for (let i = 0; i < 5; i++) call(a.registry, 'fast-a', 'openai', 'overloaded');
      const before = a.registry.target('fast-a').state;
      const remote = hub.connect();
      remote.publish('target:fast-a', { state: 'paused', until: clock.now() + 300_000 });
      expect(a.registry.target('fast-a').state).toBe(before);
      remote.publish('target:other', { state: 'open', until: clock.now(), reason: 'error_rate' });
      expect(a.registry.stateOf('other')).toBe('closed');
      remote.publish('target:other', { state: 'closed' });
      remote.publish('target:other', { state: 'ramping', since: clock.now() });
      expect(a.registry.stateOf('other')).toBe('closed');
      expect(a.errors).toEqual([]);
    });

    it('a later remote opening extends a local one: one remote open->open event, not published back', () => {
      const { hub, clock, a } = pair();
      for (let i = 0; i < 5; i++) call(a.registry, 'fast-a', 'openai', 'overloaded');
      const eventsBefore = a.events.length;
      const remote = hub.connect();
      remote.publish('target:fast-a', { state: 'open', until: clock.now() + 90_000, reason: 'error_rate' });
      remote.publish('target:fast-a', { state: 'open', until: clock.now() + 60_000, reason: 'probe_failed' }); // shorter: ignored
      expect(a.registry.target('fast-a').state).toEqual({ state: 'open', until: clock.now() + 90_000, reason: 'error_rate' });
      expect(a.events.slice(eventsBefore)).toEqual(['A target:fast-a open->open error_rate remote']);
      expect(a.published).toEqual(['target:fast-a=open', 'provider:openai=open']);
    });

    it('a kill switch on a target that is already open reaches the other processes, which keep it out until its end', () => {
      const { hub, clock, a, b } = pair();
      // A finds the target failing: open for 30 s, shared with B.
      for (let i = 0; i < 5; i++) call(a.registry, 'fast-a', 'openai', 'overloaded');
      expect(b.registry.target('fast-a').state).toMatchObject({ state: 'open', until: 1_030_000 });
      const published = hub.published;
      const withFull: BreakerChangeEvent[] = [];
      a.registry.events.on('breaker', (e) => withFull.push(e));

      // The operator takes the target out for 10 minutes (the documented kill switch).
      a.registry.target('fast-a').forceOpen(clock.now() + 600_000, 'maintenance', clock.now());
      expect(a.registry.target('fast-a').state).toEqual({ state: 'open', until: 1_600_000, reason: 'maintenance' });
      expect(hub.published).toBe(published + 1);
      expect(a.published.at(-1)).toBe('target:fast-a=open');
      expect(withFull).toEqual([
        expect.objectContaining({ key: 'target:fast-a', from: 'open', to: 'open', reason: 'maintenance', at: 1_000_000, origin: 'local', state: { state: 'open', until: 1_600_000, reason: 'maintenance' } }),
      ]);

      // B must not start probing the target after 30 s.
      clock.set(1_031_000);
      expect(b.registry.admit('fast-a', 'openai')).toMatchObject({ allowed: false, reason: 'open', retryAfterMs: 569_000 });
      expect(b.registry.target('fast-a').state).toEqual({ state: 'open', until: 1_600_000, reason: 'maintenance' });
      expect(a.events.slice(2)).toEqual(['A target:fast-a open->open maintenance local']);
      expect(b.events.slice(2)).toEqual(['B target:fast-a open->open maintenance remote']);
      expect(b.published).toEqual([]);
      // A kill switch that ends sooner than the current opening changes nothing, anywhere.
      a.registry.target('fast-a').forceOpen(clock.now() + 60_000, 'short-maintenance', clock.now());
      expect(a.registry.target('fast-a').state).toMatchObject({ until: 1_600_000, reason: 'maintenance' });
      expect(hub.published).toBe(published + 1);
      expect(a.events).toHaveLength(3);
    });

    it('reports malformed remote states and keys, and changes nothing', () => {
      const hub = new MemoryBreakerSyncHub();
      const clock = new ManualClock(0);
      const errors: unknown[] = [];
      const registry = new BreakerRegistry({ policy, clock, sync: hub.connect(), onError: (e) => errors.push(e) });
      const remote = hub.connect();
      remote.publish('target:x', { state: 'open', until: 'later' } as unknown as BreakerState);
      remote.publish('nonsense', { state: 'open', until: 10, reason: 'x' });
      expect(errors).toHaveLength(2);
      expect(errors.every((e) => e instanceof InvalidBreakerStateError && e.code === 'ERR_LLMR_INVALID_BREAKER_STATE')).toBe(true);
      expect(registry.stateOf('x')).toBe('closed');
    });

    it('a failing publish is reported and never breaks the caller', async () => {
      const clock = new ManualClock(0);
      const errors: unknown[] = [];
      const throwing = new BreakerRegistry({
        policy: { ...policy, consecutiveFailures: 1 },
        clock,
        sync: {
          publish: () => {
            throw new Error('redis down');
          },
        },
        onError: (e) => errors.push(e),
      });
      const rejecting = new BreakerRegistry({
        policy: { ...policy, consecutiveFailures: 1 },
        clock,
        sync: { publish: () => Promise.reject(new Error('redis timeout')) },
        onError: (e) => errors.push(e),
      });
      call(throwing, 't', 'p', 'overloaded');
      call(rejecting, 't', 'p', 'overloaded');
      await Promise.resolve();
      expect(throwing.stateOf('t')).toBe('open');
      expect(rejecting.stateOf('t')).toBe('open');
      expect(errors.map((e) => (e as Error).message)).toEqual(['redis down', 'redis down', 'redis timeout', 'redis timeout']);
    });

    it('dispose stops applying remote states', () => {
      const { a, b } = pair();
      b.registry.dispose();
      for (let i = 0; i < 5; i++) call(a.registry, 'fast-a', 'openai', 'overloaded');
      expect(b.registry.stateOf('fast-a')).toBe('closed');
    });
  });

  describe('providers with several targets', () => {
    it("one model's outage does not block its sibling models", () => {
      const { registry } = setup({ providerTargets: { openai: 2 } });
      for (let i = 0; i < 5; i++) call(registry, 'fast-a', 'openai', 'overloaded');
      expect(registry.stateOf('fast-a')).toBe('open');
      expect(registry.provider('openai').state.state).toBe('closed');
      expect(registry.admit('fast-c', 'openai').allowed).toBe(true);
    });

    it('opens the provider breaker when two of its models fail within the window', () => {
      const { registry } = setup({ providerTargets: { openai: 2 } });
      for (let i = 0; i < 3; i++) {
        call(registry, 'fast-a', 'openai', 'overloaded');
        call(registry, 'fast-c', 'openai', 'overloaded');
      }
      expect(registry.provider('openai').state.state).toBe('open');
    });

    it('forgets failures of a model older than the breaker window', () => {
      const { registry, clock } = setup({ providerTargets: { openai: 2 } });
      call(registry, 'fast-a', 'openai', 'overloaded');
      clock.set(clock.now() + policy.windowMs + 1);
      for (let i = 0; i < 5; i++) call(registry, 'fast-c', 'openai', 'overloaded');
      expect(registry.provider('openai').state.state).toBe('closed');
    });
  });
});

/** One slow model of a multi-model provider trips only its own breaker, as one failing model does. */
describe('BreakerRegistry: a slow model and its provider', () => {
  it("one slow model of a multi-model provider trips only its own breaker, not the provider's", () => {
    const clock = new ManualClock(1_000_000);
    const registry = new BreakerRegistry({ policy, clock, providerTargets: { openai: 2 }, onError: () => {} });
    // fast-a answers, but every answer takes 31 s (>= slowCall): its own breaker opens on slow_calls.
    for (let i = 0; i < 10; i++) {
      const admission = registry.admit('fast-a', 'openai');
      if (!admission.allowed) break;
      registry.record('fast-a', 'openai', { latencyMs: 31_000, admission });
    }
    expect(registry.stateOf('fast-a')).toBe('open');
    // The sibling model of the same provider never misbehaved: it must stay usable as a fallback
    // (docs: "one overloaded model only trips its own breaker"; a timing-out model does not count either).
    expect(registry.provider('openai').state.state).toBe('closed');
    expect(registry.admit('fast-c', 'openai').allowed).toBe(true);
  });

  it('a slow model is treated like a timing-out one: neither opens the provider breaker alone', () => {
    const clock = new ManualClock(1_000_000);
    const timingOut = new BreakerRegistry({ policy, clock, providerTargets: { openai: 2 }, onError: () => {} });
    const slow = new BreakerRegistry({ policy, clock, providerTargets: { openai: 2 }, onError: () => {} });
    for (let i = 0; i < 10; i++) {
      const a1 = timingOut.admit('fast-a', 'openai');
      if (a1.allowed) timingOut.record('fast-a', 'openai', { kind: 'timeout', latencyMs: 30_000, admission: a1 });
      const a2 = slow.admit('fast-a', 'openai');
      if (a2.allowed) slow.record('fast-a', 'openai', { latencyMs: 30_000, admission: a2 });
    }
    expect(timingOut.provider('openai').state.state).toBe('closed');
    expect(slow.provider('openai').state.state).toBe('closed');
  });
});
