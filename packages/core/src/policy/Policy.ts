import type { ErrorKind } from '../errors/ErrorKind';
import type { LimitRule, ScopeDimension } from '../limits/LimitRule';
import type { Backoff } from '../retry/backoff';
import type { StandardSchemaLike } from './schema';

/**
 * A provider + model the engine can call, with what it can do and what it costs.
 *
 * @example
 * ```ts
 * const t: ResolvedTarget = policy.targets['fast-a'];
 * openai.chat.completions.create({ model: t.model, messages });
 * ```
 */
export interface ResolvedTarget {
  /** The name in `targets` (or `provider/model` for targets written inline in a chain). */
  readonly id: string;
  readonly provider: string;
  readonly model: string;
  readonly contextWindow?: number;
  readonly maxOutputTokens?: number;
  /** USD per 1M tokens. */
  readonly price?: { readonly input: number; readonly output: number };
  readonly dataClasses?: readonly string[];
  readonly timeoutMs?: number;
  readonly tokenizer: 'openai' | 'heuristic';
  readonly meta: Readonly<Record<string, unknown>>;
}

/**
 * Retry rules of a route, defaults filled in.
 *
 * @example
 * ```ts
 * policy.routes.chat.retry.perKind.rate_limited; // 2
 * ```
 */
export interface RetryPolicy {
  /** Attempts per request across the whole chain, first try included. */
  readonly maxAttempts: number;
  /** Retries on the same target per error kind before falling back. */
  readonly perKind: Readonly<Record<ErrorKind, number>>;
  readonly backoff: Backoff;
  /** Longest provider hint waited for on the same target. */
  readonly maxHintMs: number;
  /** Longest wait for our own limiter before falling back. */
  readonly maxLimiterWaitMs: number;
}

/**
 * Circuit breaker thresholds (per target and per provider).
 *
 * @example
 * ```ts
 * policy.breaker.errorRate; // 0.2 (20%, as the seed's table says)
 * ```
 */
export interface BreakerPolicy {
  readonly windowMs: number;
  readonly errorRate: number;
  readonly minimumCalls: number;
  readonly consecutiveFailures: number;
  readonly slowCallMs: number;
  readonly slowCallRate: number;
  readonly openForMs: number;
  readonly halfOpenProbes: number;
  readonly rampUpMs: number;
  readonly rateLimitPauseAfter: number;
  readonly failOn: ReadonlySet<ErrorKind>;
}

/**
 * Messages shown to people when a request cannot be served right away, per audience.
 *
 * @example
 * ```ts
 * policy.messages.customer; // "This request is taking longer than usual. ..."
 * ```
 */
export interface AudienceMessages {
  readonly internal: string;
  readonly customer: string;
  readonly queued: string;
}

/**
 * A route (task type): its chain and how it behaves under pressure.
 *
 * @example
 * ```ts
 * policy.routes.support_reply.chain.map((t) => t.model);
 * ```
 */
export interface RoutePolicy {
  readonly name: string;
  readonly chain: readonly ResolvedTarget[];
  readonly priority: string;
  readonly retry: RetryPolicy;
  readonly fallbackOn: ReadonlySet<ErrorKind>;
  readonly timeoutMs?: number;
  readonly deadlineMs?: number;
  readonly output?: StandardSchemaLike;
  readonly onInvalidOutput: 'retry-stricter' | 'fallback' | 'fail';
  readonly costCeilingUsd?: number;
  readonly onExhausted: 'fail' | 'queue';
  readonly audience: 'internal' | 'customer';
  readonly messages: AudienceMessages;
}

/**
 * A spend cap in USD, enforced by reserving worst-case cost before each call.
 *
 * @example
 * ```ts
 * { id: 'tenant-daily', scope: ['tenant'], limitUsd: 50, windowMs: 86_400_000, downgradeAt: 0.8, downgradeTo: 'cheap' }
 * ```
 */
export interface BudgetRule {
  readonly id: string;
  readonly scope: readonly ScopeDimension[];
  readonly limitUsd: number;
  readonly windowMs: number;
  readonly match?: Partial<Record<ScopeDimension, string>>;
  readonly downgradeAt?: number;
  readonly downgradeTo?: string;
}

/**
 * A traffic class (live, batch, experiment, or your own) with its scheduling rules.
 *
 * @example
 * ```ts
 * policy.trafficClasses.batch.whenLimited; // 'queue'
 * ```
 */
export interface TrafficClass {
  readonly name: string;
  readonly priority: number;
  readonly reserve: number;
  readonly whenLimited: 'wait' | 'queue' | 'reject';
  readonly maxWaitMs: number;
  readonly maxQueue: number;
}

/**
 * A validated, normalized policy: what `definePolicy` returns and `createResilience` takes.
 *
 * @example
 * ```ts
 * const policy: Policy = definePolicy({ targets, routes, limits });
 * ```
 */
export interface Policy {
  readonly targets: Readonly<Record<string, ResolvedTarget>>;
  readonly routes: Readonly<Record<string, RoutePolicy>>;
  readonly limits: readonly LimitRule[];
  readonly budgets: readonly BudgetRule[];
  readonly breaker: BreakerPolicy;
  readonly trafficClasses: Readonly<Record<string, TrafficClass>>;
  readonly defaultTimeoutMs: number;
  readonly messages: AudienceMessages;
  readonly recordContent: boolean;
  /** Advice found while validating (e.g. chains longer than 3 fallbacks). */
  readonly warnings: readonly string[];
}
