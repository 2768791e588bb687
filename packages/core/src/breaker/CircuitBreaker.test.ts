import { ManualClock } from '../clock';
import type { ErrorKind } from '../errors/ErrorKind';
import type { BreakerPolicy } from '../policy/Policy';
import type { BreakerState } from './BreakerState';
import { CircuitBreaker, type BreakerTransition, type CircuitBreakerOptions } from './CircuitBreaker';
import { InvalidBreakerStateError } from './InvalidBreakerStateError';

/** The defaults definePolicy fills in (seed: error rate above 20% over 2 minutes). */
function policy(over: Partial<BreakerPolicy> = {}): BreakerPolicy {
  return {
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
    ...over,
  };
}

function setup(over: Partial<BreakerPolicy> = {}, options: CircuitBreakerOptions = {}) {
  const clock = new ManualClock(1_000_000);
  const breaker = new CircuitBreaker('target:a', policy(over), options);
  const transitions: BreakerTransition[] = [];
  breaker.events.on('stateChange', (t) => transitions.push(t));
  const path = () => transitions.map((t) => `${t.from}->${t.to}:${t.reason}`);
  return { clock, breaker, transitions, path };
}

/** Admits and reports one call; fails the test when the breaker refuses it. */
function call(b: CircuitBreaker, now: number, outcome: 'ok' | 'slow' | ErrorKind, retryAfterMs?: number): void {
  const a = b.admit(now);
  if (!a.allowed) throw new Error(`expected admission at ${now}, got ${a.reason}`);
  if (outcome === 'ok') b.onSuccess(100, now, { probe: a.probe, period: a.period });
  else if (outcome === 'slow') b.onSuccess(30_000, now, { probe: a.probe, period: a.period });
  else b.onFailure(outcome, now, { latencyMs: 100, probe: a.probe, period: a.period, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) });
}

/** Opens the breaker with consecutive failures and returns the time it opened. */
function trip(b: CircuitBreaker, clock: ManualClock): number {
  for (let i = 0; i < 5; i++) call(b, clock.now(), 'overloaded');
  expect(b.state.state).toBe('open');
  return clock.now();
}

describe('CircuitBreaker', () => {
  it('starts closed and admits calls that are not probes', () => {
    const { breaker, clock } = setup();
    expect(breaker.state).toEqual({ state: 'closed' });
    expect(breaker.admit(clock.now())).toEqual({ allowed: true, probe: false });
  });

  describe('error rate over the sliding window', () => {
    it('opens only once minimumCalls verdicts are in the window, not before', () => {
      const { breaker, clock, transitions } = setup({ consecutiveFailures: 100 });
      // 9 calls, 3 failures (33%): above 20%, but below the minimum volume.
      const outcomes = ['overloaded', 'ok', 'ok', 'timeout', 'ok', 'ok', 'network', 'ok', 'ok'] as const;
      for (const o of outcomes) {
        call(breaker, clock.now(), o);
        clock.set(clock.now() + 1000);
      }
      expect(breaker.state.state).toBe('closed');
      expect(breaker.snapshot().window).toEqual({ calls: 9, failures: 3, slow: 0 });
      call(breaker, clock.now(), 'ok'); // 10th verdict: 3/10 = 30% > 20%
      expect(breaker.state).toEqual({ state: 'open', until: clock.now() + 30_000, reason: 'error_rate' });
      expect(transitions).toHaveLength(1);
    });

    it('needs a rate strictly above errorRate (2 of 10 = 20% stays closed)', () => {
      const { breaker, clock } = setup({ consecutiveFailures: 100 });
      for (let i = 0; i < 8; i++) call(breaker, clock.now(), 'ok');
      call(breaker, clock.now(), 'overloaded');
      call(breaker, clock.now(), 'overloaded');
      expect(breaker.snapshot().window).toEqual({ calls: 10, failures: 2, slow: 0 });
      expect(breaker.state.state).toBe('closed');
      call(breaker, clock.now(), 'overloaded'); // 3 of 11 = 27%
      expect(breaker.state).toMatchObject({ state: 'open', reason: 'error_rate' });
    });

    it('forgets failures older than the window', () => {
      const { breaker, clock } = setup({ consecutiveFailures: 100 });
      for (let i = 0; i < 4; i++) call(breaker, clock.now(), 'overloaded');
      clock.set(clock.now() + 120_000); // the 4 failures leave the 2-minute window
      for (let i = 0; i < 9; i++) call(breaker, clock.now(), 'ok');
      call(breaker, clock.now(), 'overloaded');
      expect(breaker.snapshot().window).toEqual({ calls: 10, failures: 1, slow: 0 });
      expect(breaker.state.state).toBe('closed');
    });

    it('would have opened had the old failures still been in the window', () => {
      const { breaker, clock } = setup({ consecutiveFailures: 100 });
      for (let i = 0; i < 4; i++) call(breaker, clock.now(), 'overloaded');
      clock.set(clock.now() + 60_000);
      for (let i = 0; i < 6; i++) call(breaker, clock.now(), 'ok');
      expect(breaker.state).toMatchObject({ state: 'open', reason: 'error_rate' });
    });
  });

  describe('consecutive failures', () => {
    it('opens after consecutiveFailures failures in a row, below the minimum volume', () => {
      const { breaker, clock, path } = setup();
      for (let i = 0; i < 4; i++) call(breaker, clock.now(), 'timeout');
      expect(breaker.state.state).toBe('closed');
      call(breaker, clock.now(), 'timeout');
      expect(breaker.state).toEqual({ state: 'open', until: clock.now() + 30_000, reason: 'consecutive_failures' });
      expect(path()).toEqual(['closed->open:consecutive_failures']);
    });

    it('a success breaks the streak', () => {
      const { breaker, clock } = setup();
      for (let i = 0; i < 4; i++) call(breaker, clock.now(), 'network');
      call(breaker, clock.now(), 'ok');
      for (let i = 0; i < 4; i++) call(breaker, clock.now(), 'network');
      expect(breaker.state.state).toBe('closed');
      expect(breaker.snapshot().consecutiveFailures).toBe(4);
    });

    it("the request's own faults neither count nor break the streak", () => {
      const { breaker, clock } = setup();
      for (let i = 0; i < 4; i++) call(breaker, clock.now(), 'unknown');
      for (const k of ['invalid_request', 'policy_rejected', 'context_length', 'validation_failed', 'cancelled'] as const) {
        for (let i = 0; i < 10; i++) call(breaker, clock.now(), k);
      }
      expect(breaker.state.state).toBe('closed');
      expect(breaker.snapshot().window).toEqual({ calls: 4, failures: 4, slow: 0 });
      call(breaker, clock.now(), 'unknown');
      expect(breaker.state).toMatchObject({ state: 'open', reason: 'consecutive_failures' });
    });

    it('an opening lasts at least the failing call’s retry hint', () => {
      const { breaker, clock } = setup();
      for (let i = 0; i < 4; i++) call(breaker, clock.now(), 'overloaded');
      call(breaker, clock.now(), 'overloaded', 90_000);
      expect(breaker.state).toEqual({ state: 'open', until: clock.now() + 90_000, reason: 'consecutive_failures' });
    });
  });

  describe('slow calls', () => {
    it('opens when the slow share of at least minimumCalls verdicts is above slowCallRate', () => {
      const { breaker, clock } = setup();
      for (let i = 0; i < 5; i++) call(breaker, clock.now(), 'slow');
      for (let i = 0; i < 5; i++) call(breaker, clock.now(), 'ok');
      expect(breaker.snapshot().window).toEqual({ calls: 10, failures: 0, slow: 5 });
      expect(breaker.state.state).toBe('closed'); // 50% is not above 50%
      call(breaker, clock.now(), 'slow'); // 6 of 11
      expect(breaker.state).toEqual({ state: 'open', until: clock.now() + 30_000, reason: 'slow_calls' });
    });

    it('does not open on slow calls below the minimum volume', () => {
      const { breaker, clock } = setup();
      for (let i = 0; i < 9; i++) call(breaker, clock.now(), 'slow');
      expect(breaker.state.state).toBe('closed');
    });

    it('a slow failure counts as slow too', () => {
      const { breaker, clock } = setup({ consecutiveFailures: 100, errorRate: 1 });
      for (let i = 0; i < 10; i++) {
        const a = breaker.admit(clock.now());
        expect(a.allowed).toBe(true);
        breaker.onFailure('timeout', clock.now(), { latencyMs: 30_000 });
      }
      expect(breaker.state).toMatchObject({ state: 'open', reason: 'slow_calls' });
    });
  });

  describe('repeated 429: pause', () => {
    it('does not count 429s toward the error rate', () => {
      const { breaker, clock } = setup({ rateLimitPauseAfter: 1000 });
      for (let i = 0; i < 50; i++) call(breaker, clock.now(), 'rate_limited');
      expect(breaker.state.state).toBe('closed');
      expect(breaker.snapshot().window.calls).toBe(0);
    });

    it('pauses after rateLimitPauseAfter 429s in a row, until the latest announced reset', () => {
      const { breaker, clock, path } = setup();
      const t0 = clock.now();
      call(breaker, t0, 'rate_limited', 20_000); // reset at t0 + 20 s
      clock.set(t0 + 1_000);
      call(breaker, clock.now(), 'rate_limited', 40_000); // reset at t0 + 41 s (the latest)
      clock.set(t0 + 2_000);
      expect(breaker.state.state).toBe('closed');
      call(breaker, clock.now(), 'rate_limited', 5_000); // reset at t0 + 7 s
      expect(breaker.state).toEqual({ state: 'paused', until: t0 + 41_000 });
      expect(breaker.admit(t0 + 2_000)).toEqual({ allowed: false, reason: 'paused', retryAfterMs: 39_000 });
      expect(breaker.admit(t0 + 40_999)).toEqual({ allowed: false, reason: 'paused', retryAfterMs: 1 });
      expect(breaker.admit(t0 + 41_000)).toEqual({ allowed: true, probe: false });
      expect(breaker.state.state).toBe('closed');
      expect(path()).toEqual(['closed->paused:rate_limited', 'paused->closed:pause_elapsed']);
    });

    it('takes a 429 that can never pass (retryAfterMs Infinity: the request alone exceeds the limit) as no verdict', () => {
      // Not even when failOn lists rate_limited.
      const counting = setup({ failOn: new Set<ErrorKind>(['rate_limited', 'overloaded']), consecutiveFailures: 2 });
      for (let i = 0; i < 5; i++) call(counting.breaker, counting.clock.now(), 'rate_limited', Infinity);
      expect(counting.breaker.state.state).toBe('closed');
      expect(counting.breaker.snapshot().window.calls).toBe(0);
      const { breaker, clock, path } = setup();
      for (let i = 0; i < 5; i++) call(breaker, clock.now(), 'rate_limited', Infinity);
      expect(breaker.state.state).toBe('closed');
      // Nor does it break a streak of real 429s.
      call(breaker, clock.now(), 'rate_limited');
      call(breaker, clock.now(), 'rate_limited');
      call(breaker, clock.now(), 'rate_limited', Infinity);
      call(breaker, clock.now(), 'rate_limited');
      expect(breaker.state.state).toBe('paused');
      expect(path()).toEqual(['closed->paused:rate_limited']);
    });

    it('pauses for openForMs when no hint was given', () => {
      const { breaker, clock } = setup();
      for (let i = 0; i < 3; i++) call(breaker, clock.now(), 'rate_limited');
      expect(breaker.state).toEqual({ state: 'paused', until: clock.now() + 30_000 });
    });

    it('a success or another failure breaks the 429 streak', () => {
      const { breaker, clock } = setup();
      call(breaker, clock.now(), 'rate_limited');
      call(breaker, clock.now(), 'rate_limited');
      call(breaker, clock.now(), 'ok');
      call(breaker, clock.now(), 'rate_limited');
      call(breaker, clock.now(), 'rate_limited');
      call(breaker, clock.now(), 'overloaded');
      call(breaker, clock.now(), 'rate_limited');
      call(breaker, clock.now(), 'rate_limited');
      expect(breaker.state.state).toBe('closed');
      expect(breaker.snapshot().consecutiveRateLimited).toBe(2);
    });

    it('counts 429 as a failure too when failOn lists it', () => {
      const { breaker, clock } = setup({
        failOn: new Set<ErrorKind>(['rate_limited', 'overloaded']),
        rateLimitPauseAfter: 100,
        consecutiveFailures: 2,
      });
      call(breaker, clock.now(), 'rate_limited');
      call(breaker, clock.now(), 'rate_limited');
      expect(breaker.state).toMatchObject({ state: 'open', reason: 'consecutive_failures' });
    });

    it('a pause that interrupts a recovery resumes in half-open', () => {
      const { breaker, clock, path } = setup();
      const opened = trip(breaker, clock);
      clock.set(opened + 30_000);
      for (let i = 0; i < 3; i++) {
        const a = breaker.admit(clock.now());
        expect(a).toEqual({ allowed: true, probe: true, period: 1 });
        breaker.onFailure('rate_limited', clock.now(), { probe: true, retryAfterMs: 10_000 });
      }
      expect(breaker.state).toEqual({ state: 'paused', until: clock.now() + 10_000 });
      // Resuming the recovery starts a new half-open period.
      expect(breaker.admit(clock.now() + 10_000)).toEqual({ allowed: true, probe: true, period: 2 });
      expect(path()).toEqual([
        'closed->open:consecutive_failures',
        'open->half-open:open_elapsed',
        'half-open->paused:rate_limited',
        'paused->half-open:pause_elapsed',
      ]);
    });
  });

  describe('recovery', () => {
    it('stays open for openForMs, then half-open admits at most halfOpenProbes concurrent probes', () => {
      const { breaker, clock } = setup();
      const opened = trip(breaker, clock);
      expect(breaker.admit(opened + 29_999)).toEqual({ allowed: false, reason: 'open', retryAfterMs: 1 });
      clock.set(opened + 30_000);
      const now = clock.now();
      const probe = breaker.admit(now);
      expect(probe).toEqual({ allowed: true, probe: true, period: 1 });
      expect(breaker.admit(now)).toBe(probe); // one shared admission per half-open period
      expect(breaker.admit(now)).toBe(probe);
      expect(breaker.admit(now)).toEqual({ allowed: false, reason: 'half-open-busy', retryAfterMs: 0 });
      expect(breaker.state).toEqual({ state: 'half-open', probesInFlight: 3, probeSuccesses: 0 });
      breaker.release(true, 1); // e.g. skipped by a limiter after admission
      expect(breaker.state).toEqual({ state: 'half-open', probesInFlight: 2, probeSuccesses: 0 });
      breaker.release(true); // without a period: taken to be a probe of the current period
      expect(breaker.state).toEqual({ state: 'half-open', probesInFlight: 1, probeSuccesses: 0 });
      expect(breaker.admit(now)).toEqual({ allowed: true, probe: true, period: 1 });
    });

    it('a neutral outcome frees the probe slot without a verdict', () => {
      const { breaker, clock } = setup();
      clock.set(trip(breaker, clock) + 30_000);
      breaker.admit(clock.now());
      breaker.onFailure('invalid_request', clock.now(), { probe: true });
      expect(breaker.state).toEqual({ state: 'half-open', probesInFlight: 0, probeSuccesses: 0 });
    });

    it('probe successes -> ramping (share grows from 10% to 100%) -> closed, with a deterministic random', () => {
      let r = 0.5;
      const { breaker, clock, path, transitions } = setup({}, { random: () => r });
      const opened = trip(breaker, clock);
      clock.set(opened + 30_000);
      for (let i = 0; i < 3; i++) expect(breaker.admit(clock.now())).toEqual({ allowed: true, probe: true, period: 1 });
      for (let i = 0; i < 3; i++) breaker.onSuccess(200, clock.now(), { probe: true });
      const since = clock.now();
      expect(breaker.state).toEqual({ state: 'ramping', since });
      // share = 0.1 + 0.9 * elapsed / 30 s
      expect(breaker.admit(since)).toEqual({ allowed: false, reason: 'ramp', retryAfterMs: 0 }); // 0.5 >= 0.1
      r = 0.09;
      expect(breaker.admit(since)).toEqual({ allowed: true, probe: false }); // 0.09 < 0.1
      r = 0.5;
      expect(breaker.admit(since + 10_000)).toEqual({ allowed: false, reason: 'ramp', retryAfterMs: 0 }); // share 0.4
      expect(breaker.admit(since + 15_000)).toEqual({ allowed: true, probe: false }); // share 0.55
      expect(breaker.snapshot(since + 15_000).trafficShare).toBeCloseTo(0.55, 10);
      r = 0.99999;
      expect(breaker.admit(since + 29_999).allowed).toBe(false); // share 0.99997
      expect(breaker.admit(since + 30_000)).toEqual({ allowed: true, probe: false });
      expect(breaker.state).toEqual({ state: 'closed' });
      expect(path()).toEqual([
        'closed->open:consecutive_failures',
        'open->half-open:open_elapsed',
        'half-open->ramping:probes_succeeded',
        'ramping->closed:ramp_complete',
      ]);
      expect(transitions.map((t) => t.at)).toEqual([opened, opened + 30_000, since, since + 30_000]);
      expect(transitions.every((t) => t.key === 'target:a' && !t.forced)).toBe(true);
    });

    it('closes straight from half-open when rampUpMs is 0', () => {
      const { breaker, clock, path } = setup({ rampUpMs: 0 });
      clock.set(trip(breaker, clock) + 30_000);
      for (let i = 0; i < 3; i++) call(breaker, clock.now(), 'ok');
      expect(breaker.state).toEqual({ state: 'closed' });
      expect(path().at(-1)).toBe('half-open->closed:probes_succeeded');
    });

    it('a failed probe reopens, each failed recovery doubling the open period up to the cap', () => {
      const { breaker, clock, path } = setup({}, { maxOpenForMs: 100_000 });
      const opened = trip(breaker, clock);
      expect(breaker.state).toMatchObject({ until: opened + 30_000 });
      clock.set(opened + 30_000);
      call(breaker, clock.now(), 'overloaded');
      expect(breaker.state).toEqual({ state: 'open', until: clock.now() + 60_000, reason: 'probe_failed' });
      clock.set(clock.now() + 60_000);
      call(breaker, clock.now(), 'overloaded');
      expect(breaker.state).toMatchObject({ until: clock.now() + 100_000 }); // 120 s capped at 100 s
      expect(path()).toEqual([
        'closed->open:consecutive_failures',
        'open->half-open:open_elapsed',
        'half-open->open:probe_failed',
        'open->half-open:open_elapsed',
        'half-open->open:probe_failed',
      ]);
    });

    it('a full recovery resets the open period', () => {
      const { breaker, clock } = setup({ rampUpMs: 0 });
      clock.set(trip(breaker, clock) + 30_000);
      call(breaker, clock.now(), 'overloaded'); // reopened for 60 s
      clock.set(clock.now() + 60_000);
      for (let i = 0; i < 3; i++) call(breaker, clock.now(), 'ok');
      expect(breaker.state.state).toBe('closed');
      trip(breaker, clock);
      expect(breaker.state).toMatchObject({ until: clock.now() + 30_000 });
    });

    it('a failure while ramping reopens', () => {
      const { breaker, clock, path } = setup({}, { random: () => 0 });
      clock.set(trip(breaker, clock) + 30_000);
      for (let i = 0; i < 3; i++) call(breaker, clock.now(), 'ok');
      clock.set(clock.now() + 5_000);
      call(breaker, clock.now(), 'ok');
      expect(breaker.state.state).toBe('ramping');
      call(breaker, clock.now(), 'network');
      expect(breaker.state).toEqual({ state: 'open', until: clock.now() + 60_000, reason: 'ramp_failed' });
      expect(path().at(-1)).toBe('ramping->open:ramp_failed');
    });

    it('slow probes above slowCallRate of halfOpenProbes reopen', () => {
      const { breaker, clock } = setup();
      clock.set(trip(breaker, clock) + 30_000);
      for (let i = 0; i < 3; i++) breaker.admit(clock.now());
      breaker.onSuccess(30_000, clock.now(), { probe: true }); // 1/3 slow: fine
      expect(breaker.state).toEqual({ state: 'half-open', probesInFlight: 2, probeSuccesses: 1 });
      breaker.onSuccess(31_000, clock.now(), { probe: true }); // 2/3 > 0.5
      expect(breaker.state).toMatchObject({ state: 'open', reason: 'slow_calls' });
    });

    it('ignores outcomes of calls admitted before the breaker opened', () => {
      const { breaker, clock } = setup();
      const stragglers = [breaker.admit(clock.now()), breaker.admit(clock.now())];
      expect(stragglers.every((a) => a.allowed)).toBe(true);
      const opened = trip(breaker, clock);
      breaker.onSuccess(100, opened);
      breaker.onFailure('overloaded', opened);
      expect(breaker.state).toEqual({ state: 'open', until: opened + 30_000, reason: 'consecutive_failures' });
      clock.set(opened + 30_000);
      breaker.admit(clock.now());
      breaker.onFailure('overloaded', clock.now(), { probe: false }); // a straggler in half-open
      expect(breaker.state).toEqual({ state: 'half-open', probesInFlight: 1, probeSuccesses: 0 });
    });
  });

  describe('half-open periods: a probe belongs to the period that admitted it', () => {
    /** Admits one call, failing the test when refused; returns the allowed admission. */
    function admitted(b: CircuitBreaker, now: number) {
      const a = b.admit(now);
      if (!a.allowed) throw new Error(`expected admission at ${now}, got ${a.reason}`);
      return a;
    }

    /** halfOpenProbes 2: P1 and P2 probe period 1, P1 fails, the breaker half-opens again and admits P3. */
    function stalePeriod(over: Partial<BreakerPolicy> = {}) {
      const t = setup({ halfOpenProbes: 2, rampUpMs: 0, ...over });
      const { breaker, clock } = t;
      clock.set(trip(breaker, clock) + 30_000);
      const p1 = admitted(breaker, clock.now());
      const p2 = admitted(breaker, clock.now());
      expect([p1.period, p2.period]).toEqual([1, 1]);
      breaker.onFailure('overloaded', clock.now(), { latencyMs: 100, probe: p1.probe, period: p1.period });
      expect(breaker.state).toEqual({ state: 'open', until: clock.now() + 60_000, reason: 'probe_failed' });
      clock.set(clock.now() + 60_000);
      const p3 = admitted(breaker, clock.now());
      expect(p3).toEqual({ allowed: true, probe: true, period: 2 });
      expect(breaker.state).toEqual({ state: 'half-open', probesInFlight: 1, probeSuccesses: 0 });
      return { ...t, p2, p3 };
    }

    it("a stale probe's success neither frees a current probe's slot nor counts toward the new recovery", () => {
      const { breaker, clock, p2, p3, path } = stalePeriod();
      breaker.onSuccess(100, clock.now(), { probe: p2.probe, period: p2.period });
      expect(breaker.state).toEqual({ state: 'half-open', probesInFlight: 1, probeSuccesses: 0 });
      // At most halfOpenProbes (2) probes at once: P3 and one more.
      const p4 = admitted(breaker, clock.now());
      expect(p4.period).toBe(2);
      expect(breaker.admit(clock.now())).toEqual({ allowed: false, reason: 'half-open-busy', retryAfterMs: 0 });
      // The recovery needs two successes of its own period.
      breaker.onSuccess(100, clock.now(), { probe: p3.probe, period: p3.period });
      expect(breaker.state).toEqual({ state: 'half-open', probesInFlight: 1, probeSuccesses: 1 });
      breaker.onSuccess(100, clock.now(), { probe: p4.probe, period: p4.period });
      expect(breaker.state).toEqual({ state: 'closed' });
      expect(path().slice(1)).toEqual([
        'open->half-open:open_elapsed',
        'half-open->open:probe_failed',
        'open->half-open:open_elapsed',
        'half-open->closed:probes_succeeded',
      ]);
    });

    it("a stale probe's release, neutral outcome or failure leaves the current period alone", () => {
      const { breaker, clock, p2, p3 } = stalePeriod();
      const current = breaker.state;
      breaker.release(p2.probe, p2.period);
      breaker.onFailure('cancelled', clock.now(), { probe: p2.probe, period: p2.period });
      breaker.onFailure('invalid_request', clock.now(), { probe: p2.probe, period: p2.period });
      breaker.onFailure('rate_limited', clock.now(), { probe: p2.probe, period: p2.period, retryAfterMs: 5_000 });
      breaker.onFailure('overloaded', clock.now(), { latencyMs: 100, probe: p2.probe, period: p2.period });
      breaker.onSuccess(60_000, clock.now(), { probe: p2.probe, period: p2.period }); // not a slow probe either
      expect(breaker.state).toBe(current);
      expect(breaker.snapshot().consecutiveRateLimited).toBe(0);
      // The current probe's own release still frees its slot.
      breaker.release(p3.probe, p3.period);
      expect(breaker.state).toEqual({ state: 'half-open', probesInFlight: 0, probeSuccesses: 0 });
    });

    it('a current probe still fails the recovery', () => {
      const { breaker, clock, p3 } = stalePeriod();
      breaker.onFailure('overloaded', clock.now(), { latencyMs: 100, probe: p3.probe, period: p3.period });
      expect(breaker.state).toEqual({ state: 'open', until: clock.now() + 120_000, reason: 'probe_failed' });
    });

    it('a stale probe ending after the recovery counts as an ordinary call', () => {
      const { breaker, clock, p2 } = stalePeriod();
      call(breaker, clock.now(), 'ok'); // P3
      call(breaker, clock.now(), 'ok'); // P4
      expect(breaker.state).toEqual({ state: 'closed' });
      breaker.onFailure('overloaded', clock.now(), { latencyMs: 100, probe: p2.probe, period: p2.period });
      expect(breaker.snapshot(clock.now())).toMatchObject({ state: { state: 'closed' }, consecutiveFailures: 1, window: { calls: 1, failures: 1 } });
    });

    it('a pause that interrupts a recovery starts a new period on resuming', () => {
      const { breaker, clock } = setup({ halfOpenProbes: 2, rateLimitPauseAfter: 1 });
      clock.set(trip(breaker, clock) + 30_000);
      const p1 = admitted(breaker, clock.now());
      const p2 = admitted(breaker, clock.now());
      breaker.onFailure('rate_limited', clock.now(), { probe: p1.probe, period: p1.period, retryAfterMs: 10_000 });
      expect(breaker.state.state).toBe('paused');
      clock.set(clock.now() + 10_000);
      const p3 = admitted(breaker, clock.now());
      expect(p3.period).toBe(2);
      breaker.onSuccess(100, clock.now(), { probe: p2.probe, period: p2.period });
      breaker.release(p2.probe, p2.period);
      expect(breaker.state).toEqual({ state: 'half-open', probesInFlight: 1, probeSuccesses: 0 });
    });

    it('a state forced from elsewhere (open, then half-open again) does not break the accounting', () => {
      const { breaker, clock } = setup({ halfOpenProbes: 2 });
      clock.set(trip(breaker, clock) + 30_000);
      const p1 = admitted(breaker, clock.now());
      // Another process opened the target (shared state); our probe P1 is still in flight.
      breaker.forceState({ state: 'open', until: clock.now() + 5_000, reason: 'error_rate' }, clock.now());
      clock.set(clock.now() + 5_000);
      const p2 = admitted(breaker, clock.now());
      expect(p2.period).toBe(2);
      breaker.onFailure('network', clock.now(), { latencyMs: 100, probe: p1.probe, period: p1.period });
      breaker.onSuccess(100, clock.now(), { probe: p1.probe, period: p1.period });
      expect(breaker.state).toEqual({ state: 'half-open', probesInFlight: 1, probeSuccesses: 0 });
      // A forced half-open while half-open continues the same period: P2 still counts.
      breaker.forceState({ state: 'half-open', probesInFlight: 0, probeSuccesses: 0 }, clock.now());
      breaker.onSuccess(100, clock.now(), { probe: p2.probe, period: p2.period });
      expect(breaker.state).toEqual({ state: 'half-open', probesInFlight: 0, probeSuccesses: 1 });
    });
  });

  describe('forced states', () => {
    it('forceOpen opens from any state, and only a later until changes an open breaker (one open->open transition)', () => {
      const { breaker, clock, transitions } = setup();
      const now = clock.now();
      breaker.forceOpen(now + 50_000, 'maintenance', now);
      expect(breaker.state).toEqual({ state: 'open', until: now + 50_000, reason: 'maintenance' });
      breaker.forceOpen(now + 10_000, 'other', now);
      breaker.forceOpen(now + 50_000, 'same-end', now);
      expect(breaker.state).toEqual({ state: 'open', until: now + 50_000, reason: 'maintenance' });
      breaker.forceOpen(now + 70_000, 'later', now + 1_000);
      expect(breaker.state).toEqual({ state: 'open', until: now + 70_000, reason: 'later' });
      expect(transitions).toEqual([
        { key: 'target:a', from: 'closed', to: 'open', reason: 'maintenance', at: now, state: { state: 'open', until: now + 50_000, reason: 'maintenance' }, forced: true },
        { key: 'target:a', from: 'open', to: 'open', reason: 'later', at: now + 1_000, state: { state: 'open', until: now + 70_000, reason: 'later' }, forced: true },
      ]);
    });

    it('a kill switch on a breaker that is already open is announced but is not a new opening (the open period does not double)', () => {
      const { breaker, clock, path } = setup();
      const opened = trip(breaker, clock);
      breaker.forceOpen(opened + 600_000, 'maintenance', opened);
      expect(breaker.admit(opened + 31_000)).toEqual({ allowed: false, reason: 'open', retryAfterMs: 569_000 });
      // After the maintenance, the first failed recovery doubles the natural period once, as without the kill switch.
      clock.set(opened + 600_000);
      call(breaker, clock.now(), 'overloaded');
      expect(breaker.state).toEqual({ state: 'open', until: clock.now() + 60_000, reason: 'probe_failed' });
      expect(path()).toEqual([
        'closed->open:consecutive_failures',
        'open->open:maintenance',
        'open->half-open:open_elapsed',
        'half-open->open:probe_failed',
      ]);
    });

    it('a forced pause that ends later is one paused->paused transition; one that does not changes nothing', () => {
      const { breaker, clock, transitions, path } = setup();
      const now = clock.now();
      breaker.forceState({ state: 'paused', until: now + 5_000 }, now);
      breaker.forceState({ state: 'paused', until: now + 4_000 }, now);
      breaker.forceState({ state: 'paused', until: now + 20_000 }, now);
      expect(breaker.state).toEqual({ state: 'paused', until: now + 20_000 });
      expect(path()).toEqual(['closed->paused:forced', 'paused->paused:forced']);
      expect(transitions[1]).toMatchObject({ forced: true, state: { state: 'paused', until: now + 20_000 } });
    });

    it('a forced state that leaves the breaker as it was emits nothing', () => {
      const { breaker, clock, path } = setup();
      const now = clock.now();
      breaker.forceState({ state: 'closed' }, now);
      breaker.forceState({ state: 'ramping', since: now }, now);
      breaker.forceState({ state: 'ramping', since: now }, now);
      breaker.forceState({ state: 'ramping', since: now - 1_000 }, now);
      expect(path()).toEqual(['closed->ramping:forced', 'ramping->ramping:forced']);
    });

    it('forceState applies a serialized state and rejects a malformed one', () => {
      const { breaker, clock, path } = setup();
      const now = clock.now();
      breaker.forceState({ state: 'paused', until: now + 5_000 }, now);
      expect(breaker.admit(now)).toEqual({ allowed: false, reason: 'paused', retryAfterMs: 5_000 });
      expect(() => breaker.forceState({ state: 'open', until: 'soon' } as unknown as BreakerState, now)).toThrow(InvalidBreakerStateError);
      expect(breaker.state).toEqual({ state: 'paused', until: now + 5_000 });
      breaker.forceState(JSON.parse(JSON.stringify({ state: 'closed' })) as BreakerState, now);
      expect(breaker.state).toEqual({ state: 'closed' });
      expect(path()).toEqual(['closed->paused:forced', 'paused->closed:forced']);
    });

    it('a forced half-open keeps the local probes in flight', () => {
      const { breaker, clock } = setup();
      clock.set(trip(breaker, clock) + 30_000);
      breaker.admit(clock.now());
      breaker.forceState({ state: 'half-open', probesInFlight: 3, probeSuccesses: 1 }, clock.now());
      expect(breaker.state).toEqual({ state: 'half-open', probesInFlight: 1, probeSuccesses: 1 });
    });
  });

  it('snapshot reports state, window, streaks and traffic share', () => {
    const { breaker, clock } = setup();
    call(breaker, clock.now(), 'overloaded');
    call(breaker, clock.now(), 'slow');
    call(breaker, clock.now(), 'rate_limited');
    expect(breaker.snapshot(clock.now())).toEqual({
      key: 'target:a',
      state: { state: 'closed' },
      window: { calls: 2, failures: 1, slow: 1 },
      consecutiveFailures: 0,
      consecutiveRateLimited: 1,
      trafficShare: 1,
    });
  });

  it('emits nothing when the state does not change, and never breaks on a listener error', () => {
    const errors: unknown[] = [];
    const { breaker, clock, transitions } = setup({}, { onListenerError: (e) => errors.push(e) });
    breaker.events.on('stateChange', () => {
      throw new Error('listener bug');
    });
    for (let i = 0; i < 4; i++) call(breaker, clock.now(), 'ok');
    expect(transitions).toHaveLength(0);
    trip(breaker, clock);
    expect(transitions).toHaveLength(1);
    expect(errors).toHaveLength(1);
  });

  it('rejects a policy it cannot run', () => {
    expect(() => new CircuitBreaker('k', policy({ halfOpenProbes: 0 }))).toThrow(/halfOpenProbes must be a positive integer/);
    expect(() => new CircuitBreaker('k', policy({ errorRate: 1.5 }))).toThrow(/errorRate must be between 0 and 1/);
    expect(() => new CircuitBreaker('k', policy({ windowMs: 0 }))).toThrow(RangeError);
    expect(() => new CircuitBreaker('k', policy(), { rampStartShare: 2 })).toThrow(/rampStartShare/);
  });
});
