import { classifyWithHintSource } from '../errors/classifyError';
import { readRateLimitHeaders } from '../errors/retryHints';
import { ProviderQuota } from './ProviderQuota';
import { quotaShareRetryAfterMs, shareRetryAfterMs } from './shareRetryAfterMs';

const NOW = 1_000_000;
const NO_TOKENS = { inputTokens: 0, outputTokens: 0 };
const TOKENS_SPENT = { 'x-ratelimit-limit-tokens': '10000', 'x-ratelimit-remaining-tokens': '0', 'x-ratelimit-reset-tokens': '6m0s' };
const snap = (headers: Record<string, string>) => readRateLimitHeaders(headers, NOW)!;
/** The wait for one request and `estimate` after a 429 with `headers` whose only hint is `resetMs`. */
const waitOn = (headers: Record<string, string>, resetMs: number, random = () => 0, estimate = NO_TOKENS) =>
  shareRetryAfterMs(snap(headers), estimate, NOW, resetMs, random);

describe('shareRetryAfterMs', () => {
  it("waits for one request's share and the 2% margin at the quota's refill rate, not for its reset", () => {
    // 10 000 tokens in 6 min: one back every 36 ms; the 200-token margin in 7.2 s.
    expect(waitOn(TOKENS_SPENT, 360_000)).toBe(7_200);
    // With the call's tokens: 700 and the margin, 32.4 s (the engine's own wait for that call).
    expect(waitOn(TOKENS_SPENT, 360_000, () => 0, { inputTokens: 500, outputTokens: 200 })).toBe(32_400);
  });

  it('takes the longest of the quotas short of the share', () => {
    const both = { ...TOKENS_SPENT, 'x-ratelimit-limit-requests': '10', 'x-ratelimit-remaining-requests': '0', 'x-ratelimit-reset-requests': '2m0s' };
    // One request back every 12 s (a limit under 50 keeps no margin); the tokens' 7.2 s is shorter.
    expect(waitOn(both, 360_000)).toBe(12_000);
  });

  it('counts what remains: a quota holding the share waits nothing, one partly short waits for the rest', () => {
    expect(waitOn({ 'x-ratelimit-limit-requests': '500', 'x-ratelimit-remaining-requests': '499', 'x-ratelimit-reset-requests': '120ms' }, 120)).toBe(0);
    // 150 of the 200-token margin left, 9 850 used refill in 59.1 s (6 ms a token): 50 missing.
    expect(waitOn({ 'x-ratelimit-limit-tokens': '10000', 'x-ratelimit-remaining-tokens': '150', 'x-ratelimit-reset-tokens': '59.1s' }, 59_100)).toBe(300);
    // A limit under 50 tokens keeps no margin: zero tokens needed, nothing held back.
    expect(waitOn({ 'x-ratelimit-limit-tokens': '40', 'x-ratelimit-remaining-tokens': '0', 'x-ratelimit-reset-tokens': '60s' }, 60_000)).toBe(0);
  });

  it("reads Anthropic's quotas and RFC 3339 resets", () => {
    const headers = {
      'anthropic-ratelimit-input-tokens-limit': '30000',
      'anthropic-ratelimit-input-tokens-remaining': '0',
      'anthropic-ratelimit-input-tokens-reset': new Date(NOW + 60_000).toISOString(),
    };
    // 30 000 in 60 s: one token back every 2 ms; margin 600 tokens.
    expect(waitOn(headers, 60_000)).toBe(1_200);
  });

  it('adds a spread of up to 10% of the wait, at most 1 s, never past the reset', () => {
    expect(waitOn(TOKENS_SPENT, 360_000, () => 0.5)).toBe(7_560);
    // One request of 10 back every 30 s: spread at most 1 s.
    const requests = { 'x-ratelimit-limit-requests': '10', 'x-ratelimit-remaining-requests': '0', 'x-ratelimit-reset-requests': '5m0s' };
    expect(waitOn(requests, 300_000, () => 0.999)).toBe(30_999);
    expect(waitOn(TOKENS_SPENT, 7_300, () => 0.999)).toBe(7_300);
  });

  it('is undefined when the snapshot shows nothing sooner than the reset', () => {
    // A request quota without a limit: no refill rate, pacing waits for its reset.
    expect(waitOn({ 'x-ratelimit-remaining-requests': '0', 'x-ratelimit-reset-requests': '20s' }, 20_000)).toBeUndefined();
    // A token quota without a limit, when the call's tokens are known; with none, it holds nothing back.
    const noLimit = { 'x-ratelimit-remaining-tokens': '0', 'x-ratelimit-reset-tokens': '20s' };
    expect(waitOn(noLimit, 20_000, () => 0, { inputTokens: 500, outputTokens: 200 })).toBeUndefined();
    expect(waitOn(noLimit, 20_000)).toBe(0);
    // The share is the whole quota: one request a 1.5 s window.
    expect(waitOn({ 'x-ratelimit-limit-requests': '1', 'x-ratelimit-remaining-requests': '0', 'x-ratelimit-reset-requests': '1.5s' }, 1_500)).toBeUndefined();
    // A reset already past: the hint is 0.
    expect(waitOn({ ...TOKENS_SPENT, 'x-ratelimit-reset-tokens': '0s' }, 0)).toBeUndefined();
  });

  it('waits for the reset of a quota without a refill rate when it comes before the hint, as pacing does', () => {
    const headers = { ...TOKENS_SPENT, 'x-ratelimit-remaining-requests': '0', 'x-ratelimit-reset-requests': '10s' };
    expect(waitOn(headers, 360_000)).toBe(10_000);
  });

  it("counts the refill since the snapshot's observedAt", () => {
    // Read 3.6 s ago: 100 tokens are back, 100 of the margin are missing.
    const s = { ...readRateLimitHeaders(TOKENS_SPENT, NOW - 3_600)!, observedAt: NOW - 3_600 };
    expect(shareRetryAfterMs(s, NO_TOKENS, NOW, 356_400, () => 0)).toBe(3_600);
  });

  it('takes the hint and snapshot classifyWithHintSource gives for a reset-only 429', () => {
    const err = { status: 429, headers: TOKENS_SPENT };
    const { classified, hintSource } = classifyWithHintSource(err, { now: NOW });
    expect(hintSource).toBe('quota_reset');
    expect(shareRetryAfterMs(classified.rateLimit!, NO_TOKENS, NOW, classified.retryAfterMs!, () => 0)).toBe(7_200);
  });

  it('is what the engine computes on a quota read from the same snapshot', () => {
    const need = { requests: 1, tokens: 700, inputTokens: 500, outputTokens: 200 };
    const quota = ProviderQuota.from(snap(TOKENS_SPENT), NOW);
    expect(quotaShareRetryAfterMs(quota, need, NOW, 360_000, () => 0.5)).toBe(shareRetryAfterMs(snap(TOKENS_SPENT), { inputTokens: 500, outputTokens: 200 }, NOW, 360_000, () => 0.5));
  });

  it('rejects a non-finite clock, a missing reset and token counts that are not counts', () => {
    const s = snap(TOKENS_SPENT);
    expect(() => shareRetryAfterMs(s, NO_TOKENS, Number.NaN, 360_000, Math.random)).toThrow(RangeError);
    expect(() => shareRetryAfterMs(s, NO_TOKENS, NOW, Number.NaN, Math.random)).toThrow(/resetMs/);
    expect(() => shareRetryAfterMs(s, { inputTokens: -1, outputTokens: 0 }, NOW, 360_000, Math.random)).toThrow(/Pass 1 input token for an unknown count/);
    expect(() => shareRetryAfterMs(s, { inputTokens: 0, outputTokens: Number.POSITIVE_INFINITY }, NOW, 360_000, Math.random)).toThrow(RangeError);
  });
});
