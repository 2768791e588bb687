import { shareRetryAfterMs, type RateLimitSnapshot } from '@llm-resilience/core';

/** The operator does not know the call's tokens: the share it waits for is one request (and the margin). */
const NO_TOKENS = Object.freeze({ inputTokens: 0, outputTokens: 0 });

/**
 * The retry delay {@link quotaResetDelay} chose, and where it came from: `quota_share`, the time one
 * request's share of the quota refills; `backoff`, the operator's own backoff.
 *
 * @example
 * ```ts
 * const d: QuotaResetDelayChoice = { delayMs: 7_200, source: 'quota_share' };
 * ```
 */
export interface QuotaResetDelayChoice {
  delayMs: number;
  source: 'quota_share' | 'backoff';
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
 * full again, not when one more call passes): the core's `shareRetryAfterMs` for one request and no
 * tokens, the time until that share and the pacing margin have refilled at the rate the 429's headers
 * give, plus a random spread of up to 10% of it (at most 1 s), never longer than the reset. When the
 * headers show nothing sooner than the reset (no refill rate: no limit reported; or the share is the
 * whole quota) or nothing short (a reset already past), the jittered backoff, capped by a reset still
 * ahead. `undefined` (no retry) only when the share wait is longer than `maxHintMs`: a reset longer
 * than that is not a reason to give up.
 *
 * @example
 * ```ts
 * const snap = readRateLimitHeaders({ 'x-ratelimit-limit-tokens': '10000', 'x-ratelimit-remaining-tokens': '0', 'x-ratelimit-reset-tokens': '6m0s' }, 0)!;
 * quotaResetDelay(snap, { resetMs: 360_000, now: 0, maxHintMs: 60_000, random: () => 0.5, backoffMs: () => 250 });
 * // { delayMs: 7560, source: 'quota_share' }: 7.2 s for the 200-token margin, 360 ms of spread
 * ```
 */
export function quotaResetDelay(snapshot: RateLimitSnapshot, inputs: QuotaResetDelayInputs): QuotaResetDelayChoice | undefined {
  const { resetMs, now, maxHintMs, random, backoffMs } = inputs;
  const shareMs = shareRetryAfterMs(snapshot, NO_TOKENS, now, resetMs, random);
  if (shareMs === undefined || shareMs === 0) {
    const backoff = backoffMs();
    return { delayMs: resetMs > 0 ? Math.min(backoff, resetMs) : backoff, source: 'backoff' };
  }
  return shareMs > maxHintMs ? undefined : { delayMs: shareMs, source: 'quota_share' };
}
