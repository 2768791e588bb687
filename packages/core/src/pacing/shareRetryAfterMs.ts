import type { Usage } from '../engine/types';
import type { RateLimitSnapshot } from '../errors/ErrorKind';
import { PACING_MARGIN, ProviderQuota, type QuotaNeed } from './ProviderQuota';
import { quotaShareSpreadMs } from './quotaShareSpreadMs';
import { quotaShareWaitMs } from './quotaShareWaitMs';

const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0;

/**
 * The engine's retry hint after a 429 whose only hint is `resetMs`, the reset of the exhausted quota,
 * on `quota` (its live pacing quota, or one read from the 429's snapshot): the wait for `need` with the
 * pacing margin ({@link PACING_MARGIN}, {@link quotaShareWaitMs}) plus the spread
 * ({@link quotaShareSpreadMs}), never longer than `resetMs`; `undefined` when that wait is not shorter
 * than `resetMs` (the quota shows nothing sooner than the reset). Internal: the package exports
 * {@link shareRetryAfterMs}.
 *
 * @example
 * ```ts
 * const hint = quotaShareRetryAfterMs(quota, need, clock.now(), resetMs, random) ?? resetMs;
 * ```
 */
export function quotaShareRetryAfterMs(quota: ProviderQuota, need: QuotaNeed, now: number, resetMs: number, random: () => number): number | undefined {
  const shareMs = quotaShareWaitMs(quota, need, PACING_MARGIN, now, resetMs);
  if (shareMs >= resetMs) return undefined;
  return Math.min(resetMs, shareMs + quotaShareSpreadMs(shareMs, random));
}

/**
 * How long to wait before retrying a call refused with a 429 whose only retry hint is the reset of
 * the exhausted quota (`hintSource: 'quota_reset'` from `classifyWithHintSource`; OpenAI's
 * `x-ratelimit-reset-tokens: 6m0s`, the time that quota is **full** again). Providers refill
 * continuously, so the call's share is back much sooner; this is the wait the engine itself takes
 * there, computed from the 429's snapshot alone, for code that retries outside the engine.
 *
 * - `snapshot`: the 429's `rateLimit` (as `classifyError` or `readRateLimitHeaders` read it at `now`).
 * - `estimate`: the call's tokens; `{ inputTokens: 1, outputTokens: 0 }` when unknown (every call sends
 *   a token: with 0, a token quota at 0 without a limit or margin would look like no obstacle).
 * - `resetMs`: the 429's `retryAfterMs` (the reset, in ms from `now`).
 * - `random`: a draw in [0, 1) (`Math.random`, or a seeded source in tests).
 *
 * The result (whole ms) is the time until one request and the estimate's tokens, plus a margin of 2% of
 * each reported limit ({@link PACING_MARGIN}, whole units), are back on every quota the snapshot shows
 * short of them, each refilling at `(limit − remaining) / (reset − observedAt)`; plus a random spread of
 * up to 10% of that wait, at most 1 s, so that callers refused together do not retry together; never
 * longer than `resetMs`. `0` when no quota the snapshot shows is short of the share (what is left
 * covers it, or that quota's own reset has passed) and `resetMs` is ahead.
 *
 * `undefined` when the snapshot shows the share back no sooner than `resetMs`: a quota short of it
 * gives no refill rate (no limit reported, or none of it used) and its reset is not before `resetMs`,
 * or the share is the whole quota; and always for a `resetMs` of 0 or less (a reset already past:
 * nothing to shorten). The caller then knows no better than the reset: the engine waits for it, and
 * so does NestJS's `retryWithBackoff` (a retry before it would be refused again). (A quota without a
 * refill rate whose reset comes before `resetMs` is waited for until that reset, as pacing does.)
 *
 * It counts nothing: callers refused by one quota each get the same wait (apart from the spread). The
 * engine counts each waiting retry's share against its live quota, so its callers wait behind each
 * other.
 *
 * @throws RangeError when `now` is not finite, `resetMs` is not a number, or a token count is negative
 * or not finite.
 *
 * @example
 * ```ts
 * // A 429 with x-ratelimit-limit-tokens: 10000, x-ratelimit-remaining-tokens: 0, x-ratelimit-reset-tokens: 6m0s
 * const { classified, hintSource } = classifyWithHintSource(err, { now });
 * if (hintSource === 'quota_reset' && classified.rateLimit !== undefined) {
 *   shareRetryAfterMs(classified.rateLimit, { inputTokens: 1, outputTokens: 0 }, now, classified.retryAfterMs!, Math.random);
 *   // 7236 to 7959: one token and the 200-token margin at one token per 36 ms, plus up to 723 ms of spread (not 360000)
 * }
 * ```
 */
export function shareRetryAfterMs(snapshot: RateLimitSnapshot, estimate: Usage, now: number, resetMs: number, random: () => number): number | undefined {
  if (!Number.isFinite(now)) throw new RangeError(`shareRetryAfterMs: now must be a finite number (epoch ms), got ${now}.`);
  if (typeof resetMs !== 'number' || Number.isNaN(resetMs)) throw new RangeError(`shareRetryAfterMs: resetMs must be a number of ms, got ${resetMs}.`);
  const { inputTokens, outputTokens } = estimate;
  if (!isCount(inputTokens) || !isCount(outputTokens)) {
    throw new RangeError(`shareRetryAfterMs: estimate's token counts must be finite and not negative, got ${inputTokens} input, ${outputTokens} output. Pass 1 input token for an unknown count.`);
  }
  const need: QuotaNeed = { requests: 1, tokens: inputTokens + outputTokens, inputTokens, outputTokens };
  return quotaShareRetryAfterMs(ProviderQuota.from(snapshot, now), need, now, resetMs, random);
}
