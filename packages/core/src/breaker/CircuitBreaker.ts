import type { ErrorKind } from '../errors/ErrorKind';
import { isNeverFits } from '../errors/isNeverFits';
import { TypedEmitter, type TypedEmitterOptions } from '../events/TypedEmitter';
import type { BreakerPolicy } from '../policy/Policy';
import { isBreakerState, type BreakerReason, type BreakerState, type BreakerStateName } from './BreakerState';
import { InvalidBreakerStateError } from './InvalidBreakerStateError';
import { OutcomeWindow, type WindowTotals } from './OutcomeWindow';

/**
 * Why a breaker refused a call.
 *
 * | reason           | meaning                                                        | `retryAfterMs`              |
 * |------------------|----------------------------------------------------------------|-----------------------------|
 * | `open`           | the target is unhealthy                                         | until half-open             |
 * | `paused`         | repeated 429s: waiting out the latest retry hint of the streak  | until the pause ends        |
 * | `half-open-busy` | recovering: the allowed probes are already in flight            | `0` (unknown: when a probe ends) |
 * | `ramp`           | recovering: this call fell outside the current traffic share    | `0` (the next call may pass) |
 *
 * @example
 * ```ts
 * const a = breaker.admit(now);
 * if (!a.allowed && a.reason === 'paused') console.log(`rate limited for ${a.retryAfterMs} ms`);
 * ```
 */
export type BreakerDenial = 'open' | 'paused' | 'half-open-busy' | 'ramp';

/**
 * The answer of {@link CircuitBreaker.admit}. When `probe` is true the call is a half-open probe of the
 * half-open period `period`: pass `probe` and `period` back with its outcome (or to `release`) so the
 * probe slot is accounted exactly. A probe belongs to the period that admitted it: once the breaker has
 * left that half-open state (reopened, paused, recovered), the probe's outcome no longer frees a slot
 * or counts toward a later recovery.
 *
 * @example
 * ```ts
 * const a = breaker.admit(now);
 * if (!a.allowed) return fallBack(a.reason, a.retryAfterMs);
 * try { const r = await call(); breaker.onSuccess(Date.now() - now, Date.now(), { probe: a.probe, period: a.period }); }
 * catch (e) { breaker.onFailure(classifyError(e).kind, Date.now(), { probe: a.probe, period: a.period }); }
 * ```
 */
export type BreakerAdmission =
  | {
      readonly allowed: true;
      readonly probe: boolean;
      /**
       * Set on probes only: which half-open period of this breaker admitted the probe (a number that
       * grows each time the breaker enters half-open; local to this breaker and process).
       */
      readonly period?: number;
    }
  | { readonly allowed: false; readonly reason: BreakerDenial; readonly retryAfterMs: number };

/**
 * Which admission an outcome belongs to: the `probe` and `period` of the call's {@link BreakerAdmission}.
 *
 * - `probe: false`: not a probe.
 * - `period` set: a probe of that half-open period. It is a probe of the current one only while the
 *   breaker is still in that same half-open period; otherwise it is *stale* and handled like a call
 *   that is not a probe (ignored while half-open, an ordinary sample while closed or ramping).
 * - both omitted: an outcome arriving in half-open is taken to be a probe of the current period (the
 *   breaker cannot tell a stale probe apart: pass `period` for exact accounting).
 *
 * @example
 * ```ts
 * const a = breaker.admit(now);
 * if (a.allowed) breaker.onSuccess(latencyMs, Date.now(), { probe: a.probe, period: a.period });
 * ```
 */
export interface ProbeRef {
  /** The `probe` flag of the call's admission. */
  probe?: boolean | undefined;
  /** The `period` of the call's admission (set on probes). */
  period?: number | undefined;
}

/**
 * One state change of a breaker. `forced` is true for changes applied with `forceOpen` / `forceState`
 * (a state shared by another process, an operator's kill switch) rather than decided from outcomes.
 *
 * `from` equals `to` only for a forced change that keeps the state but changes its terms: above all
 * a later `until` of an `open` breaker (with the new reason: an operator's kill switch on a breaker
 * that was already open, or a longer opening shared by another process) or of a `paused` one; also a
 * forced half-open's probe successes or a ramp's start. It is a change (a registry emits it and
 * publishes it to other processes; the metrics count it under `from: 'open', to: 'open'`), but not a
 * new opening: the window, the streaks and the doubling of the open period after failed recoveries
 * are left as they were.
 *
 * @example
 * ```ts
 * breaker.events.on('stateChange', (t) => log.warn(`${t.key}: ${t.from} -> ${t.to} (${t.reason})`));
 * ```
 */
export interface BreakerTransition {
  readonly key: string;
  readonly from: BreakerStateName;
  readonly to: BreakerStateName;
  /** A {@link BreakerReason}, or the reason given to `forceOpen`. */
  readonly reason: BreakerReason | (string & {});
  /** When the change happened (epoch ms, from the `now` of the call that caused it). */
  readonly at: number;
  /** The new state, in full. */
  readonly state: BreakerState;
  readonly forced: boolean;
}

/**
 * Events of a {@link CircuitBreaker}.
 *
 * @example
 * ```ts
 * const sub = breaker.events.on('stateChange', (t) => metrics.breaker(t));
 * ```
 */
export interface CircuitBreakerEvents {
  stateChange: BreakerTransition;
}

/**
 * Options of {@link CircuitBreaker} beyond its {@link BreakerPolicy}.
 *
 * @example
 * ```ts
 * new CircuitBreaker('target:fast-a', policy.breaker, { random: () => 0.5, maxOpenForMs: 120_000 });
 * ```
 */
export interface CircuitBreakerOptions {
  /** Random source in [0, 1) for ramp admission. Default: `Math.random`. Inject one for exact tests. */
  random?: () => number;
  /** Traffic share at the start of a ramp; it grows linearly to 1 over `rampUpMs`. Default: 0.1. */
  rampStartShare?: number;
  /**
   * Longest open period. Each failed recovery (a failed probe, a failure while ramping) doubles the
   * open period, up to this cap; a full recovery resets it. Default: 8 × `openForMs`.
   */
  maxOpenForMs?: number;
  /** Buckets of the sliding window. Default: 10 (12 s buckets for a 2-minute window). */
  buckets?: number;
  /** Receives errors thrown by `stateChange` listeners. Default: `console.error`. */
  onListenerError?: TypedEmitterOptions['onListenerError'];
}

/**
 * Extra facts about a failed call.
 *
 * @example
 * ```ts
 * breaker.onFailure('overloaded', now, { latencyMs: 1200, retryAfterMs: 5000, probe: admission.probe, period: admission.period });
 * ```
 */
export interface FailureDetails extends ProbeRef {
  /** How long the call took; counts toward the slow-call rate when at least `slowCallMs`. */
  latencyMs?: number;
  /** The provider's retry hint: a 429 pause lasts until the latest hint; an opening lasts at least this long. */
  retryAfterMs?: number;
}

/**
 * A breaker's state plus the counters behind it, for records and metrics.
 *
 * @example
 * ```ts
 * const s = breaker.snapshot(now);
 * metrics.gauge('breaker_error_rate', s.window.calls ? s.window.failures / s.window.calls : 0);
 * ```
 */
export interface BreakerSnapshot {
  readonly key: string;
  readonly state: BreakerState;
  /** Health verdicts in the sliding window (reset when the breaker opens). */
  readonly window: WindowTotals;
  readonly consecutiveFailures: number;
  readonly consecutiveRateLimited: number;
  /** Share of traffic admitted now: 1 closed, the ramp share while ramping, 0 otherwise (half-open admits probes only). */
  readonly trafficShare: number;
}

const CLOSED: BreakerState = Object.freeze({ state: 'closed' });
const HALF_OPEN: BreakerState = Object.freeze({ state: 'half-open', probesInFlight: 0, probeSuccesses: 0 });
const ADMIT: BreakerAdmission = Object.freeze({ allowed: true, probe: false });

function checkPolicy(key: string, p: BreakerPolicy): void {
  const fail = (field: string, expected: string, got: unknown) => {
    throw new RangeError(`CircuitBreaker "${key}": breaker.${field} must be ${expected}, got ${String(got)}`);
  };
  const positiveInt = (field: keyof BreakerPolicy) => {
    const v = p[field] as number;
    if (!Number.isInteger(v) || v < 1) fail(field, 'a positive integer', v);
  };
  if (!(p.windowMs > 0) || !Number.isFinite(p.windowMs)) fail('windowMs', 'a positive number of ms', p.windowMs);
  if (!(p.errorRate >= 0 && p.errorRate <= 1)) fail('errorRate', 'between 0 and 1', p.errorRate);
  if (!(p.slowCallRate >= 0 && p.slowCallRate <= 1)) fail('slowCallRate', 'between 0 and 1', p.slowCallRate);
  if (!(p.slowCallMs > 0)) fail('slowCallMs', 'a positive number of ms', p.slowCallMs);
  if (!(p.openForMs >= 0) || !Number.isFinite(p.openForMs)) fail('openForMs', 'a number of ms >= 0', p.openForMs);
  if (!(p.rampUpMs >= 0) || !Number.isFinite(p.rampUpMs)) fail('rampUpMs', 'a number of ms >= 0', p.rampUpMs);
  positiveInt('minimumCalls');
  positiveInt('consecutiveFailures');
  positiveInt('halfOpenProbes');
  positiveInt('rateLimitPauseAfter');
}

/**
 * A circuit breaker for one target or provider: pure state, no timers, no I/O. Every method takes the
 * current time (`now`, epoch ms), so it is exact under a `ManualClock` and can be driven by any clock.
 *
 * **What counts.** Each outcome is one of three verdicts:
 * - *success*: `onSuccess`;
 * - *failure*: `onFailure` with a kind in `policy.failOn` (default `overloaded`, `timeout`, `network`,
 *   `unknown`, `quota_exhausted`, `auth`);
 * - *no verdict*: any other kind. `invalid_request`, `policy_rejected`, `context_length`,
 *   `validation_failed` and `cancelled` are the request's fault, not the target's: they neither count
 *   as failures nor reset the failure streak, and only free the call's probe slot.
 *
 * `rate_limited` is special: it feeds the pause rule (`rateLimitPauseAfter` 429s in a row pause the
 * breaker until the provider's reset), never the error rate, unless you list it in `failOn` too.
 *
 * **Opening** (from closed): `consecutiveFailures` failures in a row; or, once the sliding window
 * (`windowMs`, 10 time buckets) holds at least `minimumCalls` verdicts, a failure share strictly above
 * `errorRate` (the seed's "error rate above 20%"), or a slow share (latency >= `slowCallMs`, failures
 * with a latency included) strictly above `slowCallRate`. An opening lasts `openForMs`, or the failing
 * call's `retryAfterMs` when longer.
 *
 * **Recovery.** When the open period ends, the next `admit` moves to half-open and admits at most
 * `halfOpenProbes` concurrent probes. After `halfOpenProbes` successful probes the breaker ramps
 * (traffic share from `rampStartShare` to 100% over `rampUpMs`, admission decided by `random()`), then
 * closes; with `rampUpMs: 0` it closes at once. A failed probe, slow probes above `slowCallRate` of
 * `halfOpenProbes`, or any failure while ramping reopen it, for twice the previous open period (capped
 * at `maxOpenForMs`); a full recovery resets the period to `openForMs`.
 *
 * **Pause.** `rateLimitPauseAfter` consecutive 429s (a success or a failure of another kind breaks the
 * streak) pause the breaker until the latest retry hint (`now + retryAfterMs`, the maximum over the streak:
 * the provider's `retry-after`, or, for a 429 with only a quota's reset, the time the engine computed
 * for the call's share to refill), or for `openForMs` without hints. A pause ends in closed, or in half-open
 * when it interrupted a recovery.
 *
 * **Stale outcomes.** Outcomes reported while open or paused belong to calls admitted before, and are
 * ignored. A probe belongs to the half-open period that admitted it (`period` of its admission): when
 * its outcome or release arrives after the breaker left that period (it reopened or paused, then
 * half-opened again), it neither frees a probe slot nor counts as a probe success or failure of the
 * current period; it is handled like a call that is not a probe (ignored in half-open, an ordinary
 * sample when closed or ramping).
 *
 * @example
 * ```ts
 * const breaker = new CircuitBreaker('target:fast-a', policy.breaker);
 * breaker.events.on('stateChange', (t) => console.log(`${t.key}: ${t.from} -> ${t.to} (${t.reason})`));
 * const a = breaker.admit(Date.now());
 * if (a.allowed) {
 *   const started = Date.now();
 *   try {
 *     await callModel();
 *     breaker.onSuccess(Date.now() - started, Date.now(), { probe: a.probe, period: a.period });
 *   } catch (e) {
 *     const c = classifyError(e);
 *     breaker.onFailure(c.kind, Date.now(), { latencyMs: Date.now() - started, retryAfterMs: c.retryAfterMs, probe: a.probe, period: a.period });
 *   }
 * }
 * ```
 */
export class CircuitBreaker {
  readonly key: string;
  readonly policy: BreakerPolicy;
  /** State changes, in order, synchronously. */
  readonly events: TypedEmitter<CircuitBreakerEvents>;
  private current: BreakerState = CLOSED;
  private readonly window: OutcomeWindow;
  private readonly random: () => number;
  private readonly rampStartShare: number;
  private readonly maxOpenForMs: number;
  private failureStreak = 0;
  private rateLimitStreak = 0;
  /** Latest end of a retry hint during the 429 streak (absolute ms). */
  private rateLimitResetAt = -Infinity;
  private lastHintMs: number | undefined;
  /** Failed recoveries in a row: the open period is `openForMs * 2^reopens`. */
  private reopens = 0;
  private slowProbes = 0;
  private resumeAfterPause: 'closed' | 'half-open' = 'closed';
  private lastNow = 0;
  /** The current (or latest) half-open period: incremented each time the breaker enters half-open. */
  private period = 0;
  /** The admission handed to every probe of the current period (one object per period). */
  private probeAdmission: BreakerAdmission = ADMIT;

  constructor(key: string, policy: BreakerPolicy, options: CircuitBreakerOptions = {}) {
    checkPolicy(key, policy);
    const start = options.rampStartShare ?? 0.1;
    if (!(start >= 0 && start <= 1)) throw new RangeError(`CircuitBreaker "${key}": rampStartShare must be between 0 and 1, got ${start}`);
    const maxOpen = options.maxOpenForMs ?? policy.openForMs * 8;
    if (!(maxOpen >= 0)) throw new RangeError(`CircuitBreaker "${key}": maxOpenForMs must be a number of ms >= 0, got ${maxOpen}`);
    this.key = key;
    this.policy = policy;
    this.random = options.random ?? Math.random;
    this.rampStartShare = start;
    this.maxOpenForMs = Math.max(policy.openForMs, maxOpen);
    this.window = new OutcomeWindow(policy.windowMs, options.buckets ?? 10);
    this.events = new TypedEmitter<CircuitBreakerEvents>(
      options.onListenerError ? { onListenerError: options.onListenerError } : {},
    );
  }

  /**
   * The current state (immutable; a new object on every change). Time-based changes (open -> half-open,
   * end of a pause or ramp) happen on the next `admit` or {@link CircuitBreaker.advance}.
   *
   * @example
   * ```ts
   * if (breaker.state.state === 'open') console.log('open until', new Date(breaker.state.until));
   * ```
   */
  get state(): BreakerState {
    return this.current;
  }

  /**
   * Asks whether a call may go to the target now. A half-open breaker admits at most `halfOpenProbes`
   * concurrent probes (`probe: true`, with the `period` they belong to); every admitted probe must end
   * in `onSuccess`, `onFailure` or `release`. A ramping breaker admits a call when `random()` falls
   * below the current share.
   *
   * @example
   * ```ts
   * const a = breaker.admit(clock.now());
   * if (!a.allowed) skipTarget(a.reason, a.retryAfterMs);
   * ```
   */
  admit(now: number): BreakerAdmission {
    this.advance(now);
    const s = this.current;
    switch (s.state) {
      case 'closed':
        return ADMIT;
      case 'open':
        return { allowed: false, reason: 'open', retryAfterMs: s.until - now };
      case 'paused':
        return { allowed: false, reason: 'paused', retryAfterMs: s.until - now };
      case 'half-open':
        if (s.probesInFlight >= this.policy.halfOpenProbes) return { allowed: false, reason: 'half-open-busy', retryAfterMs: 0 };
        this.current = { state: 'half-open', probesInFlight: s.probesInFlight + 1, probeSuccesses: s.probeSuccesses };
        return this.probeAdmission;
      case 'ramping':
        return this.random() < this.rampShare(s.since, now) ? ADMIT : { allowed: false, reason: 'ramp', retryAfterMs: 0 };
    }
  }

  /**
   * Applies the time-based changes due by `now`: open -> half-open, end of a pause, end of a ramp.
   * `admit` calls it; call it yourself before reading `state` for a report.
   *
   * @example
   * ```ts
   * breaker.advance(clock.now());
   * record.breakers[id] = breaker.state.state;
   * ```
   */
  advance(now: number): void {
    this.touch(now);
    const s = this.current;
    if (s.state === 'open') {
      if (now >= s.until) this.transition(HALF_OPEN, 'open_elapsed', now);
    } else if (s.state === 'paused') {
      if (now >= s.until) this.transition(this.resumeAfterPause === 'closed' ? CLOSED : HALF_OPEN, 'pause_elapsed', now);
    } else if (s.state === 'ramping') {
      if (now >= s.since + this.policy.rampUpMs) this.transition(CLOSED, 'ramp_complete', now);
    }
  }

  /**
   * An admitted call succeeded after `latencyMs`. `options` names its admission (see {@link ProbeRef}).
   *
   * @example
   * ```ts
   * breaker.onSuccess(clock.now() - started, clock.now(), { probe: admission.probe, period: admission.period });
   * ```
   */
  onSuccess(latencyMs: number, now: number, options: ProbeRef = {}): void {
    this.touch(now);
    if (this.current.state === 'ramping') this.advance(now);
    const s = this.current;
    switch (s.state) {
      case 'open':
      case 'paused':
        return;
      case 'half-open':
        if (this.isCurrentProbe(options.probe, options.period)) this.probeSucceeded(s, latencyMs, now);
        return;
      case 'closed':
      case 'ramping': {
        this.clearRateLimitStreak();
        this.failureStreak = 0;
        const slow = this.isSlow(latencyMs);
        this.window.record(now, { failed: false, slow });
        // Only failed or slow calls can put a rate over its threshold: an ordinary success in a window
        // without any (the common case) cannot open the breaker.
        if (slow || this.window.mayHaveFailures(now)) this.checkWindow(now, undefined);
        return;
      }
    }
  }

  /**
   * An admitted call failed with `kind`. Whether that counts as a failure, toward the 429 pause, or not
   * at all is decided by the kind (see the class description).
   *
   * @example
   * ```ts
   * const c = classifyError(err);
   * breaker.onFailure(c.kind, clock.now(), { latencyMs, retryAfterMs: c.retryAfterMs, probe: admission.probe, period: admission.period });
   * ```
   */
  onFailure(kind: ErrorKind, now: number, details: FailureDetails = {}): void {
    this.touch(now);
    // A 429 that can never pass (`retryAfterMs: Infinity`: the request alone exceeds the limit) is the
    // request's fault, like context_length: no verdict, and no part in the 429 streak.
    const neverFits = isNeverFits(kind, details.retryAfterMs);
    const counts = !neverFits && this.policy.failOn.has(kind);
    const rateLimited = !neverFits && kind === 'rate_limited';
    if (!counts && !rateLimited) {
      // The request's fault: no verdict on the target's health.
      this.release(details.probe, details.period);
      return;
    }
    if (this.current.state === 'ramping') this.advance(now);
    const s = this.current;
    if (s.state === 'open' || s.state === 'paused') return;
    // Not a probe of this half-open period (a straggler, or a probe of an earlier period): no verdict.
    if (s.state === 'half-open' && !this.isCurrentProbe(details.probe, details.period)) return;

    if (rateLimited) {
      if (this.noteRateLimited(now, details.retryAfterMs)) return;
      if (!counts) {
        this.release(details.probe, details.period);
        return;
      }
    } else {
      this.clearRateLimitStreak();
    }

    if (s.state === 'half-open') return this.open('probe_failed', now, details.retryAfterMs);
    if (s.state === 'ramping') return this.open('ramp_failed', now, details.retryAfterMs);
    this.failureStreak++;
    const slow = details.latencyMs !== undefined && this.isSlow(details.latencyMs);
    this.window.record(now, { failed: true, slow });
    if (this.failureStreak >= this.policy.consecutiveFailures) return this.open('consecutive_failures', now, details.retryAfterMs);
    this.checkWindow(now, details.retryAfterMs);
  }

  /**
   * An admitted call ended without a verdict on the target's health (skipped after admission, cancelled
   * before it was sent, ...). Frees its probe slot when it was a probe of the current half-open period
   * (`period` of its admission; see {@link ProbeRef}); otherwise does nothing.
   *
   * @example
   * ```ts
   * const a = breaker.admit(now);
   * if (a.allowed && !limiterAllows()) breaker.release(a.probe, a.period);
   * ```
   */
  release(probe?: boolean, period?: number): void {
    const s = this.current;
    if (s.state !== 'half-open' || s.probesInFlight === 0 || !this.isCurrentProbe(probe, period)) return;
    this.current = { state: 'half-open', probesInFlight: s.probesInFlight - 1, probeSuccesses: s.probeSuccesses };
  }

  /**
   * The state and its counters, without applying time-based changes (see {@link CircuitBreaker.advance}).
   * `now` (default: the latest time the breaker was given) places the sliding window and the ramp share.
   *
   * @example
   * ```ts
   * const { state, window, trafficShare } = breaker.snapshot(clock.now());
   * ```
   */
  snapshot(now?: number): BreakerSnapshot {
    const at = now ?? this.lastNow;
    return {
      key: this.key,
      state: this.current,
      window: this.window.totals(at),
      consecutiveFailures: this.failureStreak,
      consecutiveRateLimited: this.rateLimitStreak,
      trafficShare: this.trafficShare(at),
    };
  }

  /**
   * Opens the breaker until `until` (epoch ms), whatever its state: for a state decided elsewhere
   * (another process, an operator). Emits a transition with `forced: true`.
   *
   * On a breaker that is already open, a later `until` replaces the current one, with `reason`, and
   * emits an `open -> open` transition (so a registry publishes the kill switch to other processes);
   * it is not a new opening (see {@link BreakerTransition}). An `until` that is not later changes
   * nothing and emits nothing, whatever the reason: the longer opening stands.
   *
   * @example
   * ```ts
   * breaker.forceOpen(Date.now() + 10 * 60_000, 'maintenance', Date.now());
   * ```
   */
  forceOpen(until: number, reason: string, now: number): void {
    this.touch(now);
    const s = this.current;
    if (s.state === 'open' && !(until > s.until)) return;
    this.transition({ state: 'open', until, reason }, reason, now, true);
  }

  /**
   * Applies a state received from elsewhere (as produced by {@link CircuitBreaker.snapshot}). `open`
   * behaves like {@link CircuitBreaker.forceOpen}; a `paused` breaker only moves its `until` later (a
   * `paused -> paused` transition, reason `forced`; an `until` that is not later changes nothing); a
   * forced `half-open` state keeps this process's probes in flight and their period when the breaker is
   * already half-open (in-flight probes belong to the process that admitted them; the remote count is
   * ignored), and otherwise starts a new half-open period. A forced state that leaves the breaker as it
   * was emits nothing; any other emits one transition with `forced: true`. Throws
   * {@link InvalidBreakerStateError} on a malformed state.
   *
   * @example
   * ```ts
   * sync.subscribe((key, state) => registry.get(key)?.forceState(state, Date.now()));
   * ```
   */
  forceState(state: BreakerState, now: number): void {
    if (!isBreakerState(state)) throw new InvalidBreakerStateError(this.key, state);
    this.touch(now);
    const s = this.current;
    switch (state.state) {
      case 'open':
        return this.forceOpen(state.until, state.reason, now);
      case 'paused':
        if (s.state === 'paused' && !(state.until > s.until)) return;
        return this.transition({ state: 'paused', until: state.until }, 'forced', now, true);
      case 'half-open':
        return this.transition(
          {
            state: 'half-open',
            probesInFlight: s.state === 'half-open' ? s.probesInFlight : 0,
            probeSuccesses: Math.min(state.probeSuccesses, this.policy.halfOpenProbes - 1),
          },
          'forced',
          now,
          true,
        );
      case 'ramping':
        return this.transition({ state: 'ramping', since: state.since }, 'forced', now, true);
      case 'closed':
        return this.transition(CLOSED, 'forced', now, true);
    }
  }

  // ------------------------------------------------------------------ internals

  private touch(now: number): void {
    if (now > this.lastNow) this.lastNow = now;
  }

  /**
   * True when an outcome with this `probe` / `period` is a probe of the current half-open period (see
   * {@link ProbeRef}); false when not half-open.
   */
  private isCurrentProbe(probe: boolean | undefined, period: number | undefined): boolean {
    return this.current.state === 'half-open' && probe !== false && (period === undefined || period === this.period);
  }

  private isSlow(latencyMs: number): boolean {
    return latencyMs >= this.policy.slowCallMs;
  }

  private rampShare(since: number, now: number): number {
    const ramp = this.policy.rampUpMs;
    if (ramp <= 0) return 1;
    const progress = Math.min(1, Math.max(0, now - since) / ramp);
    return this.rampStartShare + (1 - this.rampStartShare) * progress;
  }

  private trafficShare(now: number): number {
    const s = this.current;
    if (s.state === 'closed') return 1;
    if (s.state === 'ramping') return this.rampShare(s.since, now);
    return 0;
  }

  private clearRateLimitStreak(): void {
    this.rateLimitStreak = 0;
    this.rateLimitResetAt = -Infinity;
    this.lastHintMs = undefined;
  }

  /** Counts a 429; pauses and returns true when the streak reaches `rateLimitPauseAfter`. */
  private noteRateLimited(now: number, retryAfterMs: number | undefined): boolean {
    this.rateLimitStreak++;
    // A hint of 0 (`Retry-After: 0`, a date already past) says nothing of the reset: no hint.
    if (retryAfterMs !== undefined && retryAfterMs > 0 && Number.isFinite(retryAfterMs)) {
      this.lastHintMs = retryAfterMs;
      this.rateLimitResetAt = Math.max(this.rateLimitResetAt, now + retryAfterMs);
    }
    if (this.rateLimitStreak < this.policy.rateLimitPauseAfter) return false;
    const until = this.rateLimitResetAt > now ? this.rateLimitResetAt : now + (this.lastHintMs ?? this.policy.openForMs);
    this.transition({ state: 'paused', until }, 'rate_limited', now);
    return true;
  }

  private probeSucceeded(s: Extract<BreakerState, { state: 'half-open' }>, latencyMs: number, now: number): void {
    this.clearRateLimitStreak();
    if (this.isSlow(latencyMs)) {
      this.slowProbes++;
      if (this.slowProbes / this.policy.halfOpenProbes > this.policy.slowCallRate) return this.open('slow_calls', now, undefined);
    }
    const successes = s.probeSuccesses + 1;
    if (successes >= this.policy.halfOpenProbes) {
      const next: BreakerState = this.policy.rampUpMs > 0 ? { state: 'ramping', since: now } : CLOSED;
      return this.transition(next, 'probes_succeeded', now);
    }
    this.current = { state: 'half-open', probesInFlight: Math.max(0, s.probesInFlight - 1), probeSuccesses: successes };
  }

  /** Opens on the window's error or slow-call rate; returns true when it opened. */
  private checkWindow(now: number, retryAfterMs: number | undefined): boolean {
    const t = this.window.totals(now);
    if (t.calls < this.policy.minimumCalls) return false;
    if (t.failures / t.calls > this.policy.errorRate) {
      this.open('error_rate', now, retryAfterMs);
      return true;
    }
    if (t.slow / t.calls > this.policy.slowCallRate) {
      this.open('slow_calls', now, retryAfterMs);
      return true;
    }
    return false;
  }

  private open(reason: BreakerReason, now: number, retryAfterMs: number | undefined): void {
    const from = this.current.state;
    this.reopens = from === 'half-open' || from === 'ramping' ? this.reopens + 1 : 0;
    const openFor = Math.min(this.policy.openForMs * 2 ** this.reopens, this.maxOpenForMs);
    const hint = retryAfterMs !== undefined && Number.isFinite(retryAfterMs) ? retryAfterMs : 0;
    this.transition({ state: 'open', until: now + Math.max(openFor, hint), reason }, reason, now);
  }

  private transition(state: BreakerState, reason: string, now: number, forced = false): void {
    const previous = this.current;
    const from = previous.state;
    if (from === state.state) {
      // The same state with new terms: not a new opening, period or recovery, so none of the
      // bookkeeping below. A forced one (a later `until` by a kill switch or another process, a forced
      // half-open's successes, a ramp's start) is announced; one decided here (a late failure of a call
      // admitted before the breaker opened) updates the state quietly, as before. Nothing at all when
      // nothing changed.
      if (sameState(previous, state)) return;
      this.current = state;
      if (forced) this.emit(from, state, reason, now, forced);
      return;
    }
    this.current = state;
    switch (state.state) {
      case 'open':
        this.window.reset();
        this.failureStreak = 0;
        this.clearRateLimitStreak();
        break;
      case 'paused':
        this.resumeAfterPause = from === 'closed' ? 'closed' : 'half-open';
        this.clearRateLimitStreak();
        break;
      case 'half-open':
        // A new half-open period: probes admitted in an earlier one no longer hold (or free) its slots.
        this.slowProbes = 0;
        this.period++;
        this.probeAdmission = Object.freeze({ allowed: true, probe: true, period: this.period });
        break;
      case 'closed':
        this.reopens = 0;
        break;
      case 'ramping':
        break;
    }
    this.emit(from, state, reason, now, forced);
  }

  private emit(from: BreakerStateName, state: BreakerState, reason: string, now: number, forced: boolean): void {
    if (this.events.hasListeners('stateChange')) {
      this.events.emit('stateChange', { key: this.key, from, to: state.state, reason, at: now, state, forced });
    }
  }
}

/** True when `a` and `b` are the same state with the same fields (in-flight probes aside: they are local). */
function sameState(a: BreakerState, b: BreakerState): boolean {
  switch (a.state) {
    case 'closed':
      return b.state === 'closed';
    case 'open':
      return b.state === 'open' && a.until === b.until && a.reason === b.reason;
    case 'paused':
      return b.state === 'paused' && a.until === b.until;
    case 'half-open':
      return b.state === 'half-open' && a.probeSuccesses === b.probeSuccesses;
    case 'ramping':
      return b.state === 'ramping' && a.since === b.since;
  }
}
