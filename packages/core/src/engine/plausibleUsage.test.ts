import { MAX_PLAUSIBLE_TOKENS, plausibleUsage } from './plausibleUsage';

const ESTIMATE = { inputTokens: 800, outputTokens: 200 };
const check = (reported: { inputTokens: number; outputTokens: number }, contextWindow: number | undefined) =>
  plausibleUsage(reported, ESTIMATE.inputTokens, ESTIMATE.outputTokens, contextWindow);

describe('plausibleUsage', () => {
  it('keeps a plausible report as it is (the same object)', () => {
    const reported = { inputTokens: 812, outputTokens: 120 };
    expect(check(reported, 128_000)).toEqual({ usage: reported, replaced: undefined });
    expect(check(reported, 128_000).usage).toBe(reported);
    expect(check({ inputTokens: 0, outputTokens: 0 }, undefined).replaced).toBeUndefined();
  });

  it.each([
    ['NaN', NaN],
    ['Infinity', Infinity],
    ['a negative count', -1_000_000],
    ['a string', '500'],
    ['undefined', undefined],
    ['an overflowing count', 1e308],
  ])('replaces %s by the estimate, field by field', (_name, bad) => {
    const r = check({ inputTokens: 812, outputTokens: bad as number }, 128_000);
    expect(r).toEqual({ usage: { inputTokens: 812, outputTokens: 200 }, replaced: ['outputTokens'] });
    const both = check({ inputTokens: bad as number, outputTokens: bad as number }, 128_000);
    expect(both).toEqual({ usage: ESTIMATE, replaced: ['inputTokens', 'outputTokens'] });
  });

  it('bounds a count by twice the context window, or by MAX_PLAUSIBLE_TOKENS without one', () => {
    expect(check({ inputTokens: 256_000, outputTokens: 1 }, 128_000).replaced).toBeUndefined();
    expect(check({ inputTokens: 256_001, outputTokens: 1 }, 128_000).replaced).toEqual(['inputTokens']);
    expect(check({ inputTokens: 1e9, outputTokens: 1 }, undefined).replaced).toEqual(['inputTokens']);
    expect(check({ inputTokens: MAX_PLAUSIBLE_TOKENS, outputTokens: 1 }, undefined).replaced).toBeUndefined();
  });
});
