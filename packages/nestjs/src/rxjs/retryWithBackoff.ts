import { classifyError, exponentialBackoff, RetryBudget, type Backoff, type ErrorKind } from '@llm-resilience/core';
import { asyncScheduler, defer, retry, tap, timer, type MonoTypeOperatorFunction, type SchedulerLike } from 'rxjs';

/**
 * Retries per error kind when none are given: the core's route defaults (429s twice, overload,
 * timeouts, network and unknown errors once; never context, quota, policy, auth or invalid requests).
 */
const DEFAULT_PER_KIND: Readonly<Partial<Record<ErrorKind, number>>> = {
  rate_limited: 2,
  overloaded: 1,
  timeout: 1,
  network: 1,
  unknown: 1,
};

/** Kinds whose failures take a token from the retry budget (the core's capacity kinds). */
const CAPACITY: ReadonlySet<ErrorKind> = new Set(['rate_limited', 'overloaded', 'timeout', 'network', 'unknown']);

/**
 * One retry about to happen (for logs and metrics).
 *
 * @example
 * ```ts
 * retryWithBackoff({ onRetry: (r: RetryInfo) => log.warn('retrying', r) });
 * ```
 */
export interface RetryInfo {
  /** 1 for the first retry. */
  retry: number;
  kind: ErrorKind;
  delayMs: number;
  /** `hint`: the provider said when (Retry-After, retry-after-ms, RetryInfo); `backoff`: our own delay. */
  source: 'hint' | 'backoff';
}

/**
 * Options of {@link retryWithBackoff}. A route's `RetryPolicy` from the engine
 * (`engine.policy.routes.chat.retry`) fits as is.
 *
 * @example
 * ```ts
 * const opts: RetryWithBackoffOptions = { maxAttempts: 3, perKind: { rate_limited: 2 }, backoff: exponentialBackoff({ base: 500, max: 8000 }) };
 * ```
 */
export interface RetryWithBackoffOptions {
  /** Subscriptions in all, the first included. Default 3. */
  readonly maxAttempts?: number;
  /**
   * Retries per error kind; a kind not listed is not retried. Default: `rate_limited` 2, `overloaded`,
   * `timeout`, `network`, `unknown` 1 each.
   */
  readonly perKind?: Readonly<Partial<Record<ErrorKind, number>>>;
  /** Delay when the provider gives no hint. Default: exponential with full jitter, base 500 ms, max 30 s. */
  readonly backoff?: Backoff;
  /** A provider hint longer than this is not waited for: the error goes on (fall back instead). Default 60 s. */
  readonly maxHintMs?: number;
  /**
   * Retry budget shared by every subscription of this operator (pass `engine.retryBudget(provider)` to
   * share the engine's). Capacity failures take a token; retries stop while fewer than half remain.
   * Default: a budget of its own (10 tokens, 0.1 back per success); `false` disables it.
   */
  readonly budget?: RetryBudget | false;
  /** Random source for jitter. Default `Math.random`. */
  readonly random?: () => number;
  /** Scheduler of the delays (a `TestScheduler` or `VirtualTimeScheduler` in tests). Default `asyncScheduler`. */
  readonly scheduler?: SchedulerLike;
  /** Called before each retry. */
  readonly onRetry?: (info: RetryInfo) => void;
}

/**
 * Retries the source on retryable errors, built on rxjs `retry({ count, delay })`: the error is
 * classified with the core's `classifyError`, a provider hint (`Retry-After`, `retry-after-ms`,
 * Google `RetryInfo`, "try again in 1.5s") wins over the backoff, a hint longer than `maxHintMs`
 * stops retrying, each kind has its own retry count, and a retry budget stops retry storms.
 *
 * @example
 * ```ts
 * intercept(ctx: ExecutionContext, next: CallHandler) {
 *   return next.handle().pipe(retryWithBackoff({ maxAttempts: 3, perKind: { rate_limited: 2, overloaded: 1 } }));
 * }
 * ```
 */
export function retryWithBackoff<T>(options: RetryWithBackoffOptions = {}): MonoTypeOperatorFunction<T> {
  const maxAttempts = options.maxAttempts ?? 3;
  const perKind = options.perKind ?? DEFAULT_PER_KIND;
  const backoff = options.backoff ?? exponentialBackoff({ base: 500, max: 30_000 });
  const maxHintMs = options.maxHintMs ?? 60_000;
  const budget = options.budget === false ? undefined : (options.budget ?? new RetryBudget());
  const random = options.random ?? Math.random;
  const scheduler = options.scheduler ?? asyncScheduler;
  if (!(Number.isInteger(maxAttempts) && maxAttempts >= 1)) {
    throw new RangeError(`retryWithBackoff: maxAttempts must be an integer >= 1, got ${String(maxAttempts)}.`);
  }
  return (source) =>
    defer(() => {
      const used: Partial<Record<ErrorKind, number>> = {};
      let previous = 0;
      return source.pipe(
        tap({ next: () => budget?.onSuccess() }),
        retry({
          count: maxAttempts - 1,
          delay: (error: unknown, retryCount: number) => {
            const c = classifyError(error, { now: scheduler.now() });
            if (CAPACITY.has(c.kind)) budget?.onFailure();
            const n = used[c.kind] ?? 0;
            if (n >= (perKind[c.kind] ?? 0)) throw error;
            if (budget && CAPACITY.has(c.kind) && !budget.canRetry()) throw error;
            const hint = c.retryAfterMs;
            if (hint !== undefined && hint > maxHintMs) throw error;
            const delayMs = hint ?? backoff.delay(n + 1, previous, random);
            used[c.kind] = n + 1;
            previous = delayMs;
            options.onRetry?.({ retry: retryCount, kind: c.kind, delayMs, source: hint !== undefined ? 'hint' : 'backoff' });
            return timer(delayMs, scheduler);
          },
        }),
      );
    });
}
