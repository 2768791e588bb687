import {
  classifyWithHintSource,
  constantBackoff,
  decorrelatedBackoff,
  ERROR_KINDS,
  exponentialBackoff,
  isErrorKind,
  parseDuration,
  RetryBudget,
  type Backoff,
  type ErrorKind,
  type RetryInput,
} from '@llm-resilience/core';
import { asyncScheduler, defer, retry, tap, timer, type MonoTypeOperatorFunction, type SchedulerLike } from 'rxjs';
import { isApplicationException } from '../decorators/appExceptions';
import { isPlainObject, shown, typeOf } from '../describeValue';
import { unknownKey } from '../knownKeys';
import { NestConfigError } from '../NestConfigError';
import { quotaResetDelay } from './quotaResetDelay';

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
  /**
   * Where `delayMs` came from. `hint`: the provider said when (`Retry-After`, `retry-after-ms`,
   * `x-ms-retry-after-ms`, Google `RetryInfo`, "try again in 1.5s"), waited for exactly. `quota_share`: a
   * 429 whose only hint was the reset of an exhausted quota (`x-ratelimit-reset-tokens: 6m0s`, the time
   * it is full again): the time one request's share of it refills at the rate its rate-limit headers
   * give, plus a spread of up to 10% (at most 1 s), never longer than the reset; when the headers show
   * nothing back sooner (no refill rate, or a share that is the whole quota), the reset itself, reported
   * as `hint`. `backoff`: our own delay (no hint, or `Retry-After: 0`; a reset-only hint whose headers
   * show nothing short, or a reset already past).
   */
  source: 'hint' | 'quota_share' | 'backoff';
}

/**
 * Options of {@link retryWithBackoff}. A route's `RetryPolicy` from the engine
 * (`engine.policy.routes.chat.retry`) fits as is. `backoff` takes a `Backoff` of the core
 * (`exponentialBackoff(...)`) or the policy's config form (`{ strategy: 'constant', delay: '1s' }`).
 *
 * @example
 * ```ts
 * const opts: RetryWithBackoffOptions = { maxAttempts: 3, perKind: { rate_limited: 2 }, backoff: { strategy: 'exponential', base: 500, max: '8s' } };
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
  /**
   * Delay when the provider gives no hint: a `Backoff` (`exponentialBackoff`, `decorrelatedBackoff`,
   * `constantBackoff` of the core), or the policy's config form, built with those:
   * `{ strategy: 'exponential' | 'decorrelated', base?, max? }` (defaults 500 ms, 30 s) or
   * `{ strategy: 'constant', delay? }` (default 1 s), durations in ms or `'500ms'`, `'1s'`, ...
   * Default: exponential with full jitter, base 500 ms, max 30 s. Its retry number counts every retry
   * of the source, whatever the error's kind (a 503, then a 429: the second wait is retry 2's).
   */
  readonly backoff?: Backoff | NonNullable<RetryInput['backoff']>;
  /**
   * A provider hint longer than this is not waited for: the error goes on (fall back instead). After a
   * 429 whose only hint is a quota's reset, the bound applies to the wait for one request's share, not
   * to the reset. Default 60 s.
   */
  readonly maxHintMs?: number;
  /** Ignored (the operator waits for no limiter); accepted so a route's `RetryPolicy` fits as is. */
  readonly maxLimiterWaitMs?: number;
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

const WHERE = 'retryWithBackoff';
const OPTIONS: readonly (keyof RetryWithBackoffOptions)[] = [
  'maxAttempts',
  'perKind',
  'backoff',
  'maxHintMs',
  'maxLimiterWaitMs',
  'budget',
  'random',
  'scheduler',
  'onRetry',
];

function invalid(path: string, message: string): NestConfigError {
  return new NestConfigError('ERR_LLMR_NEST_INVALID_OPTIONS', `${WHERE} ${path}: ${message}.`);
}

function checkPerKind(perKind: unknown): Readonly<Partial<Record<ErrorKind, number>>> {
  if (!isPlainObject(perKind)) throw invalid('perKind', `expected an object of error kinds to retry counts, such as { rate_limited: 2 }, got ${shown(perKind)}`);
  for (const [kind, n] of Object.entries(perKind)) {
    if (!isErrorKind(kind)) throw invalid(`perKind.${kind}`, `not an error kind; known: ${ERROR_KINDS.join(', ')}`);
    if (!(Number.isInteger(n) && (n as number) >= 0)) throw invalid(`perKind.${kind}`, `expected an integer >= 0 (retries of that kind), got ${shown(n)}`);
  }
  return perKind as Partial<Record<ErrorKind, number>>;
}

function durationOf(value: unknown, path: string, fallback: number): number {
  if (value === undefined) return fallback;
  const ms = parseDuration(value);
  if (ms === undefined) throw invalid(path, `expected a duration (ms, or '500ms', '1s', '1m', ...), got ${shown(value)}`);
  return ms;
}

/** A `Backoff` as is, or one built from the policy's config form with the core's factories. */
function toBackoff(backoff: unknown): Backoff {
  if (typeof backoff !== 'object' || backoff === null || Array.isArray(backoff)) {
    throw invalid('backoff', `expected a Backoff (exponentialBackoff(...)) or { strategy, ... }, got ${shown(backoff)}`);
  }
  const b = backoff as Record<string, unknown>;
  if (typeof b.delay === 'function') return backoff as Backoff;
  if (b.strategy === 'exponential' || b.strategy === 'decorrelated') {
    const unknown = unknownKey(b, ['strategy', 'base', 'max']);
    if (unknown) throw invalid(`backoff.${unknown.key}`, unknown.problem);
    const opts = { base: durationOf(b.base, 'backoff.base', 500), max: durationOf(b.max, 'backoff.max', 30_000) };
    return b.strategy === 'exponential' ? exponentialBackoff(opts) : decorrelatedBackoff(opts);
  }
  if (b.strategy === 'constant') {
    const unknown = unknownKey(b, ['strategy', 'delay']);
    if (unknown) throw invalid(`backoff.${unknown.key}`, unknown.problem);
    return constantBackoff({ delay: durationOf(b.delay, 'backoff.delay', 1000) });
  }
  throw invalid('backoff.strategy', `expected 'exponential', 'decorrelated' or 'constant' (or a Backoff with a delay() method), got ${shown(b.strategy)}`);
}

function isRetryBudget(v: unknown): v is RetryBudget {
  if (v instanceof RetryBudget) return true;
  const b = v as Partial<Record<'canRetry' | 'onSuccess' | 'onFailure', unknown>> | null;
  return typeof b === 'object' && b !== null && typeof b.canRetry === 'function' && typeof b.onSuccess === 'function' && typeof b.onFailure === 'function';
}

function isScheduler(v: unknown): v is SchedulerLike {
  const s = v as Partial<Record<'now' | 'schedule', unknown>> | null;
  return typeof s === 'object' && s !== null && typeof s.now === 'function' && typeof s.schedule === 'function';
}

/**
 * Retries the source on retryable errors, built on rxjs `retry({ count, delay })`: the error is
 * classified with the core's `classifyWithHintSource` (`classifyError`, and where its hint came from),
 * a provider hint (`Retry-After`, `retry-after-ms`, Google `RetryInfo`, "try again in 1.5s") wins over
 * the backoff, a hint longer than `maxHintMs` stops retrying, each kind has its own retry count, and a
 * retry budget stops retry storms. A 429 whose only hint is the reset of an exhausted quota
 * (`hintSource: 'quota_reset'`, `x-ratelimit-reset-tokens: 6m0s`, when it is full again) waits until
 * one request's share of it has refilled, at the rate its headers give (the core's
 * `shareRetryAfterMs`; see `RetryInfo.source` `quota_share`), or the reset itself when the headers show
 * nothing back sooner; a reset longer than `maxHintMs` stops retrying only then. The application's own
 * `HttpException`s (a handler's `ForbiddenException` under `next.handle()`) are
 * not retried: they go on at once, as thrown, and leave the budget alone. A source that has emitted
 * is not retried either (a stream that breaks after its first chunks would send them twice): its
 * error goes on, and counts against the budget. The budget gets back its share once per source that
 * completes, however many values it emitted.
 *
 * Every option is checked when the operator is created, with a `NestConfigError`
 * (`ERR_LLMR_NEST_INVALID_OPTIONS`) naming it: unknown keys, `maxAttempts` an integer >= 1,
 * `perKind` error kinds to integers >= 0, `backoff` a `Backoff` or its config form, `maxHintMs` a
 * number >= 0, `budget` a `RetryBudget` or `false`, `random` and `onRetry` functions, `scheduler`
 * an rxjs scheduler.
 *
 * @example
 * ```ts
 * intercept(ctx: ExecutionContext, next: CallHandler) {
 *   return next.handle().pipe(retryWithBackoff({ maxAttempts: 3, perKind: { rate_limited: 2, overloaded: 1 } }));
 * }
 * ```
 */
export function retryWithBackoff<T>(options: RetryWithBackoffOptions = {}): MonoTypeOperatorFunction<T> {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new NestConfigError('ERR_LLMR_NEST_INVALID_OPTIONS', `${WHERE}: expected an options object (or nothing), got ${typeOf(options)}.`);
  }
  const unknown = unknownKey(options, OPTIONS);
  if (unknown) throw invalid(unknown.key, unknown.problem);
  const maxAttempts = options.maxAttempts ?? 3;
  if (!(Number.isInteger(maxAttempts) && maxAttempts >= 1)) {
    throw invalid('maxAttempts', `expected an integer >= 1 (subscriptions in all, the first included), got ${shown(maxAttempts)}`);
  }
  const perKind = options.perKind === undefined ? DEFAULT_PER_KIND : checkPerKind(options.perKind);
  const backoff = options.backoff === undefined ? exponentialBackoff({ base: 500, max: 30_000 }) : toBackoff(options.backoff);
  const maxHintMs = options.maxHintMs ?? 60_000;
  if (!(typeof maxHintMs === 'number' && maxHintMs >= 0)) throw invalid('maxHintMs', `expected a number of ms (0 or more), got ${shown(maxHintMs)}`);
  const lw = options.maxLimiterWaitMs;
  if (lw !== undefined && !(typeof lw === 'number' && lw >= 0)) throw invalid('maxLimiterWaitMs', `expected a number of ms (0 or more), got ${shown(lw)}`);
  if (options.budget !== undefined && options.budget !== false && !isRetryBudget(options.budget)) {
    throw invalid('budget', `expected a RetryBudget (new RetryBudget(), engine.retryBudget(provider)) or false, got ${shown(options.budget)}`);
  }
  const budget = options.budget === false ? undefined : (options.budget ?? new RetryBudget());
  if (options.random !== undefined && typeof options.random !== 'function') throw invalid('random', `expected a function () => number in [0, 1), got ${shown(options.random)}`);
  const random = options.random ?? Math.random;
  if (options.scheduler !== undefined && !isScheduler(options.scheduler)) {
    throw invalid('scheduler', `expected an rxjs scheduler (with now() and schedule()), got ${typeOf(options.scheduler)}`);
  }
  const scheduler = options.scheduler ?? asyncScheduler;
  if (options.onRetry !== undefined && typeof options.onRetry !== 'function') throw invalid('onRetry', `expected a function (info) => void, got ${shown(options.onRetry)}`);
  return (source) =>
    defer(() => {
      const used: Partial<Record<ErrorKind, number>> = {};
      let previous = 0;
      // Once a value went out, a retry would send it again (a stream's chunks twice): the error goes on.
      let emitted = false;
      return source.pipe(
        // One success per call that completes, not one per value (a streamed reply is one call).
        tap({ next: () => (emitted = true), complete: () => budget?.onSuccess() }),
        retry({
          count: maxAttempts - 1,
          delay: (error: unknown, retryCount: number) => {
            // The application's own answer (a handler's ForbiddenException): never retried.
            if (isApplicationException(error)) throw error;
            const now = scheduler.now();
            const { classified: c, hintSource } = classifyWithHintSource(error, { now });
            if (CAPACITY.has(c.kind)) budget?.onFailure();
            if (emitted) throw error;
            const n = used[c.kind] ?? 0;
            if (n >= (perKind[c.kind] ?? 0)) throw error;
            if (budget && CAPACITY.has(c.kind) && !budget.canRetry()) throw error;
            // A 429 whose only hint is a quota's reset (when it is full again): a request's share is waited for.
            const resetMs = hintSource === 'quota_reset' && c.rateLimit !== undefined ? c.retryAfterMs : undefined;
            // `Retry-After: 0` says nothing about when: backed off, as the engine does.
            const hint = resetMs === undefined && c.retryAfterMs !== undefined && c.retryAfterMs > 0 ? c.retryAfterMs : undefined;
            if (hint !== undefined && hint > maxHintMs) throw error;
            // The backoff grows with every retry, whatever their kinds (a 503, then a 429), as in the engine.
            const backoffMs = () => backoff.delay(retryCount, previous, random);
            const choice: Pick<RetryInfo, 'delayMs' | 'source'> | undefined =
              resetMs !== undefined
                ? quotaResetDelay(c.rateLimit!, { resetMs, now, maxHintMs, random, backoffMs })
                : hint !== undefined
                  ? { delayMs: hint, source: 'hint' }
                  : { delayMs: backoffMs(), source: 'backoff' };
            if (choice === undefined) throw error;
            const { delayMs, source } = choice;
            used[c.kind] = n + 1;
            previous = delayMs;
            options.onRetry?.({ retry: retryCount, kind: c.kind, delayMs, source });
            return timer(delayMs, scheduler);
          },
        }),
      );
    });
}
