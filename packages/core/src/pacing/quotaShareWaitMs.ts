import type { ProviderQuota, QuotaNeed } from './ProviderQuota';

/**
 * How long a call the provider refused with a 429 waits before it may go again, when the only hint the
 * 429 carried is the reset of the exhausted quota (`atMostMs`: OpenAI's `x-ratelimit-reset-tokens:
 * 6m0s`, the time that quota is **full** again). Providers refill continuously, so the call's own share
 * is back much sooner: this is the wait {@link ProviderQuota.waitMs} gives for `need` (with a margin of
 * `marginFraction` of each reported limit, as proactive pacing keeps) on `quota`, the target's live
 * pacing quota once the 429's snapshot is in it: the shares already counted there (calls sent since,
 * and the retries of earlier 429s still waiting) come first, so each caller refused by the same quota
 * waits behind the ones before it. Never longer than `atMostMs`.
 *
 * Per quota the snapshot reports: one refilling (a limit above what remains, a reset ahead) is waited
 * on until the call's share and the margin are back, or until it is full when the call needs more than
 * the whole limit; one without a rate to go by (no limit reported) until its reset; one whose reset has
 * passed not at all. The longest of these, when several are short (requests and tokens both spent).
 *
 * @example
 * ```ts
 * // A 10 000-token limit, none left, full in 6 min: one token back every 36 ms.
 * const quota = ProviderQuota.from({ limitTokens: 10_000, remainingTokens: 0, tokensResetAt: now + 360_000 }, now);
 * const need = { requests: 1, tokens: 700, inputTokens: 500, outputTokens: 200 };
 * quotaShareWaitMs(quota, need, 0.02, now, 360_000); // 32400: 700 tokens and a 200-token margin
 * quota.spend(need, now); // counted for the retry that waits for it
 * quotaShareWaitMs(quota, need, 0.02, now, 360_000); // 57600: the next caller waits behind it
 * ```
 */
export function quotaShareWaitMs(quota: ProviderQuota, need: QuotaNeed, marginFraction: number, now: number, atMostMs: number): number {
  return Math.min(quota.waitMs(need, marginFraction, now), atMostMs);
}
