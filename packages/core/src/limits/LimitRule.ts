/**
 * Dimensions a limit can be keyed by. Rules whose scope includes `provider` or `model` are
 * *target-scoped*: they are reserved per attempt, against the target being tried. The others are
 * *request-scoped*: reserved once when the request is admitted.
 *
 * @example
 * ```ts
 * const scope: ScopeDimension[] = ['team', 'model'];
 * ```
 */
export type ScopeDimension = 'user' | 'team' | 'tenant' | 'environment' | 'route' | 'provider' | 'model';

/**
 * What a rule counts.
 *
 * @example
 * ```ts
 * const metric: LimitMetric = 'inputTokens';
 * ```
 */
export type LimitMetric =
  | 'requests'
  | 'inputTokens'
  | 'outputTokens'
  | 'totalTokens'
  | 'cost'
  | 'concurrency';

/**
 * A validated limit rule, as `definePolicy` produces it (windows already in milliseconds).
 *
 * @example
 * ```ts
 * const rule: LimitRule = { id: 'user-rpm', scope: ['user'], metric: 'requests', limit: 20, windowMs: 60_000 };
 * ```
 */
export interface LimitRule {
  /** Stable id used in keys and in denial messages. Defaults to `scope-metric-window`. */
  id: string;
  scope: ScopeDimension[];
  metric: LimitMetric;
  limit: number;
  /** Window in ms (1 s .. 1 day). Ignored for `concurrency`. */
  windowMs: number;
  /** Bucket capacity; defaults to `limit` (no more than one window's worth at once). */
  burst?: number;
  /** Only apply when these dimensions have these values (e.g. `{ environment: 'staging' }`). */
  match?: Partial<Record<ScopeDimension, string>>;
  /** What a failed call keeps charged on this rule. Defaults per metric, see `FailedCallCharge`. */
  onFailure?: FailedCallCharge;
  /**
   * Count per fixed window (aligned to the epoch: UTC days for `'1d'`) instead of a GCRA bucket.
   * Spend budgets use this: a daily cap resets at the day boundary and never admits more than
   * `limit` within one window. Stored as a bounded counter whose key carries the window index.
   */
  fixedWindow?: boolean;
}

/**
 * What a failed call still costs. Providers count failed requests against RPM (OpenAI documents it),
 * so the default keeps the request charged and refunds the token and cost estimates.
 *
 * - `keep`: the reservation stays charged as estimated.
 * - `release`: everything reserved is refunded.
 * - `requests`: request counts stay, tokens and cost are refunded (default).
 *
 * @example
 * ```ts
 * { scope: ['model'], metric: 'inputTokens', limit: 90_000, window: '1m', onFailure: 'keep' }
 * ```
 */
export type FailedCallCharge = 'keep' | 'release' | 'requests';

/**
 * The values of each dimension for one request (and, for target-scoped rules, one target).
 *
 * @example
 * ```ts
 * const ctx: LimitContext = { user: 'u1', team: 't1', route: 'support_reply', provider: 'openai', model: 'gpt-x' };
 * ```
 */
export type LimitContext = Partial<Record<ScopeDimension, string>>;

/**
 * Token and cost amounts a reservation charges (estimates) or a settlement reports (actuals).
 *
 * @example
 * ```ts
 * const usage: UsageAmounts = { inputTokens: 1200, outputTokens: 300, costUsd: 0.0004 };
 * ```
 */
export interface UsageAmounts {
  inputTokens: number;
  outputTokens: number;
  costUsd: number;
}
