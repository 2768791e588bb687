import { shareRetryAfterMs, type RateLimitSnapshot } from '@llm-resilience/core';

/**
 * The operator does not know the call's tokens: the share it waits for is one request and one input
 * token (every call sends one), and the margin.
 */
const ONE_TOKEN = Object.freeze({ inputTokens: 1, outputTokens: 0 });

/**
 * The retry delay {@link quotaResetDelay} chose, and where it came from: `quota_share`, the time one
 * request's share of the quota refills; `hint`, the reset itself, when the headers show nothing back
 * sooner; `backoff`, the operator's own backoff.
 *
 * @example
 * ```ts
 * const d: QuotaResetDelayChoice = { delayMs: 7_236, source: 'quota_share' };
 * ```
 */
export interface QuotaResetDelayChoice {
  delayMs: number;
  source: 'quota_share' | 'hint' | 'backoff';
}

/**
 * What {@link quotaResetDelay} needs besides the 429's snapshot.
 *
 * @example
 * ```ts
 * const inputs: QuotaResetDelayInputs = { resetMs: 360_000, now: 0, maxHintMs: 60_000, random: Math.random, backoffMs: () => 500 };
 * ```
 */
export interface QuotaResetDelayInputs {
  /** The 429's only hint: the reset of its exhausted quota, in ms from `now` (`hintSource: 'quota_reset'`). */
  resetMs: number;
  now: number;
  /** A share wait longer than this is not waited for. */
  maxHintMs: number;
  /** Draw in [0, 1) for the spread. */
  random: () => number;
  /** The operator's backoff delay for this retry (called only when it is used). */
  backoffMs: () => number;
}

/**
 * The delay of a retry after a 429 whose only hint is the reset of an exhausted quota (the time it is
 * full again, not when one more call passes): the core's `shareRetryAfterMs` for one request and one
 * token, the time until that share and the pacing margin have refilled at the rate the 429's headers
 * give, plus a random spread of up to 10% of it (at most 1 s), never longer than the reset. When the
 * headers show nothing back sooner than the reset (no refill rate: no limit reported; or the share is
 * the whole quota), the reset itself, as the engine keeps it (a retry before it would be refused
 * again). When they show nothing short of the share, or the reset has passed, the jittered backoff,
 * capped by a reset still ahead. `undefined` (no retry) when the wait chosen from the headers, the
 * share's or the reset, is longer than `maxHintMs`.
 *
 * @example
 * ```ts
 * const snap = readRateLimitHeaders({ 'x-ratelimit-limit-tokens': '10000', 'x-ratelimit-remaining-tokens': '0', 'x-ratelimit-reset-tokens': '6m0s' }, 0)!;
 * quotaResetDelay(snap, { resetMs: 360_000, now: 0, maxHintMs: 60_000, random: () => 0.5, backoffMs: () => 250 });
 * // { delayMs: 7597, source: 'quota_share' }: 7.236 s for one token and the 200-token margin, 361 ms of spread
 * ```
 */
export function quotaResetDelay(snapshot: RateLimitSnapshot, inputs: QuotaResetDelayInputs): QuotaResetDelayChoice | undefined {
  const { resetMs, now, maxHintMs, random, backoffMs } = inputs;
  // A reset already past: the quota is full again, nothing to wait for but the backoff's spread.
  if (!(resetMs > 0)) return { delayMs: backoffMs(), source: 'backoff' };
  const shareMs = shareRetryAfterMs(snapshot, ONE_TOKEN, now, resetMs, random);
  // Nothing short of one request's share: the 429 came from something the headers do not show.
  if (shareMs === 0) return { delayMs: Math.min(backoffMs(), resetMs), source: 'backoff' };
  // Nothing back sooner than the reset (no refill rate; a share that is the whole quota): the reset is
  // the hint, as in the engine, and a retry before it would only be refused again.
  if (shareMs === undefined) return resetMs > maxHintMs ? undefined : { delayMs: resetMs, source: 'hint' };
  return shareMs > maxHintMs ? undefined : { delayMs: shareMs, source: 'quota_share' };
}
