import { ProviderQuota, type QuotaNeed } from './ProviderQuota';

const tokens = (n: number): QuotaNeed => ({ requests: 1, tokens: n, inputTokens: 0, outputTokens: 0 });
const oneRequest: QuotaNeed = { requests: 1, tokens: 0, inputTokens: 0, outputTokens: 0 };
/** A snapshot with its times and counts rounded to 1e-6 (resets computed from a rate carry floating-point dust). */
const rounded = (snapshot: object) => Object.fromEntries(Object.entries(snapshot).map(([k, v]) => [k, Math.round((v as number) * 1e6) / 1e6]));

describe('ProviderQuota', () => {
  // 60 000 tokens a minute, none left at t = 0, full again at t = 60 s: 1 token back per ms.
  const exhausted = { limitTokens: 60_000, remainingTokens: 0, tokensResetAt: 60_000, observedAt: 0 };

  describe('refill since the snapshot was observed', () => {
    it('carries the remaining count forward at the rate the reset implies', () => {
      const quota = ProviderQuota.from(exhausted, 0);
      expect(quota.remainingAt(15_000)).toEqual({ limitTokens: 60_000, remainingTokens: 15_000, tokensResetAt: 60_000, observedAt: 15_000 });
      expect(quota.remainingAt(45_000).remainingTokens).toBe(45_000);
    });

    it('goes by when the snapshot was observed, not when it arrived: one received 30 s late is half refilled', () => {
      const quota = ProviderQuota.from(exhausted, 30_000);
      expect(quota.reportedAt).toBe(0);
      expect(quota.remainingAt(30_000).remainingTokens).toBe(30_000);
      // 3 000 tokens and a 1 200-token margin fit in the 30 000 back by now.
      expect(quota.waitMs(tokens(3_000), 0.02, 30_000)).toBe(0);
    });

    it('waits for what is still missing after the refill, not for a share of the time left until the reset', () => {
      const quota = ProviderQuota.from(exhausted, 0);
      // 2 000 back at t = 2 s; 4 200 needed: 2.2 s more.
      expect(quota.waitMs(tokens(3_000), 0.02, 2_000)).toBe(2_200);
    });

    it('takes a snapshot without observedAt as observed when it is received', () => {
      const quota = ProviderQuota.from({ limitTokens: 60_000, remainingTokens: 0, tokensResetAt: 90_000 }, 30_000);
      expect(quota.reportedAt).toBe(30_000);
      expect(quota.snapshot()).toEqual({ limitTokens: 60_000, remainingTokens: 0, tokensResetAt: 90_000, observedAt: 30_000 });
      expect(quota.remainingAt(60_000).remainingTokens).toBe(30_000);
    });
  });

  describe('resets', () => {
    it('takes a reset already past as the full limit', () => {
      const quota = ProviderQuota.from(exhausted, 0);
      expect(quota.remainingAt(60_000).remainingTokens).toBe(60_000);
      expect(quota.remainingAt(600_000).remainingTokens).toBe(60_000);
      expect(quota.waitMs(tokens(50_000), 0.02, 600_000)).toBe(0);
    });

    it('counts calls sent after the reset against the full limit, and moves the reset later by their refill time', () => {
      // 10 requests a minute, none left, full at t = 60 s: one back every 6 s.
      const quota = ProviderQuota.from({ limitRequests: 10, remainingRequests: 0, requestsResetAt: 60_000, observedAt: 0 }, 0);
      for (let i = 0; i < 10; i++) {
        expect(quota.waitMs(oneRequest, 0.02, 120_000)).toBe(0);
        quota.spend(oneRequest, 120_000);
      }
      expect(quota.snapshot()).toEqual({ limitRequests: 10, remainingRequests: 0, requestsResetAt: 180_000, observedAt: 120_000 });
      expect(quota.waitMs(oneRequest, 0.02, 120_000)).toBe(6_000);
      expect(quota.waitMs(oneRequest, 0.02, 123_000)).toBe(3_000);
    });

    it('without a limit, holds calls until the reset when short, adds no refill before it and knows nothing after it', () => {
      const quota = ProviderQuota.from({ remainingRequests: 0, requestsResetAt: 20_000, observedAt: 0 }, 0);
      expect(quota.remainingAt(10_000).remainingRequests).toBe(0);
      expect(quota.waitMs(oneRequest, 0.02, 10_000)).toBe(10_000);
      expect(quota.waitMs(oneRequest, 0.02, 20_000)).toBe(0);
    });

    it('with a limit but no rate to go by (reported full), counts calls against it until the reset, then drops it', () => {
      const quota = ProviderQuota.from({ limitRequests: 2, remainingRequests: 2, requestsResetAt: 10_000, observedAt: 0 }, 0);
      quota.spend(oneRequest, 0);
      quota.spend(oneRequest, 0);
      expect(quota.waitMs(oneRequest, 0.02, 1_000)).toBe(9_000);
      // Full again at the reset; when the quota comes back after the calls sent then is unknown.
      expect(quota.remainingAt(10_000).remainingRequests).toBe(2);
      expect(quota.waitMs(oneRequest, 0.02, 10_000)).toBe(0);
      // So the first call counted after it drops the quota: it holds nothing back, and nothing would
      // restore what calls take from it.
      quota.spend(oneRequest, 10_000);
      expect(quota.isEmpty).toBe(true);
      expect(quota.snapshot()).toEqual({ observedAt: 10_000 });
      expect(quota.waitMs(oneRequest, 0.02, 10_000)).toBe(0);
    });

    it('holds nothing back on a quota without a reset time', () => {
      const quota = ProviderQuota.from({ limitTokens: 1_000, remainingTokens: 0, observedAt: 0 }, 0);
      expect(quota.waitMs(tokens(500), 0.02, 0)).toBe(0);
    });
  });

  describe('spending', () => {
    it('deducts a call and keeps refilling at the same rate: the reset moves later by the call share', () => {
      const quota = ProviderQuota.from({ limitTokens: 60_000, remainingTokens: 30_000, tokensResetAt: 30_000, observedAt: 0 }, 0);
      quota.spend(tokens(3_000), 10_000);
      expect(quota.snapshot()).toEqual({ limitTokens: 60_000, remainingTokens: 37_000, tokensResetAt: 33_000, observedAt: 10_000 });
      expect(quota.remainingAt(20_000).remainingTokens).toBe(47_000);
    });

    it('lets a call that needs more than the limit wait until the quota is full, no longer', () => {
      const quota = ProviderQuota.from(exhausted, 0);
      expect(quota.waitMs(tokens(100_000), 0.02, 10_000)).toBe(50_000);
    });

    it('keeps the margin in whole units: the last of 4 requests is not held back for 0.08 of a request', () => {
      const quota = ProviderQuota.from({ limitRequests: 4, remainingRequests: 1, requestsResetAt: 45_000, observedAt: 0 }, 0);
      expect(quota.waitMs(oneRequest, 0.02, 0)).toBe(0);
      // 50 requests keep 1 over: with 1 left, the call waits for one more (60 s / 50 = 1.2 s).
      const fifty = ProviderQuota.from({ limitRequests: 50, remainingRequests: 1, requestsResetAt: 58_800, observedAt: 0 }, 0);
      expect(fifty.waitMs(oneRequest, 0.02, 0)).toBe(1_200);
    });

    it('waits for the slowest of several quotas', () => {
      const quota = ProviderQuota.from(
        { limitRequests: 100, remainingRequests: 50, requestsResetAt: 60_000, limitOutputTokens: 1_000, remainingOutputTokens: 0, outputTokensResetAt: 10_000, observedAt: 0 },
        0,
      );
      // Output tokens: 100 per second back; 500 + 20 needed.
      expect(quota.waitMs({ requests: 1, tokens: 0, inputTokens: 0, outputTokens: 500 }, 0.02, 0)).toBe(5_200);
    });
  });

  describe('giving back', () => {
    const need: QuotaNeed = { requests: 1, tokens: 5_000, inputTokens: 1_000, outputTokens: 4_000 };
    // 100 requests and 60 000 tokens a minute (60 000 input, 20 000 output), half of each left at t = 0.
    const half = {
      limitRequests: 100,
      remainingRequests: 50,
      requestsResetAt: 30_000,
      limitTokens: 60_000,
      remainingTokens: 30_000,
      tokensResetAt: 30_000,
      limitInputTokens: 60_000,
      remainingInputTokens: 30_000,
      inputTokensResetAt: 30_000,
      limitOutputTokens: 20_000,
      remainingOutputTokens: 10_000,
      outputTokensResetAt: 30_000,
      observedAt: 0,
    };

    it('gives back all a call never sent took, at once: the quota is as it was', () => {
      const quota = ProviderQuota.from(half, 0);
      quota.spend(need, 10_000);
      const before = ProviderQuota.from(half, 0).remainingAt(10_000);
      expect(quota.snapshot()).not.toEqual(before);
      quota.giveBack(need, 10_000);
      expect(rounded(quota.snapshot())).toEqual(rounded(before));
    });

    it('gives back later as if the call had never been counted: refill since included, reset moved earlier consistently', () => {
      const quota = ProviderQuota.from(half, 0);
      quota.spend(tokens(10_000), 0);
      expect(quota.snapshot()).toMatchObject({ remainingTokens: 20_000, tokensResetAt: 40_000 });
      quota.giveBack(tokens(10_000), 5_000);
      // Never counted, it would have 30 000 + 5 000 refilled at 5 s, and be full at 30 s.
      expect(quota.snapshot()).toMatchObject({ remainingTokens: 35_000, tokensResetAt: 30_000, observedAt: 5_000 });
      expect(quota.remainingAt(30_000).remainingTokens).toBe(60_000);
      // 59 000 back by 29 s: 57 000 and the 1 200-token margin fit.
      expect(quota.waitMs(tokens(57_000), 0.02, 29_000)).toBe(0);
    });

    it('never gives back above the limit: a call given back after the quota refilled leaves it full, reset now', () => {
      const quota = ProviderQuota.from(exhausted, 0);
      quota.spend(tokens(3_000), 120_000);
      expect(quota.snapshot()).toMatchObject({ remainingTokens: 57_000, tokensResetAt: 123_000 });
      quota.giveBack(tokens(3_000), 125_000);
      expect(quota.snapshot()).toEqual({ limitTokens: 60_000, remainingTokens: 60_000, tokensResetAt: 125_000, observedAt: 125_000 });
    });

    it('gives back per quota what the estimate was above the use, and takes more where the use was above it', () => {
      const quota = ProviderQuota.from(half, 0);
      quota.spend(need, 0);
      // It used 1 200 input tokens (200 more than estimated) and 100 output tokens (3 900 fewer).
      quota.giveBack({ requests: 0, tokens: 3_700, inputTokens: -200, outputTokens: 3_900 }, 0);
      expect(quota.snapshot()).toMatchObject({
        remainingRequests: 49,
        remainingTokens: 30_000 - 1_300,
        remainingInputTokens: 30_000 - 1_200,
        remainingOutputTokens: 10_000 - 100,
        inputTokensResetAt: 31_200,
        outputTokensResetAt: 30_000 + 300,
      });
    });

    it('without a refill rate, caps what it gives back at the limit and leaves the reset alone', () => {
      const quota = ProviderQuota.from({ limitRequests: 2, remainingRequests: 2, requestsResetAt: 10_000, observedAt: 0 }, 0);
      quota.spend(oneRequest, 0);
      quota.spend(oneRequest, 1_000);
      quota.giveBack(oneRequest, 2_000);
      expect(quota.snapshot()).toEqual({ limitRequests: 2, remainingRequests: 1, requestsResetAt: 10_000, observedAt: 2_000 });
      quota.giveBack({ ...oneRequest, requests: 5 }, 2_000);
      expect(quota.snapshot()).toMatchObject({ remainingRequests: 2 });
      // Without a limit: what was taken comes back, uncapped.
      const unlimited = ProviderQuota.from({ remainingRequests: 3, requestsResetAt: 10_000, observedAt: 0 }, 0);
      unlimited.spend(oneRequest, 0);
      unlimited.giveBack(oneRequest, 1_000);
      expect(unlimited.snapshot()).toEqual({ remainingRequests: 3, requestsResetAt: 10_000, observedAt: 1_000 });
    });

    it('gives nothing back to a quota dropped since (no rate, reset passed)', () => {
      const quota = ProviderQuota.from({ remainingRequests: 1, requestsResetAt: 10_000, ...exhausted }, 0);
      quota.spend(oneRequest, 5_000);
      quota.giveBack(oneRequest, 12_000);
      expect(quota.snapshot()).toEqual({ limitTokens: 60_000, remainingTokens: 12_000, tokensResetAt: 60_000, observedAt: 12_000 });
    });
  });

  describe('quotas nobody refreshes', () => {
    it('drops a quota without a limit once a call is counted after its reset', () => {
      const quota = ProviderQuota.from({ remainingRequests: 0, requestsResetAt: 20_000, observedAt: 0 }, 0);
      quota.spend(oneRequest, 19_000);
      expect(quota.snapshot()).toMatchObject({ remainingRequests: -1 });
      quota.spend(oneRequest, 20_000);
      expect(quota.isEmpty).toBe(true);
    });

    it('drops a quota without a reset time at the first call counted: it never held anything back', () => {
      const quota = ProviderQuota.from({ limitTokens: 1_000, remainingTokens: 0, observedAt: 0 }, 0);
      expect(quota.isEmpty).toBe(false);
      expect(quota.snapshot()).toEqual({ limitTokens: 1_000, remainingTokens: 0, observedAt: 0 });
      quota.spend(tokens(500), 0);
      expect(quota.isEmpty).toBe(true);
    });

    it('does not drift: a limit reported full (no rate) is dropped, a refilling one stays within a call of full', () => {
      const full = ProviderQuota.from({ limitRequests: 100, remainingRequests: 100, requestsResetAt: 0, observedAt: 0 }, 0);
      const refilling = ProviderQuota.from({ limitRequests: 100, remainingRequests: 99, requestsResetAt: 600, observedAt: 0 }, 0);
      for (let minute = 1; minute <= 300; minute++) {
        full.spend(oneRequest, minute * 60_000);
        refilling.spend(oneRequest, minute * 60_000);
      }
      expect(full.isEmpty).toBe(true);
      expect(refilling.snapshot()).toEqual({ limitRequests: 100, remainingRequests: 99, requestsResetAt: 300 * 60_000 + 600, observedAt: 300 * 60_000 });
    });

    it('keeps only the quotas that still say something', () => {
      const quota = ProviderQuota.from({ ...exhausted, limitRequests: 10, remainingRequests: 10, requestsResetAt: 5_000 }, 0);
      quota.spend(oneRequest, 6_000);
      expect(quota.isEmpty).toBe(false);
      expect(quota.snapshot()).toEqual({ limitTokens: 60_000, remainingTokens: 6_000, tokensResetAt: 60_000, observedAt: 6_000 });
    });
  });

  describe('clocks and malformed snapshots', () => {
    it('takes an observedAt later than the receipt (a sender clock ahead) as observed at receipt: no refill is lost or invented', () => {
      const quota = ProviderQuota.from({ limitRequests: 100, remainingRequests: 0, requestsResetAt: 70_000, observedAt: 10_000 }, 0);
      expect(quota.reportedAt).toBe(0);
      expect(quota.remainingAt(0).remainingRequests).toBe(0);
      // Refills over the 70 s to its reset as seen here (100 per 70 s): 1 request and a margin of 2 in 2.1 s.
      expect(quota.waitMs(oneRequest, 0.02, 0)).toBe(2_100);
    });

    it('does not carry a quota back in time: a clock reading before its own time sees it as of then', () => {
      const quota = ProviderQuota.from(exhausted, 0);
      quota.spend(tokens(0), 10_000);
      expect(quota.remainingAt(5_000).remainingTokens).toBe(10_000);
      // 10 000 back at t = 10 s; 5 000 + 1 200 needed: the clock reads 5 s, so nothing left to wait for after t = 10 s.
      expect(quota.waitMs(tokens(5_000), 0.02, 5_000)).toBe(0);
      expect(quota.waitMs(tokens(15_000), 0.02, 5_000)).toBe(5_000 + 6_200);
    });

    it('ignores fields that are not finite numbers', () => {
      const quota = ProviderQuota.from({ limitTokens: Number.NaN, remainingTokens: 0, tokensResetAt: 10_000, remainingRequests: Infinity, observedAt: Number.NaN }, 0);
      expect(quota.snapshot()).toEqual({ remainingTokens: 0, tokensResetAt: 10_000, observedAt: 0 });
      expect(quota.waitMs(tokens(1), 0.02, 0)).toBe(10_000);
    });
  });
});
