import { systemClock, type Clock } from '../clock';
import type { BucketSpec } from './BucketSpec';
import { amountOf, compile, holdsInFlightSlot, matches, specFor, windowEndsIn, windowKey, type CompiledRule } from './CompiledRule';
import { KeySlot } from './KeySlot';
import { limitKey } from './limitKey';
import { isPromiseLike, type LimiterStore, type LimitState, type MaybePromise, type ReserveResult } from './LimiterStore';
import type { LimitContext, LimitRule, UsageAmounts } from './LimitRule';
import { COUNT_TOLERANCE, MemoryLimiterStore } from './MemoryLimiterStore';
import { chargesOf, Reservation, type BatchContext, type DeferredCharge, type ReservedLimit } from './Reservation';
import { ScopeKeyCache, type ScopeKeys } from './ScopeKeyCache';

export { holdsInFlightSlot, Reservation, type ReservedLimit };

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
 * Outcome of {@link Limiter.reserve}: a {@link Reservation} (`ok: true`) or a {@link LimitDenied}.
 *
 * @example
 * ```ts
 * const d: LimitDecision = limiter.reserve(ctx, estimate, 'request') as LimitDecision;
 * ```
 */
export type LimitDecision = Reservation | LimitDenied;

function isTargetScoped(rule: LimitRule): boolean {
  return rule.scope.includes('provider') || rule.scope.includes('model');
}

/** The rules one phase reserves, and how. */
interface Phase {
  readonly rules: readonly CompiledRule[];
  /** `rules[i].spec`: the buckets of a call at full capacity when every rule applies. */
  readonly specs: readonly BucketSpec[];
  /** Scope groups the phase's rules belong to. */
  readonly groups: readonly number[];
  /**
   * The group of every rule when they all share one scope and none is a per-window total or has a
   * `match` filter, else -1: a call whose estimates are all positive then charges exactly the
   * key-cache entry of that group.
   */
  readonly single: number;
}

/** The phase of `rules` (their groups are already assigned). */
function phaseOf(rules: readonly CompiledRule[]): Phase {
  const groups = [...new Set(rules.map((cr) => cr.group))];
  const single = groups.length === 1 && !rules.some((cr) => cr.fixed || cr.match !== undefined) ? groups[0]! : -1;
  return { rules, specs: rules.map((cr) => cr.spec), groups, single };
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
  private readonly request: Phase;
  private readonly target: Phase;
  private readonly groups: readonly ScopeKeyCache[];
  /** Per-call scratch: keys of each group, looked up at most once per call. */
  private readonly groupKeys: (ScopeKeys | undefined | null)[];
  /** Per-call scratch: the amount each rule of the phase charges (0: does not apply, -1: estimate 0). */
  private readonly amounts: Float64Array;
  /** Set when the store is the memory store: reservations then use its batch calls. */
  private readonly batch: BatchContext | undefined;

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
    const most = Math.max(1, request.length, target.length);
    this.amounts = new Float64Array(most);
    this.batch = store instanceof MemoryLimiterStore ? { store, deltas: new Float64Array(most) } : undefined;
    this.request = phaseOf(request);
    this.target = phaseOf(target);
  }

  /** True when some rule applies per attempt (scope has `provider` or `model`). */
  get hasTargetRules(): boolean {
    return this.target.rules.length > 0;
  }

  /** True when some rule applies once per request. */
  get hasRequestRules(): boolean {
    return this.request.rules.length > 0;
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
    const ph = phase === 'request' ? this.request : this.target;
    const rules = ph.rules;
    const n = rules.length;
    const keep = options?.headroom !== undefined && options.headroom > 0 ? 1 - Math.min(options.headroom, 1) : 1;
    const amounts = this.amounts;
    const batch = this.batch;
    if (batch !== undefined && ph.single >= 0 && keep === 1) {
      // One scope, no filters: the common case. When every estimate is positive, the phase's buckets
      // are charged on the cache entry's keys as they are.
      const slots = this.groups[ph.single]!.lookup(ctx);
      let i = 0;
      if (slots !== undefined) {
        for (; i < n; i++) {
          const amount = amountOf(rules[i]!.metric, estimate);
          if (!(amount > 0) || typeof amount !== 'number') break;
          amounts[i] = amount;
        }
      }
      if (i === n) {
        const denied = batch.store.reserveBatch(n, ph.specs, slots!, amounts);
        if (denied >= 0) return this.batchDenial(batch, ctx, rules, ph.specs, slots!, n, denied);
        return new Reservation(batch.store, batch, rules, ph.specs, slots!, estimate, undefined, undefined, batch.store.takeMarks(n));
      }
    }
    const groupKeys = this.groupKeys;
    for (let g = 0; g < ph.groups.length; g++) groupKeys[ph.groups[g]!] = null;
    let charged = 0;
    for (let i = 0; i < n; i++) {
      const cr = rules[i]!;
      let amount = 0;
      if (cr.match === undefined || matches(cr.match, ctx)) {
        let keys = groupKeys[cr.group];
        if (keys === null) keys = groupKeys[cr.group] = this.groups[cr.group]!.lookup(ctx);
        if (keys !== undefined) {
          amount = amountOf(cr.metric, estimate);
          if (amount > 0 && typeof amount === 'number') charged++;
          else if (amount === 0) amount = -1;
          else throw invalidEstimate(cr, amount);
        }
      }
      amounts[i] = amount;
    }
    return this.reserveSome(ph, ctx, estimate, keep, charged);
  }

  /**
   * The general case: some rules do not apply, some estimates are 0, a share is kept back, or keys
   * carry a window. The charges are gathered into arrays for this call.
   */
  private reserveSome(ph: Phase, ctx: LimitContext, estimate: UsageAmounts, keep: number, charged: number): MaybePromise<LimitDecision> {
    const rules = ph.rules;
    const amounts = this.amounts;
    const held = new Array<CompiledRule>(charged);
    const specs = new Array<BucketSpec>(charged);
    const slots = new Array<KeySlot>(charged);
    let deferred: DeferredCharge[] | undefined;
    let now = -1;
    let c = 0;
    for (let i = 0; i < rules.length; i++) {
      const amount = amounts[i]!;
      if (amount === 0) continue;
      const cr = rules[i]!;
      let slot = (this.groupKeys[cr.group] as ScopeKeys)[cr.slot]!;
      if (cr.fixed) {
        if (now < 0) now = this.clock.now();
        slot = new KeySlot(windowKey(cr, slot.key, now));
      }
      if (amount < 0) {
        if (cr.spec.kind === 'rate' || cr.fixed) (deferred ??= []).push({ key: slot.key, rule: cr });
        continue;
      }
      held[c] = cr;
      specs[c] = specFor(cr, keep);
      slots[c] = slot;
      amounts[c++] = amount; // c <= i: compacts in place
    }
    const batch = this.batch;
    if (batch !== undefined) {
      let marks: number[] | undefined;
      if (c > 0) {
        const denied = batch.store.reserveBatch(c, specs, slots, amounts);
        if (denied >= 0) return this.batchDenial(batch, ctx, held, specs, slots, c, denied);
        marks = batch.store.takeMarks(c);
      }
      return new Reservation(batch.store, batch, held, specs, slots, estimate, deferred, undefined, marks);
    }
    if (c === 0) return new Reservation(this.store, undefined, held, specs, slots, estimate, deferred, undefined, undefined);
    const charges = chargesOf(c, specs, slots, amounts);
    const decide = (r: ReserveResult): LimitDecision => {
      if (!r.ok) {
        const charge = charges[r.index]!;
        return denial(held[r.index]!, charge.key, charge.amount, r.retryAfterMs, ctx, r.states, this.clock);
      }
      // Keep the handles the store set, for the next call on the same keys.
      for (let i = 0; i < c; i++) slots[i]!.handle = charges[i]!.handle;
      return new Reservation(this.store, undefined, held, specs, slots, estimate, deferred, r, undefined);
    };
    const result = this.store.reserve(charges);
    return isPromiseLike(result) ? result.then(decide) : decide(result);
  }

  /** The denial of charge `index` of a batch reservation, with the state of every key it would have charged. */
  private batchDenial(
    batch: BatchContext,
    ctx: LimitContext,
    rules: readonly CompiledRule[],
    specs: readonly BucketSpec[],
    slots: readonly KeySlot[],
    n: number,
    index: number,
  ): LimitDenied {
    const states = batch.store.peekBatch(n, specs, slots);
    return denial(rules[index]!, slots[index]!.key, this.amounts[index]!, batch.store.deniedWait, ctx, states, this.clock);
  }

  /**
   * The denial `amount` more would get on the per-window total (`fixedWindow` rule, e.g. a budget)
   * `ruleId` for `ctx` right now, read from its usage without charging anything; undefined when it
   * fits, the rule does not apply to `ctx` (scope, `match`), is not a per-window total, or the store
   * cannot tell. For a caller that must know whether such a cap is spent although a reservation was
   * denied by another rule (a denial names only the rule that binds longest).
   *
   * @example
   * ```ts
   * const spent = await budgets.spentDenial('team-daily', { team: 't1' }, 0.06);
   * if (spent) throw RateLimitExceededError.fromDenial(spent);
   * ```
   */
  spentDenial(ruleId: string, ctx: LimitContext, amount: number): MaybePromise<LimitDenied | undefined> {
    const cr = this.byId.get(ruleId);
    if (cr === undefined || !cr.fixed || (cr.match !== undefined && !matches(cr.match, ctx))) return undefined;
    const decide = (used: number | undefined): LimitDenied | undefined => {
      const capacity = cr.spec.limit * (1 + COUNT_TOLERANCE);
      if (used === undefined || used + amount <= capacity) return undefined;
      const key = windowKey(cr, limitKey(cr.rule, ctx)!, this.clock.now());
      // A finite wait becomes the time to the next window (see `denial`); more than the whole cap, never.
      return denial(cr, key, amount, amount > capacity ? Infinity : 1, ctx, undefined, this.clock);
    };
    const used = this.usage(ruleId, ctx);
    return isPromiseLike(used) ? used.then(decide) : decide(used);
  }

  /**
   * How much of a rule is used right now for `ctx` (tokens, requests, USD...), without charging:
   * exact, not rounded to whole units (a `cost` rule with $0.30 used says 0.3), and above the
   * rule's capacity while settles that charged more than the estimate are still being paid off.
   * Undefined when the rule does not apply to `ctx` or the store can neither report usage nor peek
   * (a store with `peek` but no `usage` gives whole units: the capacity minus its floored `remaining`).
   *
   * @example
   * ```ts
   * const spent = await limiter.usage('budget:tenant:86400000', { tenant: 'acme' });
   * ```
   */
  usage(ruleId: string, ctx: LimitContext): MaybePromise<number | undefined> {
    const cr = this.byId.get(ruleId);
    const store = this.store;
    if (!cr || (!store.usage && !store.peek)) return undefined;
    let key = limitKey(cr.rule, ctx);
    if (key === undefined) return undefined;
    if (cr.fixed) key = windowKey(cr, key, this.clock.now());
    const charges = chargesOf(1, [cr.spec], [new KeySlot(key)], [0]);
    if (store.usage) {
      const amounts = store.usage(charges);
      const first = (u: number[]) => (u[0] === undefined ? undefined : Math.max(0, u[0]));
      return isPromiseLike(amounts) ? amounts.then(first) : first(amounts);
    }
    const states = store.peek!(charges);
    const used = (st: LimitState[]) => (st[0] ? Math.max(0, cr.spec.burst - st[0].remaining) : undefined);
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

/** The denial of `cr` on `key`, with the store's wait (a per-window total waits for the next window). */
function denial(
  cr: CompiledRule,
  key: string,
  amount: number,
  retryAfterMs: number,
  ctx: LimitContext,
  states: LimitState[] | undefined,
  clock: Clock,
): LimitDenied {
  if (cr.fixed && Number.isFinite(retryAfterMs)) {
    // A per-window total frees up when the next window starts.
    retryAfterMs = windowEndsIn(cr, clock.now());
  }
  const scope: LimitContext = {};
  for (const dim of cr.scope) scope[dim] = ctx[dim];
  const denied: LimitDenied = { ok: false, rule: cr.rule, key, retryAfterMs, amount, scope };
  if (states) denied.states = states;
  return denied;
}

/** A negative or NaN estimate would reserve nothing, so the rule would not see the call: refused. */
function invalidEstimate(cr: CompiledRule, amount: number): RangeError {
  return new RangeError(
    `Limiter.reserve: the estimate for rule '${cr.rule.id}' (${cr.rule.metric}) is ${typeof amount === 'number' ? amount : typeof amount}; token and cost estimates must be numbers >= 0.`,
  );
}
