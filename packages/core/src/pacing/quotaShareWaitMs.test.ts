import { readRateLimitHeaders, retryAfterFromRateLimit } from '../errors/retryHints';
import type { RateLimitSnapshot } from '../errors/ErrorKind';
import { ProviderQuota, type QuotaNeed } from './ProviderQuota';
import { quotaShareWaitMs } from './quotaShareWaitMs';

const now = 1_000_000;
/** The live quota a snapshot received at `now` gives. */
const live = (snap: RateLimitSnapshot) => ProviderQuota.from(snap, now);
/** One request of 500 input and 200 output tokens. */
const call700: QuotaNeed = { requests: 1, tokens: 700, inputTokens: 500, outputTokens: 200 };

/** The wait for `need` on the snapshot of `headers` received at `now`, capped by the reset-derived hint as the engine caps it. */
function waitOn(headers: Record<string, string>, need: QuotaNeed, margin = 0.02): { wait: number; reset: number } {
  const snap = readRateLimitHeaders(headers, now)!;
  const reset = retryAfterFromRateLimit(snap, now)!;
  return { wait: quotaShareWaitMs(ProviderQuota.from(snap, now), need, margin, now, reset), reset };
}

describe('quotaShareWaitMs', () => {
  const tokensSpent = { 'x-ratelimit-limit-tokens': '10000', 'x-ratelimit-remaining-tokens': '0', 'x-ratelimit-reset-tokens': '6m0s' };

  it('waits until the call’s share is back, not until the quota is full: 10 000 tokens in 6 min, 700 needed', () => {
    // One token back every 36 ms: 700 tokens in 25.2 s; with the 200-token margin pacing keeps, 32.4 s.
    expect(waitOn(tokensSpent, call700, 0)).toEqual({ wait: 25_200, reset: 360_000 });
    expect(waitOn(tokensSpent, call700).wait).toBe(32_400);
  });

  it('keeps the reset when no limit is reported: no refill rate can be derived', () => {
    const headers = { 'x-ratelimit-remaining-tokens': '0', 'x-ratelimit-reset-tokens': '6m0s' };
    expect(waitOn(headers, call700)).toEqual({ wait: 360_000, reset: 360_000 });
  });

  it('takes the longer of the waits when requests and tokens are both spent', () => {
    const both = {
      ...tokensSpent,
      // 10 requests, full in 2 min: one back every 12 s (a limit under 50 keeps no margin).
      'x-ratelimit-limit-requests': '10',
      'x-ratelimit-remaining-requests': '0',
      'x-ratelimit-reset-requests': '2m0s',
    };
    expect(waitOn(both, call700)).toEqual({ wait: 32_400, reset: 360_000 });
    // A small call: 10 tokens and the 200-token margin are back in 7.56 s, its request in 12 s.
    expect(waitOn(both, { requests: 1, tokens: 10, inputTokens: 5, outputTokens: 5 }).wait).toBe(12_000);
  });

  it('waits for the full reset when the call needs more than the whole limit, no longer', () => {
    expect(waitOn(tokensSpent, { requests: 1, tokens: 20_000, inputTokens: 10_000, outputTokens: 10_000 })).toEqual({ wait: 360_000, reset: 360_000 });
  });

  it('waits nothing on a snapshot whose reset has already passed', () => {
    const past = { limitTokens: 10_000, remainingTokens: 0, tokensResetAt: now - 1_000 };
    expect(quotaShareWaitMs(live(past), call700, 0.02, now, 0)).toBe(0);
    // Even given a longer cap: the quota is full again.
    expect(quotaShareWaitMs(live(past), call700, 0.02, now, 5_000)).toBe(0);
    expect(quotaShareWaitMs(live({ remainingTokens: 0, tokensResetAt: now - 1_000 }), call700, 0.02, now, 5_000)).toBe(0);
  });

  it('is never longer than the reset-derived hint it replaces', () => {
    // Tokens are spent, full in 10 s (the call's 900 are back in 0.9 s); 1 request of 100 is left,
    // full in 10 min: the call's request and the 2-request margin take 12.1 s. Capped at the 10 s the
    // hint said.
    const snap = {
      limitTokens: 10_000,
      remainingTokens: 0,
      tokensResetAt: now + 10_000,
      limitRequests: 100,
      remainingRequests: 1,
      requestsResetAt: now + 600_000,
    };
    expect(quotaShareWaitMs(live(snap), call700, 0.02, now, 10_000)).toBe(10_000);
  });

  it('counts what came back since a snapshot observed earlier', () => {
    // Observed 10 s ago as "0 left, full in 6 min": 277.8 tokens back already.
    const snap = { limitTokens: 10_000, remainingTokens: 0, tokensResetAt: now + 350_000, observedAt: now - 10_000 };
    expect(quotaShareWaitMs(live(snap), call700, 0, now, 350_000)).toBe(15_200);
  });

  it('counts the shares already counted on the quota first: a second caller waits behind the first', () => {
    const quota = live(readRateLimitHeaders(tokensSpent, now)!);
    expect(quotaShareWaitMs(quota, call700, 0.02, now, 360_000)).toBe(32_400);
    quota.spend(call700, now);
    // 2 × 700 tokens and the margin: 1 600 tokens at 36 ms each.
    expect(quotaShareWaitMs(quota, call700, 0.02, now, 360_000)).toBe(57_600);
    quota.giveBack(call700, now);
    expect(quotaShareWaitMs(quota, call700, 0.02, now, 360_000)).toBe(32_400);
  });
});
