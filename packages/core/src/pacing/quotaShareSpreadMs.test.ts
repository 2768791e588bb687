import { QUOTA_SHARE_SPREAD_MAX_MS, quotaShareSpreadMs } from './quotaShareSpreadMs';

describe('quotaShareSpreadMs', () => {
  it('spreads up to 10% of a short wait', () => {
    expect(quotaShareSpreadMs(2_000, () => 0)).toBe(0);
    expect(quotaShareSpreadMs(2_000, () => 0.5)).toBe(100);
    expect(quotaShareSpreadMs(2_000, () => 0.999)).toBe(199);
  });

  it('never spreads more than 1 s, however long the wait', () => {
    expect(quotaShareSpreadMs(32_400, () => 0.5)).toBe(500);
    expect(quotaShareSpreadMs(360_000, () => 0.999_999)).toBeLessThan(QUOTA_SHARE_SPREAD_MAX_MS);
  });

  it('gives different draws different waits, so processes do not retry at the same millisecond', () => {
    expect(quotaShareSpreadMs(32_400, () => 0.1)).toBe(100);
    expect(quotaShareSpreadMs(32_400, () => 0.9)).toBe(900);
  });

  it('adds nothing to a wait of 0 (nothing to spread: the retry takes the jittered backoff)', () => {
    expect(quotaShareSpreadMs(0, () => 0.9)).toBe(0);
  });
});
