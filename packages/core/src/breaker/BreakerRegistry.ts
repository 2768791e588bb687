import { systemClock, type Clock } from '../clock';
import type { ErrorKind } from '../errors/ErrorKind';
import { TypedEmitter, type Disposable } from '../events/TypedEmitter';
import type { BreakerPolicy } from '../policy/Policy';
import { breakerKey, parseBreakerKey, type BreakerScope } from './breakerKey';
import { isBreakerState, type BreakerReason, type BreakerState, type BreakerStateName } from './BreakerState';
import {
  CircuitBreaker,
  type BreakerAdmission,
  type BreakerDenial,
  type BreakerSnapshot,
  type BreakerTransition,
  type CircuitBreakerOptions,
  type ProbeRef,
} from './CircuitBreaker';
import { isNeverFits } from '../errors/isNeverFits';
import { InvalidBreakerStateError } from './InvalidBreakerStateError';

/**
 * Shares breaker state across processes. The registry calls `publish` on every state change of one
 * of its breakers (only on changes: at most a few messages per outage; a local `forceOpen` that moves
 * an open breaker's `until` later is one), and applies the `open` and
 * `paused` states it receives through `subscribe`: a target found failing by one process is avoided by
 * all. Other remote states are ignored: each process probes and recovers on its own outcomes.
 *
 * `publish` must not block: do the I/O in the background; a returned promise's rejection is reported
 * to the registry's `onError`. States are plain JSON with absolute epoch-ms times, so the processes'
 * clocks should agree (the Redis implementation takes time from Redis).
 *
 * @example
 * ```ts
 * const sync: BreakerStateSync = {
 *   publish: (key, state) => void redis.publish('llmr:breakers', JSON.stringify({ key, state })),
 *   subscribe: (onRemote) => {
 *     const handler = (_: string, msg: string) => { const m = JSON.parse(msg); onRemote(m.key, m.state); };
 *     sub.on('message', handler);
 *     return { dispose: () => sub.off('message', handler) };
 *   },
 * };
 * ```
 */
export interface BreakerStateSync {
  publish(key: string, state: BreakerState): void | Promise<void>;
  subscribe?(onRemote: (key: string, state: BreakerState) => void): Disposable;
}

/**
 * A breaker changed state. `origin: 'remote'` when the change was applied from another process (such
 * changes are not published again). `from` equals `to` when a forced change kept the state but moved
 * its terms, e.g. `open -> open` with the operator's reason when a kill switch (`forceOpen`) moved an
 * open breaker's `until` later, or when a longer remote opening was applied (see `BreakerTransition`).
 *
 * @example
 * ```ts
 * registry.events.on('breaker', (e) => log.warn(`${e.key} ${e.from} -> ${e.to} (${e.reason})`));
 * ```
 */
export interface BreakerChangeEvent {
  /** `target:<id>` or `provider:<name>`. */
  readonly key: string;
  readonly scope: BreakerScope;
  /** The target id or provider name. */
  readonly id: string;
  readonly from: BreakerStateName;
  readonly to: BreakerStateName;
  readonly reason: BreakerReason | (string & {});
  readonly at: number;
  /** The new state, in full (e.g. `until` of an open breaker). */
  readonly state: BreakerState;
  readonly origin: 'local' | 'remote';
}

/**
 * Events of a {@link BreakerRegistry}.
 *
 * @example
 * ```ts
 * registry.events.on('breaker', (e) => metrics.breaker(e));
 * ```
 */
export interface BreakerRegistryEvents {
  breaker: BreakerChangeEvent;
}

/**
 * The answer of {@link BreakerRegistry.admit}: a target is admitted only when both its own breaker and
 * its provider's admit. Pass an allowed admission back to `record` / `release` so half-open probe slots
 * are accounted exactly: a probe's outcome counts (and frees its slot) only in the half-open period that
 * admitted it.
 *
 * @example
 * ```ts
 * const a = registry.admit('fast-a', 'openai');
 * if (!a.allowed) skip(`${a.key} ${a.reason}`, a.retryAfterMs);
 * ```
 */
export type TargetAdmission =
  | {
      readonly allowed: true;
      /** True when either breaker admitted the call as a half-open probe. */
      readonly probe: boolean;
      readonly probes: { readonly target: boolean; readonly provider: boolean };
      /**
       * Set when `probe` is true: the half-open period of each breaker that admitted the call as a probe
       * (0 for a breaker that did not). See {@link BreakerAdmission}.
       */
      readonly periods?: { readonly target: number; readonly provider: number };
    }
  | {
      readonly allowed: false;
      /** Which breaker refused: the target's own, or its provider's. */
      readonly scope: BreakerScope;
      readonly key: string;
      readonly reason: BreakerDenial;
      /** See {@link BreakerDenial}: time until open/paused ends; 0 when unknown. */
      readonly retryAfterMs: number;
    };

/**
 * The outcome of an admitted call, for {@link BreakerRegistry.record}: a success (no `kind`) or a
 * failure of `kind`. `now` defaults to the registry's clock.
 *
 * @example
 * ```ts
 * registry.record('fast-a', 'openai', { latencyMs: 850, admission });
 * registry.record('fast-a', 'openai', { kind: 'rate_limited', latencyMs: 90, retryAfterMs: 20_000, admission });
 * ```
 */
export type BreakerOutcome =
  | {
      readonly kind?: undefined;
      readonly latencyMs: number;
      readonly now?: number;
      readonly admission?: TargetAdmission;
    }
  | {
      readonly kind: ErrorKind;
      readonly latencyMs?: number;
      readonly retryAfterMs?: number;
      readonly now?: number;
      readonly admission?: TargetAdmission;
    };

/**
 * One breaker in {@link BreakerRegistry.states}.
 *
 * @example
 * ```ts
 * for (const s of registry.states(clock.now())) gauge.set({ key: s.key }, s.trafficShare);
 * ```
 */
export interface BreakerStatus extends BreakerSnapshot {
  readonly scope: BreakerScope;
  readonly id: string;
}

/**
 * Options of {@link BreakerRegistry}.
 *
 * @example
 * ```ts
 * new BreakerRegistry({ policy: policy.breaker, clock, targetOverrides: { 'slow-but-steady': { slowCallMs: 90_000 } } });
 * ```
 */
export interface BreakerRegistryOptions {
  /** Thresholds of every breaker (`policy.breaker` of a `definePolicy` result). */
  policy: BreakerPolicy;
  /** Per-target changes to `policy`, by target id. */
  targetOverrides?: Readonly<Record<string, Partial<BreakerPolicy>>>;
  /** Per-provider changes to `policy`, by provider name. */
  providerOverrides?: Readonly<Record<string, Partial<BreakerPolicy>>>;
  /** Time when a method is called without `now`, and for remote states. Default: {@link systemClock}. */
  clock?: Clock;
  /** Random source for ramp admission. Default: `Math.random`. */
  random?: () => number;
  /** Shares open/paused states with other processes. */
  sync?: BreakerStateSync;
  /**
   * Receives what the registry cannot throw to anyone: listener errors, failed publishes, malformed
   * remote states. Default: `console.error`.
   */
  onError?: (error: unknown, source: 'listener' | 'sync') => void;
  /** Options of every breaker (ramp start share, open-period cap, window buckets). */
  breaker?: Pick<CircuitBreakerOptions, 'rampStartShare' | 'maxOpenForMs' | 'buckets'>;
  /**
   * How many targets (models) each provider has in the policy. A provider with several targets counts a
   * failure against its provider breaker only while at least two of its targets are failing (within the
   * breaker window): one model's outage must leave its siblings usable as fallbacks. Providers not
   * listed are treated as having one target (every failure counts).
   */
  providerTargets?: Readonly<Record<string, number>>;
}

const PROBES = [
  [Object.freeze({ target: false, provider: false }), Object.freeze({ target: false, provider: true })],
  [Object.freeze({ target: true, provider: false }), Object.freeze({ target: true, provider: true })],
] as const;

/** The shared admission of calls that are not probes (the hot path: no allocation). */
const ADMITTED_NO_PROBE: TargetAdmission = Object.freeze({ allowed: true, probe: false, probes: PROBES[0][0] });

/** An admission holding a probe slot of the target's and/or the provider's breaker, with their periods. */
function admittedProbe(t: BreakerAdmission, p: BreakerAdmission): TargetAdmission {
  const target = t.allowed && t.probe;
  const provider = p.allowed && p.probe;
  return Object.freeze({
    allowed: true,
    probe: true,
    probes: PROBES[target ? 1 : 0][provider ? 1 : 0],
    periods: Object.freeze({
      target: (target && t.allowed && t.period) || 0,
      provider: (provider && p.allowed && p.period) || 0,
    }),
  });
}

const NOT_A_PROBE: ProbeRef = Object.freeze({ probe: false });
const UNKNOWN_PROBE: ProbeRef = Object.freeze({});

/** The `probe` / `period` to report to one of the two breakers for an outcome of `admission`. */
function probeRef(admission: TargetAdmission | undefined, scope: BreakerScope): ProbeRef {
  if (!admission?.allowed) return UNKNOWN_PROBE;
  if (!admission.probes[scope]) return NOT_A_PROBE;
  const period = admission.periods?.[scope];
  // Half-open periods start at 1: 0 or no period (an admission built by hand) means "unknown".
  return period ? { probe: true, period } : { probe: true };
}

/**
 * @internal An admission that holds no probe slot: for outcomes reported after the call's own
 * admission was already accounted for (a stream failing after its first bytes counted as a success),
 * so that reporting them cannot free another call's half-open probe slot.
 */
export const NO_PROBE: TargetAdmission = ADMITTED_NO_PROBE;

function defaultOnError(error: unknown, source: 'listener' | 'sync'): void {
  // eslint-disable-next-line no-console
  console.error(`[llm-resilience] breaker registry (${source}):`, error);
}

/**
 * All circuit breakers of an engine: one per target id and one per provider, created lazily. A provider
 * breaker sees the outcomes of all its targets, so a provider-wide outage (or account-wide quota or auth
 * failure) trips it and blocks every target of that provider; a target is admitted only when both its
 * own and its provider's breakers admit it.
 *
 * Every state change is emitted as a `breaker` event and, with a {@link BreakerStateSync}, published to
 * other processes, whose open and paused states are applied here.
 *
 * @example
 * ```ts
 * const registry = new BreakerRegistry({ policy: policy.breaker, clock });
 * registry.events.on('breaker', (e) => log.warn('breaker', e));
 *
 * const admission = registry.admit(target.id, target.provider);
 * if (admission.allowed) {
 *   const started = clock.now();
 *   try {
 *     const value = await call(target);
 *     registry.record(target.id, target.provider, { latencyMs: clock.now() - started, admission });
 *   } catch (e) {
 *     const c = classifyError(e);
 *     registry.record(target.id, target.provider, { kind: c.kind, latencyMs: clock.now() - started, retryAfterMs: c.retryAfterMs, admission });
 *   }
 * }
 * ```
 */
export class BreakerRegistry {
  readonly policy: BreakerPolicy;
  /** `breaker` events, in order, synchronously. */
  readonly events: TypedEmitter<BreakerRegistryEvents>;
  private readonly targets = new Map<string, CircuitBreaker>();
  private readonly providers = new Map<string, CircuitBreaker>();
  private readonly clock: Clock;
  private readonly random: () => number;
  private readonly sync: BreakerStateSync | undefined;
  private readonly onError: (error: unknown, source: 'listener' | 'sync') => void;
  private readonly targetOverrides: Readonly<Record<string, Partial<BreakerPolicy>>> | undefined;
  private readonly providerOverrides: Readonly<Record<string, Partial<BreakerPolicy>>> | undefined;
  private readonly breakerOptions: BreakerRegistryOptions['breaker'];
  private readonly subscription: Disposable | undefined;
  private readonly providerTargets: Readonly<Record<string, number>> | undefined;
  /** Per provider with several targets: when each of its targets last failed. */
  private readonly failingTargets = new Map<string, Map<string, number>>();
  /** Key of the breaker a remote state is being applied to (its change is not published again). */
  private applyingRemote: string | undefined;

  constructor(options: BreakerRegistryOptions) {
    this.policy = options.policy;
    this.clock = options.clock ?? systemClock;
    this.random = options.random ?? Math.random;
    this.sync = options.sync;
    this.onError = options.onError ?? defaultOnError;
    this.targetOverrides = options.targetOverrides;
    this.providerOverrides = options.providerOverrides;
    this.breakerOptions = options.breaker;
    this.providerTargets = options.providerTargets;
    this.events = new TypedEmitter<BreakerRegistryEvents>({ onListenerError: (e) => this.report(e, 'listener') });
    // Fail fast on a bad policy rather than on the first call.
    new CircuitBreaker('validation', this.policy, this.breakerOptions);
    this.subscription = this.sync?.subscribe?.((key, state) => this.applyRemote(key, state));
  }

  /**
   * Asks the target's breaker, then its provider's. A probe slot taken by the target's breaker is given
   * back when the provider refuses.
   *
   * @example
   * ```ts
   * const a = registry.admit('fast-a', 'openai', clock.now());
   * if (!a.allowed) record.skipped.push({ target: 'fast-a', reason: 'breaker_open', detail: a.reason });
   * ```
   */
  admit(targetId: string, provider: string, now: number = this.clock.now()): TargetAdmission {
    const target = this.target(targetId);
    const t = target.admit(now);
    if (!t.allowed) return { allowed: false, scope: 'target', key: target.key, reason: t.reason, retryAfterMs: t.retryAfterMs };
    const prov = this.provider(provider);
    const p = prov.admit(now);
    if (!p.allowed) {
      target.release(t.probe, t.period);
      return { allowed: false, scope: 'provider', key: prov.key, reason: p.reason, retryAfterMs: p.retryAfterMs };
    }
    // Calls that are not probes (the hot path) share one frozen admission; a probe carries its periods.
    return t.probe || p.probe ? admittedProbe(t, p) : ADMITTED_NO_PROBE;
  }

  /**
   * Reports the outcome of an admitted call to the target's and the provider's breakers.
   *
   * @example
   * ```ts
   * registry.record('fast-a', 'openai', { kind: c.kind, latencyMs, retryAfterMs: c.retryAfterMs, admission });
   * ```
   */
  record(targetId: string, provider: string, outcome: BreakerOutcome): void {
    const now = outcome.now ?? this.clock.now();
    const admission = outcome.admission;
    const target = this.target(targetId);
    const prov = this.provider(provider);
    const t = probeRef(admission, 'target');
    const p = probeRef(admission, 'provider');
    if (outcome.kind === undefined) {
      target.onSuccess(outcome.latencyMs, now, t);
      // A slow answer says something about the provider only as a failure does: when it is the only
      // model, or a second of its models misbehaves too. Otherwise the provider gets a plain success.
      const slow = outcome.latencyMs >= prov.policy.slowCallMs;
      prov.onSuccess(slow && !this.providerWide(targetId, provider, now) ? 0 : outcome.latencyMs, now, p);
    } else {
      const details = { latencyMs: outcome.latencyMs, retryAfterMs: outcome.retryAfterMs };
      target.onFailure(outcome.kind, now, { ...details, ...t });
      // Only health failures (and 429s) say anything about the provider; a bad request does not.
      // A 429 that can never pass (see isNeverFits) says nothing about either.
      const counts = !isNeverFits(outcome.kind, outcome.retryAfterMs) && (outcome.kind === 'rate_limited' || this.policy.failOn.has(outcome.kind));
      if (counts && this.providerWide(targetId, provider, now)) prov.onFailure(outcome.kind, now, { ...details, ...p });
      else prov.release(p.probe, p.period);
    }
  }

  /** True when a failure of `targetId` says something about its whole provider (see `providerTargets`). */
  private providerWide(targetId: string, provider: string, now: number): boolean {
    const count = this.providerTargets?.[provider] ?? 1;
    if (count <= 1) return true;
    let failing = this.failingTargets.get(provider);
    if (failing === undefined) this.failingTargets.set(provider, (failing = new Map()));
    failing.set(targetId, now);
    const since = now - (this.providerOverrides?.[provider]?.windowMs ?? this.policy.windowMs);
    for (const [id, at] of failing) if (at < since) failing.delete(id);
    return failing.size >= 2;
  }

  /**
   * An admitted call ended without a verdict on the target's health (skipped by a limiter after
   * admission, cancelled before sending): frees its probe slots (only in the half-open periods that
   * admitted them).
   *
   * @example
   * ```ts
   * const a = registry.admit('fast-a', 'openai');
   * if (a.allowed && !(await limiter.reserve(...)).ok) registry.release('fast-a', 'openai', a);
   * ```
   */
  release(targetId: string, provider: string, admission?: TargetAdmission): void {
    const t = probeRef(admission, 'target');
    const p = probeRef(admission, 'provider');
    this.targets.get(targetId)?.release(t.probe, t.period);
    this.providers.get(provider)?.release(p.probe, p.period);
  }

  /**
   * The breaker under `key` (`target:<id>` or `provider:<name>`), if one was created.
   *
   * @example
   * ```ts
   * registry.get('provider:openai')?.state; // { state: 'open', until: ..., reason: 'error_rate' }
   * ```
   */
  get(key: string): CircuitBreaker | undefined {
    const k = parseBreakerKey(key);
    if (!k) return undefined;
    return (k.scope === 'target' ? this.targets : this.providers).get(k.id);
  }

  /**
   * The breaker of a target, created on first use.
   *
   * @example
   * ```ts
   * registry.target('fast-a').forceOpen(Date.now() + 600_000, 'maintenance', Date.now());
   * ```
   */
  target(id: string): CircuitBreaker {
    return this.targets.get(id) ?? this.create('target', id);
  }

  /**
   * The breaker of a provider, created on first use.
   *
   * @example
   * ```ts
   * registry.provider('openai').state.state; // 'closed'
   * ```
   */
  provider(name: string): CircuitBreaker {
    return this.providers.get(name) ?? this.create('provider', name);
  }

  /**
   * The state name of a target's own breaker (`closed` when it has none yet), for request records.
   * The provider's breaker is reported under its own key by {@link BreakerRegistry.states}.
   *
   * @example
   * ```ts
   * record.breakers['fast-a'] = registry.stateOf('fast-a'); // 'half-open'
   * ```
   */
  stateOf(targetId: string): BreakerStateName {
    return this.targets.get(targetId)?.state.state ?? 'closed';
  }

  /**
   * Every breaker created so far, targets first. With `now`, time-based changes due by then are applied
   * first (and emitted).
   *
   * @example
   * ```ts
   * registry.states(clock.now()).map((s) => `${s.key}=${s.state.state}`);
   * ```
   */
  states(now?: number): BreakerStatus[] {
    const out: BreakerStatus[] = [];
    for (const [scope, map] of [['target', this.targets], ['provider', this.providers]] as const) {
      for (const [id, b] of map) {
        if (now !== undefined) b.advance(now);
        out.push({ ...b.snapshot(now), scope, id });
      }
    }
    return out;
  }

  /**
   * Stops listening to the sync. Breakers keep working locally.
   *
   * @example
   * ```ts
   * registry.dispose();
   * ```
   */
  dispose(): void {
    this.subscription?.dispose();
  }

  // ------------------------------------------------------------------ internals

  private create(scope: BreakerScope, id: string): CircuitBreaker {
    const overrides = scope === 'target' ? this.targetOverrides : this.providerOverrides;
    const override = overrides && Object.hasOwn(overrides, id) ? overrides[id] : undefined;
    const policy = override ? { ...this.policy, ...override } : this.policy;
    const breaker = new CircuitBreaker(breakerKey(scope, id), policy, {
      ...this.breakerOptions,
      random: this.random,
      onListenerError: (e) => this.report(e, 'listener'),
    });
    breaker.events.on('stateChange', (t) => this.changed(scope, id, t));
    (scope === 'target' ? this.targets : this.providers).set(id, breaker);
    return breaker;
  }

  private changed(scope: BreakerScope, id: string, t: BreakerTransition): void {
    const origin = this.applyingRemote === t.key ? 'remote' : 'local';
    if (this.events.hasListeners('breaker')) {
      this.events.emit('breaker', { key: t.key, scope, id, from: t.from, to: t.to, reason: t.reason, at: t.at, state: t.state, origin });
    }
    if (origin === 'local' && this.sync) this.publish(t.key, t.state);
  }

  private publish(key: string, state: BreakerState): void {
    try {
      const result: unknown = this.sync!.publish(key, state);
      if (result instanceof Promise) result.then(undefined, (e: unknown) => this.report(e, 'sync'));
    } catch (e) {
      this.report(e, 'sync');
    }
  }

  private applyRemote(key: string, state: BreakerState): void {
    try {
      const k = parseBreakerKey(key);
      if (!k) throw new InvalidBreakerStateError(key, state, 'key');
      if (!isBreakerState(state)) throw new InvalidBreakerStateError(key, state);
      if (state.state !== 'open' && state.state !== 'paused') return;
      const now = this.clock.now();
      if (state.until <= now) return;
      const breaker = k.scope === 'target' ? this.target(k.id) : this.provider(k.id);
      const current = breaker.state;
      if (current.state === 'open' && (state.state === 'paused' || current.until >= state.until)) return;
      if (current.state === 'paused' && state.state === 'paused' && current.until >= state.until) return;
      const previous = this.applyingRemote;
      this.applyingRemote = breaker.key;
      try {
        breaker.forceState(state, now);
      } finally {
        this.applyingRemote = previous;
      }
    } catch (e) {
      this.report(e, 'sync');
    }
  }

  private report(error: unknown, source: 'listener' | 'sync'): void {
    try {
      this.onError(error, source);
    } catch {
      // The error reporter itself failed; the registry must keep working.
    }
  }
}
