import {
  closestName,
  Limiter,
  parseDuration,
  type Clock,
  type LimitContext,
  type LimitDecision,
  type LimitDenied,
  type LimiterStore,
  type LimitRule,
  type Reservation,
  type ScopeDimension,
  type UsageAmounts,
} from '@llm-resilience/core';
import { isPromise } from './isPromise';
import { ExpressConfigError } from './ExpressConfigError';
import { asQuota, ruleView, type RuleView } from './rateLimitHeaders';
import type { InboundLimitRule, InboundLimitStatus } from './types';

/** Inbound buckets live beside the policy's: the prefix keeps a rule id used in both apart. */
const PREFIX = 'inbound:';
const MIN_WINDOW_MS = 1000;
const MAX_WINDOW_MS = 86_400_000;
const INBOUND_DIMENSIONS: ReadonlySet<string> = new Set(['user', 'team', 'tenant', 'environment', 'route']);
/** The fields of an inbound rule ({@link InboundLimitRule}): any other key is a typo that would go unread. */
const RULE_FIELDS: readonly (keyof InboundLimitRule)[] = ['id', 'scope', 'metric', 'limit', 'window', 'burst', 'match'];
const METRICS: ReadonlySet<string> = new Set(['requests', 'inputTokens', 'outputTokens', 'totalTokens', 'cost', 'concurrency']);

/**
 * Default reservation of token and cost rules per request: just enough to ask "is there budget
 * left?"; the real usage is charged when the response ends.
 *
 * @example
 * ```ts
 * resilience({ engine, limits, estimate: (req) => ({ ...DEFAULT_INBOUND_ESTIMATE, outputTokens: 500 }) });
 * ```
 */
export const DEFAULT_INBOUND_ESTIMATE: Readonly<UsageAmounts> = Object.freeze({ inputTokens: 1, outputTokens: 1, costUsd: 0.000001 });

/** An estimate of 0 on every metric: token and cost rules reserve nothing and are charged at settle. */
const NOTHING: Readonly<UsageAmounts> = Object.freeze({ inputTokens: 0, outputTokens: 0, costUsd: 0 });

function invalid(path: string, message: string): ExpressConfigError {
  return new ExpressConfigError('ERR_LLMR_EXPRESS_INVALID_LIMIT', `limits${path}: ${message}`);
}

/** A rule's `match`: known dimensions to strings (a typo would make the rule never apply). */
function checkMatch(path: string, match: unknown): Record<string, string> {
  if (typeof match !== 'object' || match === null || Array.isArray(match)) throw invalid(path, `expected an object of dimensions to values, got ${match === null ? 'null' : typeof match}`);
  for (const [d, v] of Object.entries(match)) {
    if (!INBOUND_DIMENSIONS.has(d)) throw invalid(path, `'${d}' is not a dimension; match can use user, team, tenant, environment, route`);
    if (typeof v !== 'string') throw invalid(`${path}.${d}`, `expected a string, got ${v === null ? 'null' : typeof v}`);
  }
  return match as Record<string, string>;
}

/**
 * Validates inbound rules (the policy's syntax) into the core's {@link LimitRule}s, ids prefixed so
 * their buckets never meet the policy's.
 *
 * @example
 * ```ts
 * toLimitRules([{ scope: ['user'], metric: 'requests', limit: 20, window: '1m' }]);
 * // [{ id: 'inbound:user:requests:1m', scope: ['user'], metric: 'requests', limit: 20, windowMs: 60000 }]
 * ```
 */
export function toLimitRules(rules: readonly InboundLimitRule[]): LimitRule[] {
  if (!Array.isArray(rules)) throw invalid('', `expected an array of rules, got ${typeof rules}`);
  const seen = new Set<string>();
  return rules.map((r, i) => {
    const at = `[${i}]`;
    if (typeof r !== 'object' || r === null) throw invalid(at, 'expected a rule object');
    // As the policy refuses them: a misspelt `brust` would be ignored, a misspelt `mtach` would apply
    // the rule to every caller.
    for (const key of Object.keys(r)) {
      if ((RULE_FIELDS as readonly string[]).includes(key)) continue;
      const guess = closestName(key, RULE_FIELDS);
      throw invalid(`${at}.${key}`, `unexpected key${guess === undefined ? '' : ` (did you mean '${guess}'?)`}; known: ${RULE_FIELDS.join(', ')}`);
    }
    if (!Array.isArray(r.scope)) throw invalid(`${at}.scope`, 'expected an array of dimensions (user, team, tenant, environment, route)');
    for (const d of r.scope as string[]) {
      if (!INBOUND_DIMENSIONS.has(d)) {
        throw invalid(
          `${at}.scope`,
          `'${d}' is not known before the handler runs; inbound limits can use user, team, tenant, environment, route. ` +
            `Put provider/model limits in the policy.`,
        );
      }
    }
    if (!METRICS.has(r.metric)) throw invalid(`${at}.metric`, `expected one of ${[...METRICS].join(', ')}, got ${JSON.stringify(r.metric)}`);
    if (!(typeof r.limit === 'number' && r.limit > 0 && Number.isFinite(r.limit))) {
      throw invalid(`${at}.limit`, `expected a positive number, got ${JSON.stringify(r.limit)}`);
    }
    if (r.burst !== undefined && !(typeof r.burst === 'number' && r.burst > 0 && Number.isFinite(r.burst))) {
      throw invalid(`${at}.burst`, `expected a positive number, got ${JSON.stringify(r.burst)}`);
    }
    let windowMs = 0;
    if (r.metric !== 'concurrency') {
      const w = parseDuration(r.window);
      if (w === undefined || w < MIN_WINDOW_MS || w > MAX_WINDOW_MS) {
        throw invalid(`${at}.window`, `expected a window between '1s' and '1d' (ms or '30s', '1m', '1h', '1d'), got ${JSON.stringify(r.window)}`);
      }
      windowMs = w;
    }
    const id = r.id ?? `${r.scope.join('+') || 'global'}:${r.metric}:${r.window ?? 'inflight'}`;
    if (seen.has(id)) throw invalid(`${at}.id`, `expected a unique id, got '${id}' twice`);
    seen.add(id);
    const rule: LimitRule = { id: PREFIX + id, scope: [...r.scope] as ScopeDimension[], metric: r.metric, limit: r.limit, windowMs };
    if (r.burst !== undefined) rule.burst = r.burst;
    if (r.match !== undefined) rule.match = { ...checkMatch(`${at}.match`, r.match) };
    // A call that failed still used the request; tokens are settled from real usage anyway.
    rule.onFailure = 'requests';
    return rule;
  });
}

/**
 * The middleware's inbound limits: the core's {@link Limiter} over the engine's store (so Redis
 * shares them across processes too), plus what the `RateLimit` headers need.
 *
 * @example
 * ```ts
 * const limits = new InboundLimits([{ scope: ['user'], metric: 'requests', limit: 20, window: '1m' }], engine.store);
 * const d = await limits.reserve({ user: 'u1' }, DEFAULT_INBOUND_ESTIMATE);
 * if (d.ok) limits.statusOf(d); // [{ id: 'user:requests:1m', remaining: 19, ... }]
 * ```
 */
export class InboundLimits {
  readonly rules: readonly LimitRule[];
  /** True when some rule must be settled when the response ends (tokens, cost, concurrency). */
  readonly needsSettle: boolean;
  /** Every dimension some rule is scoped by. */
  readonly dimensions: readonly ScopeDimension[];
  private readonly limiter: Limiter;
  /**
   * The token and cost rules alone, on the same buckets (same ids, same store): what charges the calls
   * that end after the request was settled. Reserving an estimate of 0 checks nothing, and settling
   * that reservation charges the actual usage, never denied (debt later requests wait for).
   */
  private readonly usageLimiter: Limiter | undefined;
  private readonly views = new Map<LimitRule, RuleView>();

  constructor(rules: readonly InboundLimitRule[], store: LimiterStore, clock?: Clock) {
    this.rules = toLimitRules(rules);
    this.limiter = new Limiter(this.rules, store, clock ? { clock } : {});
    this.needsSettle = this.rules.some((r) => r.metric !== 'requests');
    const usageRules = this.rules.filter((r) => r.metric !== 'requests' && r.metric !== 'concurrency');
    this.usageLimiter = usageRules.length > 0 ? new Limiter(usageRules, store, clock ? { clock } : {}) : undefined;
    this.dimensions = [...new Set(this.rules.flatMap((r) => r.scope))];
  }

  /** Reserves `estimate` on every matching rule (all or nothing); synchronous with the memory store. */
  reserve(ctx: LimitContext, estimate: UsageAmounts): LimitDecision | Promise<LimitDecision> {
    return this.limiter.reserve(ctx, estimate, 'request');
  }

  /**
   * Charges `usage` to every token and cost rule matching `ctx`, past any reservation: never denied
   * (above the capacity it is debt that later requests wait for). For the calls a request makes after
   * it was settled (a handler that answered first and works afterwards).
   *
   * @example
   * ```ts
   * await limits.charge({ team: 't1' }, { inputTokens: 300, outputTokens: 300, costUsd: 0 });
   * ```
   */
  charge(ctx: LimitContext, usage: UsageAmounts): void | Promise<void> {
    if (this.usageLimiter === undefined) return;
    const settle = (d: LimitDecision): void | Promise<void> => (d.ok ? d.settle(usage) : undefined);
    const d = this.usageLimiter.reserve(ctx, NOTHING, 'request');
    return isPromise(d) ? Promise.resolve(d).then(settle) : settle(d);
  }

  /** Rule `id` as the user wrote it. */
  static idOf(rule: LimitRule): string {
    return rule.id.startsWith(PREFIX) ? rule.id.slice(PREFIX.length) : rule.id;
  }

  /**
   * What the headers need of a rule, computed once per rule: its public id, its `RateLimit-Policy`
   * item (drafts 6 and 7) and the constant start of its draft-7 `RateLimit` value.
   *
   * @example
   * ```ts
   * const view = inbound.viewOf(reservation.ruleAt(0));
   * ```
   */
  viewOf(rule: LimitRule): RuleView {
    let view = this.views.get(rule);
    if (view === undefined) {
      view = ruleView(rule, InboundLimits.idOf(rule));
      this.views.set(rule, view);
    }
    return view;
  }

  /**
   * The status of every limit a reservation holds, right after it was made.
   *
   * @example
   * ```ts
   * const statuses = inbound.statusOf(reservation);
   * ```
   */
  statusOf(reservation: Reservation): InboundLimitStatus[] {
    const states = reservation.states;
    const out: InboundLimitStatus[] = [];
    const limits = reservation.limits();
    for (let i = 0; i < limits.length; i++) {
      const state = states[i];
      if (!state) continue;
      const view = this.viewOf(limits[i]!.rule);
      out.push({
        id: view.id,
        metric: view.metric,
        limit: view.limit,
        windowMs: view.windowMs,
        // A bucket with a burst above its limit holds more than the quota the headers name (`limit`
        // per window): shown as that quota (see `asQuota`).
        ...asQuota(view, state),
        key: limits[i]!.key,
      });
    }
    return out;
  }

  /** The denying rule of a denial, with nothing remaining. */
  statusOfDenial(denied: LimitDenied): InboundLimitStatus {
    const rule = denied.rule;
    return {
      id: InboundLimits.idOf(rule),
      metric: rule.metric,
      limit: rule.limit,
      windowMs: rule.windowMs,
      remaining: 0,
      resetMs: Number.isFinite(denied.retryAfterMs) ? denied.retryAfterMs : rule.windowMs,
      key: denied.key,
    };
  }
}
