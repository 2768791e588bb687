import { MAX_PLAUSIBLE_TOKENS, plausibleUsage } from './plausibleUsage';

const ESTIMATE = { inputTokens: 800, outputTokens: 200 };

describe('plausibleUsage', () => {
  it('keeps a plausible report as it is (the same object)', () => {
    const reported = { inputTokens: 812, outputTokens: 120 };
    expect(plausibleUsage(reported, ESTIMATE, 128_000)).toEqual({ usage: reported, replaced: undefined });
    expect(plausibleUsage(reported, ESTIMATE, 128_000).usage).toBe(reported);
    expect(plausibleUsage({ inputTokens: 0, outputTokens: 0 }, ESTIMATE, undefined).replaced).toBeUndefined();
  });

  it.each([
    ['NaN', NaN],
    ['Infinity', Infinity],
    ['a negative count', -1_000_000],
    ['a string', '500'],
    ['undefined', undefined],
    ['an overflowing count', 1e308],
  ])('replaces %s by the estimate, field by field', (_name, bad) => {
    const r = plausibleUsage({ inputTokens: 812, outputTokens: bad as number }, ESTIMATE, 128_000);
    expect(r).toEqual({ usage: { inputTokens: 812, outputTokens: 200 }, replaced: ['outputTokens'] });
    const both = plausibleUsage({ inputTokens: bad as number, outputTokens: bad as number }, ESTIMATE, 128_000);
    expect(both).toEqual({ usage: ESTIMATE, replaced: ['inputTokens', 'outputTokens'] });
  });

  it('bounds a count by twice the context window, or by MAX_PLAUSIBLE_TOKENS without one', () => {
    expect(plausibleUsage({ inputTokens: 256_000, outputTokens: 1 }, ESTIMATE, 128_000).replaced).toBeUndefined();
    expect(plausibleUsage({ inputTokens: 256_001, outputTokens: 1 }, ESTIMATE, 128_000).replaced).toEqual(['inputTokens']);
    expect(plausibleUsage({ inputTokens: 1e9, outputTokens: 1 }, ESTIMATE, undefined).replaced).toEqual(['inputTokens']);
    expect(plausibleUsage({ inputTokens: MAX_PLAUSIBLE_TOKENS, outputTokens: 1 }, ESTIMATE, undefined).replaced).toBeUndefined();
  });
});
