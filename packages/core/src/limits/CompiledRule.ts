import { BucketSpec } from './BucketSpec';
import type { LimitContext, LimitMetric, LimitRule, ScopeDimension, UsageAmounts } from './LimitRule';

export const M_REQUESTS = 0;
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

/**
 * @internal A limit rule with everything the limiter's hot path needs worked out once.
 *
 * @example
 * ```ts
 * const cr = compile({ id: 'user-rpm', scope: ['user'], metric: 'requests', limit: 20, windowMs: 60_000 });
 * cr.spec.T; // 3000 ms per request
 * ```
 */
export interface CompiledRule {
  readonly rule: LimitRule;
  readonly scope: readonly ScopeDimension[];
  /** Index of the rule's scope group (rules with the same scope share a key cache). */
  group: number;
  /** Position of the rule in its group's key list. */
  slot: number;
  readonly metric: number;
  /** A per-window total (budgets): a bounded counter whose key carries the window index. */
  readonly fixed: boolean;
  readonly match: ReadonlyArray<readonly [ScopeDimension, string]> | undefined;
  /**
   * The rule's bucket as stores see it, at full capacity: `rate` (a GCRA bucket) or `concurrency` (in
   * flight, or a per-window total when `fixed`); `burst` is the capacity (the limit when unset).
   */
  readonly spec: BucketSpec;
  /** The rule's bucket with a headroom share kept back, by the share of capacity left (see {@link specFor}). */
  readonly shares: Map<number, BucketSpec>;
}

/**
 * @internal Amount of `metric` in `u`: tokens, USD, or 1 for requests and concurrency.
 *
 * @example
 * ```ts
 * amountOf(cr.metric, { inputTokens: 500, outputTokens: 200, costUsd: 0 }); // 700 for totalTokens
 * ```
 */
export function amountOf(metric: number, u: UsageAmounts): number {
  return amountOfParts(metric, u.inputTokens, u.outputTokens, u.costUsd);
}

/**
 * @internal {@link amountOf} on the three numbers of a usage.
 *
 * @example
 * ```ts
 * amountOfParts(cr.metric, 500, 200, 0); // 700 for totalTokens
 * ```
 */
export function amountOfParts(metric: number, inputTokens: number, outputTokens: number, costUsd: number): number {
  switch (metric) {
    case M_INPUT:
      return inputTokens;
    case M_OUTPUT:
      return outputTokens;
    case M_TOTAL:
      return inputTokens + outputTokens;
    case M_COST:
      return costUsd;
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

/**
 * @internal Validates `rule` and works out its constants.
 *
 * @example
 * ```ts
 * const cr = compile(policy.limits[0]);
 * ```
 */
export function compile(rule: LimitRule): CompiledRule {
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
  // In-flight concurrency: windowMs > 0 would mean a per-window total to stores.
  const windowMs = kind === 'rate' || fixed ? rule.windowMs : 0;
  const capacity = kind === 'rate' ? (rule.burst ?? rule.limit) : rule.limit;
  return {
    rule,
    scope: rule.scope,
    group: -1,
    slot: -1,
    metric: METRIC_CODES[rule.metric],
    fixed,
    match: match && match.length > 0 ? match : undefined,
    spec: new BucketSpec(kind, rule.limit, windowMs, capacity),
    shares: new Map(),
  };
}

/** Headroom shares whose bucket specs a rule keeps. */
const MAX_SHARES = 16;

/**
 * @internal The bucket a call of a lower traffic class sees: the top `1 − keep` share of the rule's
 * capacity stays for higher classes (rate: a smaller burst, at least one unit unless the metric is
 * `cost`; concurrency: fewer slots, at least one).
 * Per-window totals (budgets) are not shared out. One spec per share is kept on the rule.
 *
 * @example
 * ```ts
 * specFor(cr, 0.8); // batch traffic with headroom 0.2
 * ```
 */
export function specFor(cr: CompiledRule, keep: number): BucketSpec {
  if (keep === 1 || cr.fixed) return cr.spec;
  let spec = cr.shares.get(keep);
  if (spec === undefined) {
    const full = cr.spec;
    const slots = Math.max(1, Math.floor(full.limit * keep));
    // Whole units keep at least one: a share of a 1-request bucket would otherwise admit nothing, ever.
    const burst = cr.metric === M_COST ? full.burst * keep : Math.max(full.burst * keep, Math.min(1, full.burst));
    spec = full.kind === 'rate' ? new BucketSpec('rate', full.limit, full.windowMs, burst) : new BucketSpec('concurrency', slots, full.windowMs, slots);
    // Traffic classes give a handful of shares; any further ones are built per call, not kept.
    if (cr.shares.size < MAX_SHARES) cr.shares.set(keep, spec);
  }
  return spec;
}

/**
 * @internal The key of a per-window total (`cr.fixed`) at time `now`: `key` with the window's index.
 *
 * @example
 * ```ts
 * windowKey(cr, 'budget|tenant=acme', clock.now()); // 'budget|tenant=acme|w=20417'
 * ```
 */
export function windowKey(cr: CompiledRule, key: string, now: number): string {
  return `${key}|w=${Math.floor(now / cr.spec.windowMs)}`;
}

/**
 * @internal When the window of a per-window total that contains `now` ends, in ms from `now` (at least 1).
 *
 * @example
 * ```ts
 * const retryAfterMs = windowEndsIn(cr, clock.now());
 * ```
 */
export function windowEndsIn(cr: CompiledRule, now: number): number {
  const w = cr.spec.windowMs;
  return Math.max(1, (Math.floor(now / w) + 1) * w - now);
}

/**
 * @internal True when every `[dimension, value]` of `match` holds in `ctx`.
 *
 * @example
 * ```ts
 * matches([['environment', 'staging']], { environment: 'staging' }); // true
 * ```
 */
export function matches(match: ReadonlyArray<readonly [ScopeDimension, string]>, ctx: LimitContext): boolean {
  for (let i = 0; i < match.length; i++) {
    const m = match[i]!;
    if (ctx[m[0]] !== m[1]) return false;
  }
  return true;
}
