import { readRateLimitHeaders } from '@llm-resilience/core';
import { quotaResetDelay, type QuotaResetDelayInputs } from './quotaResetDelay';

const TOKENS_SPENT = { 'x-ratelimit-limit-tokens': '10000', 'x-ratelimit-remaining-tokens': '0', 'x-ratelimit-reset-tokens': '6m0s' };
const snap = (headers: Record<string, string>) => readRateLimitHeaders(headers, 0)!;
const inputs = (over: Partial<QuotaResetDelayInputs> = {}): QuotaResetDelayInputs => ({
  resetMs: 360_000,
  now: 0,
  maxHintMs: 60_000,
  random: () => 0,
  backoffMs: () => 250,
  ...over,
});

describe('quotaResetDelay', () => {
  it("waits for a request's share, plus a spread of up to 10% of it", () => {
    expect(quotaResetDelay(snap(TOKENS_SPENT), inputs())).toEqual({ delayMs: 7_236, source: 'quota_share' });
    // 0.5 × min(723.6, 1 000)
    expect(quotaResetDelay(snap(TOKENS_SPENT), inputs({ random: () => 0.5 }))).toEqual({ delayMs: 7_597, source: 'quota_share' });
  });

  it('spreads by at most 1 s, and never past the reset', () => {
    // One request of 10 back every 30 s: a 30 s share, spread at most 1 s.
    const requests = snap({ 'x-ratelimit-limit-requests': '10', 'x-ratelimit-remaining-requests': '0', 'x-ratelimit-reset-requests': '5m0s' });
    expect(quotaResetDelay(requests, inputs({ resetMs: 300_000, random: () => 0.999 }))).toEqual({ delayMs: 30_999, source: 'quota_share' });
    // 7.236 s and up to 723 ms of spread, stopped at a reset 7.3 s ahead.
    expect(quotaResetDelay(snap(TOKENS_SPENT), inputs({ resetMs: 7_300, random: () => 0.999 }))).toEqual({ delayMs: 7_300, source: 'quota_share' });
  });

  it('waits for one request and the margin of each quota, the longest of them', () => {
    const both = snap({ ...TOKENS_SPENT, 'x-ratelimit-limit-requests': '10', 'x-ratelimit-remaining-requests': '0', 'x-ratelimit-reset-requests': '2m0s' });
    // One request back every 12 s (a limit under 50 keeps no margin); the tokens' 7.236 s is shorter.
    expect(quotaResetDelay(both, inputs())).toEqual({ delayMs: 12_000, source: 'quota_share' });
    // One token asked for (every call sends one): a token limit under 50 (no margin) holds it back 1.5 s.
    const tiny = snap({ 'x-ratelimit-limit-tokens': '40', 'x-ratelimit-remaining-tokens': '0', 'x-ratelimit-reset-tokens': '60s' });
    expect(quotaResetDelay(tiny, inputs({ resetMs: 60_000 }))).toEqual({ delayMs: 1_500, source: 'quota_share' });
  });

  it('does not retry when the share is longer than maxHintMs, but never gives up on the reset alone', () => {
    const hourly = snap({ 'x-ratelimit-limit-requests': '10', 'x-ratelimit-remaining-requests': '0', 'x-ratelimit-reset-requests': '1h' });
    expect(quotaResetDelay(hourly, inputs({ resetMs: 3_600_000 }))).toBeUndefined(); // 6 min a request
    expect(quotaResetDelay(snap(TOKENS_SPENT), inputs({ maxHintMs: 10_000 }))).toEqual({ delayMs: 7_236, source: 'quota_share' });
  });

  it('waits for the reset itself when the headers give no refill rate (nothing is back sooner), or gives up over maxHintMs', () => {
    const noLimit = snap({ 'x-ratelimit-remaining-tokens': '0', 'x-ratelimit-reset-tokens': '20s' });
    expect(quotaResetDelay(noLimit, inputs({ resetMs: 20_000 }))).toEqual({ delayMs: 20_000, source: 'hint' });
    const longNoLimit = snap({ 'x-ratelimit-remaining-tokens': '0', 'x-ratelimit-reset-tokens': '6m0s' });
    expect(quotaResetDelay(longNoLimit, inputs())).toBeUndefined();
    const requestsNoLimit = snap({ 'x-ratelimit-remaining-requests': '0', 'x-ratelimit-reset-requests': '20s' });
    expect(quotaResetDelay(requestsNoLimit, inputs({ resetMs: 20_000 }))).toEqual({ delayMs: 20_000, source: 'hint' });
  });

  it('waits for the reset itself when the share is the whole quota (nothing back before the reset), or gives up over maxHintMs', () => {
    const one = snap({ 'x-ratelimit-limit-requests': '1', 'x-ratelimit-remaining-requests': '0', 'x-ratelimit-reset-requests': '1.5s' });
    expect(quotaResetDelay(one, inputs({ resetMs: 1_500 }))).toEqual({ delayMs: 1_500, source: 'hint' });
    const hourly = snap({ 'x-ratelimit-limit-requests': '1', 'x-ratelimit-remaining-requests': '0', 'x-ratelimit-reset-requests': '1h' });
    expect(quotaResetDelay(hourly, inputs({ resetMs: 3_600_000 }))).toBeUndefined();
  });

  it('takes the backoff when the reset has passed (the quota is full)', () => {
    const past = snap({ ...TOKENS_SPENT, 'x-ratelimit-reset-tokens': '0s' });
    expect(quotaResetDelay(past, inputs({ resetMs: 0 }))).toEqual({ delayMs: 250, source: 'backoff' });
  });
});
