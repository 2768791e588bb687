import { systemClock, type Clock } from '../clock';
import { limitKey } from './limitKey';
import { ScopeKeyCache, type ScopeKeys } from './ScopeKeyCache';
import {
  isPromiseLike,
  type LimitAdjustment,
  type LimitCharge,
  type LimiterStore,
  type LimitState,
  type MaybePromise,
  type ReserveResult,
} from './LimiterStore';
import type {
  FailedCallCharge,
  LimitContext,
  LimitMetric,
  LimitRule,
  ScopeDimension,
  UsageAmounts,
} from './LimitRule';

/**
 * Which rules a reservation covers: `request` = rules whose scope has neither `provider` nor `model`
 * (reserved once per request), `target` = the others (reserved per attempt, for the target tried).
 *
 * @example
 * ```ts
 * const phase: LimitPhase = 'target';
 * ```
 */
export type LimitPhase = 'request' | 'target';

/**
 * A denied reservation: nothing was charged. `retryAfterMs` is when the request could pass (the
 * longest wait over the rules it hit), or `Infinity` when it never can — e.g. 200k input tokens
 * against a 100k-per-minute bucket: no amount of waiting makes it fit.
 *
 * @example
 * ```ts
 * const d = await limiter.reserve(ctx, estimate, 'request');
 * if (!d.ok) throw RateLimitExceededError.fromDenial(d);
 * ```
 */
export interface LimitDenied {
  ok: false;
  /** The rule that denied (the one with the longest wait). */
  rule: LimitRule;
  /** Its store key for this request. */
  key: string;
  retryAfterMs: number;
  /** What the request asked of that rule (tokens, USD, 1 for requests/concurrency). */
  amount: number;
  /** That rule's values for this request, by scope dimension. */
  scope: LimitContext;
  /** State of every key the request would have charged, when the store reports it. */
  states?: LimitState[];
}

/**
 * One limit a {@link Reservation} holds, for `RateLimit` headers and records.
 *
 * @example
 * ```ts
 * for (const l of reservation.limits()) console.log(l.rule.id, l.state.remaining);
 * ```
 */
export interface ReservedLimit {
  rule: LimitRule;
  key: string;
  amount: number;
  state: LimitState | undefined;
}

/**
 * Outcome of {@link Limiter.reserve}: a {@link Reservation} (`ok: true`) or a {@link LimitDenied}.
 *
 * @example
 * ```ts
 * const d: LimitDecision = limiter.reserve(ctx, estimate, 'request') as LimitDecision;
 * ```
 */
export type LimitDecision = Reservation | LimitDenied;

const M_REQUESTS = 0;
const M_INPUT = 1;
const M_OUTPUT = 2;
const M_TOTAL = 3;
const M_COST = 4;
const M_CONCURRENCY = 5;
const METRIC_CODES: Record<LimitMetric, number> = {
  requests: M_REQUESTS,
  inputTokens: M_INPUT,
  outputTokens: M_OUTPUT,
  totalTokens: M_TOTAL,
  cost: M_COST,
  concurrency: M_CONCURRENCY,
};

/** A rule with everything the hot path needs precomputed. */
interface CompiledRule {
  readonly rule: LimitRule;
  readonly scope: readonly ScopeDimension[];
  /** Index of the rule's scope group (rules with the same scope share a key cache). */
  group: number;
  /** Position of the rule in its group's key list. */
  slot: number;
  readonly metric: number;
  readonly kind: 'rate' | 'concurrency';
  /** A per-window total (budgets): a bounded counter whose key carries the window index. */
  readonly fixed: boolean;
  readonly limit: number;
  readonly windowMs: number;
  readonly burst: number | undefined;
  readonly match: ReadonlyArray<readonly [ScopeDimension, string]> | undefined;
}

/** A rule whose estimate was 0, so nothing was reserved; settle still charges its actual usage. */
interface DeferredCharge {
  readonly key: string;
  readonly rule: CompiledRule;
}

/**
 * A charge as the limiter creates it: a {@link LimitCharge} for `reserve` that is also a
 * {@link LimitAdjustment} for `settle`/`fail` (the reservation writes `delta` and hands the same
 * objects back to the store, which skips a delta of 0), and that knows its rule. One object per rule
 * for the whole life of a call: settle allocates nothing.
 */
interface HeldCharge extends LimitCharge, LimitAdjustment {
  readonly key: string;
  readonly kind: 'rate' | 'concurrency';
  readonly limit: number;
  readonly windowMs: number;
  readonly burst: number | undefined;
  readonly amount: number;
  delta: number;
  handle: unknown;
  readonly cr: CompiledRule;
  /** Where the key came from, to keep the store's handle for it; undefined for per-window keys. */
  readonly src: ScopeKeys | undefined;
}

const NO_CHARGES: readonly HeldCharge[] = [];
const NO_STATES: LimitState[] = [];

function amountOf(metric: number, u: UsageAmounts): number {
  switch (metric) {
    case M_INPUT:
      return u.inputTokens;
    case M_OUTPUT:
      return u.outputTokens;
    case M_TOTAL:
      return u.inputTokens + u.outputTokens;
    case M_COST:
      return u.costUsd;
    default:
      return 1; // requests, concurrency
  }
}

/**
 * True when `rule` counts calls in flight: a reservation on it holds a slot until it is settled or
 * failed, and a denial on it ends only when some call gives a slot back. That is every `concurrency`
 * rule (`fixedWindow` does not apply to them); per-window totals are bounded counters, not slots.
 *
 * @example
 * ```ts
 * if (!d.ok && holdsInFlightSlot(d.rule)) await slotFreed(); else await clock.sleep(d.retryAfterMs);
 * ```
 */
export function holdsInFlightSlot(rule: LimitRule): boolean {
  return rule.metric === 'concurrency';
}

function compile(rule: LimitRule): CompiledRule {
  const inFlight = holdsInFlightSlot(rule);
  const fixed = rule.fixedWindow === true && !inFlight;
  const kind = inFlight || fixed ? 'concurrency' : 'rate';
  if (!(rule.limit > 0) || !Number.isFinite(rule.limit)) {
    throw new RangeError(`Limit rule "${rule.id}": limit must be a positive number, got ${rule.limit}. Fix the rule in the policy.`);
  }
  if ((kind === 'rate' || fixed) && (!(rule.windowMs > 0) || !Number.isFinite(rule.windowMs))) {
    throw new RangeError(`Limit rule "${rule.id}": windowMs must be a positive number, got ${rule.windowMs}. Fix the rule in the policy.`);
  }
  if (rule.burst !== undefined && !(rule.burst > 0)) {
    throw new RangeError(`Limit rule "${rule.id}": burst must be positive, got ${rule.burst}. Omit it to use the limit.`);
  }
  const match = rule.match
    ? (Object.entries(rule.match).filter(([, v]) => v !== undefined) as Array<[ScopeDimension, string]>)
    : undefined;
  return {
    rule,
    scope: rule.scope,
    group: -1,
    slot: -1,
    metric: METRIC_CODES[rule.metric],
    kind,
    fixed,
    limit: rule.limit,
    windowMs: kind === 'rate' || fixed ? rule.windowMs : 0, // in-flight concurrency: windowMs > 0 would mean a per-window total to stores
    burst: kind === 'rate' ? rule.burst : undefined,
    match: match && match.length > 0 ? match : undefined,
  };
}

function isTargetScoped(rule: LimitRule): boolean {
  return rule.scope.includes('provider') || rule.scope.includes('model');
}

/**
 * Turns limit rules into store charges: for one request it finds the matching rules, builds their
 * keys, reserves the estimate on all of them at once (all or nothing) and hands back a
 * {@link Reservation} to settle with the real usage.
 *
 * Amount per metric: `requests` 1, `inputTokens`, `outputTokens`, `totalTokens` (input + output),
 * `cost` (`costUsd`), `concurrency` 1. A rule with an estimate of 0 is not reserved (nothing to
 * check) but settle still charges what the call really used on it. A rule whose scope dimension is
 * missing from the context does not apply (see {@link limitKey}).
 *
 * With a synchronous store (the memory store) `reserve` returns the decision directly, with no
 * promise; with Redis it returns a promise.
 *
 * @example
 * ```ts
 * const limiter = new Limiter(policy.limits, new MemoryLimiterStore());
 * const d = await limiter.reserve({ user: 'u1', route: 'chat' }, { inputTokens: 900, outputTokens: 300, costUsd: 0.001 }, 'request');
 * if (!d.ok) throw RateLimitExceededError.fromDenial(d);
 * try { const reply = await call(); await d.settle(reply.usage); }
 * catch (err) { await d.fail(); throw err; }
 * ```
 */
export class Limiter {
  private readonly requestRules: readonly CompiledRule[];
  private readonly targetRules: readonly CompiledRule[];
  private readonly groups: readonly ScopeKeyCache[];
  /** Per-call scratch: keys of each group, looked up at most once per call. */
  private readonly groupKeys: (ScopeKeys | undefined | null)[];

  private readonly clock: Clock;
  private readonly byId = new Map<string, CompiledRule>();

  constructor(
    rules: readonly LimitRule[],
    private readonly store: LimiterStore,
    options: LimiterOptions = {},
  ) {
    this.clock = options.clock ?? systemClock;
    const cacheSize = options.keyCacheSize;
    if (cacheSize !== undefined && (!(cacheSize >= 2) || !Number.isFinite(cacheSize))) {
      throw new RangeError(`Limiter option keyCacheSize must be a finite number >= 2, got ${cacheSize}.`);
    }
    const ids = new Set<string>();
    const request: CompiledRule[] = [];
    const target: CompiledRule[] = [];
    for (const rule of rules) {
      if (ids.has(rule.id)) {
        throw new RangeError(`Limit rule id "${rule.id}" is used twice; rules with one id would share a bucket. Give each rule its own id.`);
      }
      ids.add(rule.id);
      const cr = compile(rule);
      this.byId.set(rule.id, cr);
      (isTargetScoped(rule) ? target : request).push(cr);
    }
    this.requestRules = request;
    this.targetRules = target;
    // Group rules by scope (same dimensions, same order) so one cache lookup yields all their keys.
    const bySignature = new Map<string, CompiledRule[]>();
    for (const cr of [...request, ...target]) {
      const sig = cr.scope.join('|');
      let members = bySignature.get(sig);
      if (members === undefined) bySignature.set(sig, (members = []));
      cr.slot = members.length;
      members.push(cr);
    }
    const groups: ScopeKeyCache[] = [];
    for (const members of bySignature.values()) {
      for (const cr of members) cr.group = groups.length;
      groups.push(new ScopeKeyCache(members[0]!.scope, members.map((cr) => cr.rule.id), options.keyCacheSize));
    }
    this.groups = groups;
    this.groupKeys = new Array<null>(groups.length).fill(null);
  }

  /** True when some rule applies per attempt (scope has `provider` or `model`). */
  get hasTargetRules(): boolean {
    return this.targetRules.length > 0;
  }

  /** True when some rule applies once per request. */
  get hasRequestRules(): boolean {
    return this.requestRules.length > 0;
  }

  /**
   * Reserves `estimate` on every rule of `phase` that matches `ctx`, all or nothing.
   *
   * @example
   * ```ts
   * const d = limiter.reserve({ user: 'u1', provider: 'openai', model: 'gpt-4o' }, estimate, 'target');
   * ```
   */
  reserve(ctx: LimitContext, estimate: UsageAmounts, phase: LimitPhase, options?: ReserveOptions): MaybePromise<LimitDecision> {
    const rules = phase === 'request' ? this.requestRules : this.targetRules;
    const n = rules.length;
    const keep = options?.headroom !== undefined && options.headroom > 0 ? 1 - Math.min(options.headroom, 1) : 1;
    let now = -1;
    let charges: HeldCharge[] | undefined;
    let count = 0;
    const groupKeys = this.groupKeys;
    let deferred: DeferredCharge[] | undefined;
    for (let i = 0; i < n; i++) groupKeys[rules[i]!.group] = null;
    for (let i = 0; i < n; i++) {
      const cr = rules[i]!;
      if (cr.match !== undefined && !matches(cr.match, ctx)) continue;
      let keys = groupKeys[cr.group];
      if (keys === null) keys = groupKeys[cr.group] = this.groups[cr.group]!.lookup(ctx);
      if (keys === undefined) continue;
      let key = keys.keys[cr.slot]!;
      let src: ScopeKeys | undefined = keys;
      if (cr.fixed) {
        if (now < 0) now = this.clock.now();
        key = `${key}|w=${Math.floor(now / cr.windowMs)}`;
        src = undefined;
      }
      const amount = amountOf(cr.metric, estimate);
      if (!(amount > 0)) {
        if (cr.kind === 'rate' || cr.fixed) (deferred ??= []).push({ key, rule: cr });
        continue;
      }
      let limit = cr.limit;
      let burst = cr.burst;
      if (keep !== 1 && !cr.fixed) {
        // Lower traffic classes see a smaller bucket: the top `headroom` share stays for higher classes.
        if (cr.kind === 'rate') burst = (cr.burst ?? cr.limit) * keep;
        else limit = Math.max(1, Math.floor(cr.limit * keep));
      }
      // Sized for every rule of the phase: no growth on the hot path (trimmed below when some did not apply).
      const handle = src === undefined ? undefined : src.handles[cr.slot];
      (charges ??= new Array<HeldCharge>(n))[count++] = { key, kind: cr.kind, limit, windowMs: cr.windowMs, burst, amount, delta: 0, handle, cr, src };
    }
    if (charges === undefined) return new Reservation(this.store, NO_CHARGES, undefined, deferred);
    if (count < n) charges.length = count;
    const result = this.store.reserve(charges);
    if (isPromiseLike(result)) {
      const held = charges;
      return result.then((r) => decide(this.store, r, ctx, held, deferred, this.clock));
    }
    return decide(this.store, result, ctx, charges, deferred, this.clock);
  }

  /**
   * How much of a rule is used right now for `ctx` (tokens, requests, USD...), without charging.
   * Undefined when the rule does not apply to `ctx` or the store cannot peek.
   *
   * @example
   * ```ts
   * const spent = await limiter.usage('budget:tenant:86400000', { tenant: 'acme' });
   * ```
   */
  usage(ruleId: string, ctx: LimitContext): MaybePromise<number | undefined> {
    const cr = this.byId.get(ruleId);
    if (!cr || !this.store.peek) return undefined;
    let key = limitKey(cr.rule, ctx);
    if (key === undefined) return undefined;
    if (cr.fixed) key = `${key}|w=${Math.floor(this.clock.now() / cr.windowMs)}`;
    const charge: LimitCharge = { key, kind: cr.kind, limit: cr.limit, windowMs: cr.windowMs, burst: cr.burst, amount: 0 };
    const capacity = cr.kind === 'rate' ? (cr.burst ?? cr.limit) : cr.limit;
    const states = this.store.peek([charge]);
    const used = (st: LimitState[]) => (st[0] ? Math.max(0, capacity - st[0].remaining) : undefined);
    return isPromiseLike(states) ? states.then(used) : used(states);
  }
}

/**
 * Options of {@link Limiter}.
 *
 * @example
 * ```ts
 * new Limiter(policy.limits, store, { clock, keyCacheSize: 500_000 });
 * ```
 */
export interface LimiterOptions {
  /** Time source for per-window totals (budgets). Default: the system clock. */
  clock?: Clock;
  /**
   * How many scope-value combinations (e.g. users, for rules scoped by user) keep their store keys
   * cached, per scope. A combination that comes back before `keyCacheSize / 2` others were added is
   * served from the cache; otherwise its keys are rebuilt (correct, only slower). Default 200 000.
   */
  keyCacheSize?: number;
}

/**
 * Options of one {@link Limiter.reserve} call.
 *
 * @example
 * ```ts
 * limiter.reserve(ctx, estimate, 'request', { headroom: 0.2 }); // batch: keep 20% for live traffic
 * ```
 */
export interface ReserveOptions {
  /** Share (0..1) of every rule's capacity this call may not use, kept for higher traffic classes. */
  headroom?: number;
}

function matches(match: ReadonlyArray<readonly [ScopeDimension, string]>, ctx: LimitContext): boolean {
  for (let i = 0; i < match.length; i++) {
    const m = match[i]!;
    if (ctx[m[0]] !== m[1]) return false;
  }
  return true;
}

function decide(
  store: LimiterStore,
  r: ReserveResult,
  ctx: LimitContext,
  charges: readonly HeldCharge[],
  deferred: DeferredCharge[] | undefined,
  clock: Clock,
): LimitDecision {
  if (r.ok) {
    // Keep the handles the store set, for the next call on the same keys.
    for (let i = 0; i < charges.length; i++) {
      const c = charges[i]!;
      if (c.src !== undefined) c.src.handles[c.cr.slot] = c.handle;
    }
    return new Reservation(store, charges, r, deferred);
  }
  const charge = charges[r.index]!;
  const cr = charge.cr;
  let retryAfterMs = r.retryAfterMs;
  if (cr.fixed && Number.isFinite(retryAfterMs)) {
    // A per-window total frees up when the next window starts.
    const now = clock.now();
    retryAfterMs = Math.max(1, (Math.floor(now / cr.windowMs) + 1) * cr.windowMs - now);
  }
  const scope: LimitContext = {};
  for (const dim of cr.scope) scope[dim] = ctx[dim];
  const denied: LimitDenied = {
    ok: false,
    rule: cr.rule,
    key: charge.key,
    retryAfterMs,
    amount: charge.amount,
    scope,
  };
  if (r.states) denied.states = r.states;
  return denied;
}

/**
 * Capacity held for one call. Exactly one of {@link Reservation.settle} or {@link Reservation.fail}
 * should follow; later calls are no-ops, so calling both (e.g. in `finally`) is safe.
 *
 * @example
 * ```ts
 * const r = limiter.reserve(ctx, estimate, 'target');
 * if (r.ok) await r.settle({ inputTokens: 812, outputTokens: 120, costUsd: 0.0004 });
 * ```
 */
export class Reservation {
  readonly ok = true as const;
  private done = false;

  /** @internal Created by {@link Limiter.reserve}. */
  constructor(
    private readonly store: LimiterStore,
    private readonly charges: readonly HeldCharge[],
    private readonly result: { readonly states: readonly LimitState[] } | undefined,
    private readonly deferred: readonly DeferredCharge[] | undefined,
  ) {}

  /** State of each charged key right after the reservation (same order as {@link limits}). */
  get states(): readonly LimitState[] {
    return this.result?.states ?? NO_STATES;
  }

  /** True once settled or failed. */
  get closed(): boolean {
    return this.done;
  }

  /** Number of limits this reservation holds (the length of {@link states}). */
  get size(): number {
    return this.charges.length;
  }

  /**
   * The rule of the `index`-th limit held (same order as {@link states}); no allocation, unlike
   * {@link limits}.
   *
   * @example
   * ```ts
   * for (let i = 0; i < reservation.size; i++) console.log(reservation.ruleAt(i).id, reservation.states[i]?.remaining);
   * ```
   */
  ruleAt(index: number): LimitRule {
    const c = this.charges[index];
    if (c === undefined) throw new RangeError(`Reservation.ruleAt(${index}): it holds ${this.charges.length} limit(s).`);
    return c.cr.rule;
  }

  /**
   * The limits this reservation holds, with the state of each right after reserving.
   *
   * @example
   * ```ts
   * const tightest = reservation.limits().sort((a, b) => (a.state?.remaining ?? 0) - (b.state?.remaining ?? 0))[0];
   * ```
   */
  limits(): ReservedLimit[] {
    const charges = this.charges;
    const out: ReservedLimit[] = new Array<ReservedLimit>(charges.length);
    const states = this.states;
    for (let i = 0; i < charges.length; i++) {
      const c = charges[i]!;
      out[i] = { rule: c.cr.rule, key: c.key, amount: c.amount, state: states[i] };
    }
    return out;
  }

  /**
   * Replaces the estimate by the real usage: every rate charge is adjusted by `actual − estimated`
   * for its metric (refund or extra charge; extra charges are never denied, they become debt that
   * later requests wait for), concurrency slots are released, and rules that reserved nothing because
   * the estimate was 0 are charged their actual usage. A non-finite or negative actual amount keeps
   * the estimate.
   *
   * @example
   * ```ts
   * await reservation.settle({ inputTokens: usage.prompt_tokens, outputTokens: usage.completion_tokens, costUsd });
   * ```
   */
  settle(actual: UsageAmounts): MaybePromise<void> {
    if (this.done) return;
    this.done = true;
    const charges = this.charges;
    let changes = 0;
    for (let i = 0; i < charges.length; i++) {
      const c = charges[i]!;
      if (c.kind === 'concurrency' && !c.cr.fixed) {
        c.delta = -c.amount;
      } else {
        const a = amountOf(c.cr.metric, actual);
        c.delta = a >= 0 && Number.isFinite(a) ? a - c.amount : 0;
      }
      if (c.delta !== 0) changes++;
    }
    let adjustments: readonly LimitAdjustment[] = charges;
    if (this.deferred !== undefined) {
      const extra: LimitAdjustment[] = [];
      for (const d of this.deferred) {
        const a = amountOf(d.rule.metric, actual);
        if (a > 0 && Number.isFinite(a)) {
          extra.push({ key: d.key, kind: d.rule.kind, limit: d.rule.limit, windowMs: d.rule.windowMs, burst: d.rule.burst, delta: a });
        }
      }
      if (extra.length > 0) {
        adjustments = [...charges, ...extra];
        changes += extra.length;
      }
    }
    if (changes === 0) return;
    // Charges whose delta is 0 stay in the list: stores skip them.
    return this.store.adjust(adjustments);
  }

  /**
   * The call failed: applies what a failed call still costs. `kind` overrides every rule's
   * `onFailure`; without it each rule's own setting applies, default `requests` (request counts stay
   * charged, tokens and cost are refunded). Concurrency slots are always released.
   *
   * - `keep`: everything stays charged as estimated (e.g. the provider billed the failed call).
   * - `release`: everything is refunded (e.g. the call never left the process).
   * - `requests`: only `requests` rules stay charged.
   *
   * @example
   * ```ts
   * await reservation.fail();          // rule defaults
   * await reservation.fail('release'); // the request was never sent
   * ```
   */
  fail(kind?: FailedCallCharge): MaybePromise<void> {
    if (this.done) return;
    this.done = true;
    const charges = this.charges;
    let changes = 0;
    for (let i = 0; i < charges.length; i++) {
      const c = charges[i]!;
      const cr = c.cr;
      const mode = c.kind === 'concurrency' && !cr.fixed ? 'release' : (kind ?? cr.rule.onFailure ?? 'requests');
      c.delta = mode === 'keep' || (mode === 'requests' && cr.metric === M_REQUESTS) ? 0 : -c.amount;
      if (c.delta !== 0) changes++;
    }
    if (changes === 0) return;
    return this.store.adjust(charges);
  }
}
