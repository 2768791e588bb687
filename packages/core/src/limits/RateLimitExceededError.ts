import { ResilienceError } from '../errors/ResilienceError';
import type { LimitDenied } from './Limiter';
import type { LimitContext, LimitMetric } from './LimitRule';

/**
 * What {@link RateLimitExceededError} is built from (a {@link LimitDenied} fits).
 *
 * @example
 * ```ts
 * const details: RateLimitExceededDetails = { ruleId: 'user-rpm', metric: 'requests', scope: { user: 'u1' }, retryAfterMs: 3000 };
 * ```
 */
export interface RateLimitExceededDetails {
  ruleId: string;
  metric: LimitMetric;
  /** The values of the rule's scope dimensions for the denied request. */
  scope: LimitContext;
  /** When the request could pass; `Infinity` when it never can under this rule. */
  retryAfterMs: number;
  /** What the request asked for on this rule (tokens, USD, 1 for requests). */
  amount?: number;
  /** Bucket capacity of the rule (`burst ?? limit`). */
  capacity?: number;
}

function formatWait(ms: number): string {
  if (ms < 1000) return `${Math.ceil(ms)} ms`;
  if (ms < 120_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s`;
  if (ms < 7_200_000) return `${Math.ceil(ms / 60_000)} min`;
  return `${(ms / 3_600_000).toFixed(1)} h`;
}

/**
 * Our own limiter denied a request (not the provider): one of the policy's limit rules has no
 * capacity left for it. The message names the rule and when the request can pass; it carries scope
 * dimension names, never their values (they may be user ids) — read {@link scope} for those.
 *
 * @example
 * ```ts
 * try { await engine.execute(request, call); }
 * catch (err) {
 *   if (err instanceof RateLimitExceededError) res.set('Retry-After', String(Math.ceil(err.retryAfterMs / 1000)));
 * }
 * ```
 */
export class RateLimitExceededError extends ResilienceError {
  readonly ruleId: string;
  readonly metric: LimitMetric;
  readonly scope: LimitContext;
  /** When the request could pass; `Infinity` when it never can (it exceeds the rule's capacity). */
  declare readonly retryAfterMs: number;
  readonly amount: number | undefined;
  readonly capacity: number | undefined;

  constructor(details: RateLimitExceededDetails) {
    const dims = Object.keys(details.scope);
    const on = dims.length > 0 ? ` per ${dims.join('+')}` : '';
    const what = `Limit "${details.ruleId}" (${details.metric}${on})`;
    let message: string;
    if (details.retryAfterMs === Infinity) {
      const size =
        details.amount !== undefined && details.capacity !== undefined
          ? ` it asks for ${details.amount} ${details.metric} but the bucket holds at most ${details.capacity}, so`
          : '';
      message =
        `${what} denied the request:${size} it can never pass under this rule. ` +
        `Make the request smaller (shorter input, lower maxOutputTokens) or raise the rule's burst/limit.`;
    } else {
      message =
        `${what} denied the request; it can pass in ${formatWait(details.retryAfterMs)}. ` +
        `Retry after that, or raise the limit in the policy if this is regular traffic.`;
    }
    super(message, { kind: 'rate_limited', code: 'ERR_LLMR_LIMIT_EXCEEDED', retryAfterMs: details.retryAfterMs });
    this.ruleId = details.ruleId;
    this.metric = details.metric;
    this.scope = details.scope;
    this.amount = details.amount;
    this.capacity = details.capacity;
  }

  /**
   * The error for a denied {@link Limiter.reserve}.
   *
   * @example
   * ```ts
   * const d = await limiter.reserve(ctx, estimate, 'request');
   * if (!d.ok) throw RateLimitExceededError.fromDenial(d);
   * ```
   */
  static fromDenial(denied: LimitDenied): RateLimitExceededError {
    const { rule } = denied;
    return new RateLimitExceededError({
      ruleId: rule.id,
      metric: rule.metric,
      scope: denied.scope,
      retryAfterMs: denied.retryAfterMs,
      amount: denied.amount,
      capacity: rule.metric === 'concurrency' ? rule.limit : (rule.burst ?? rule.limit),
    });
  }
}
