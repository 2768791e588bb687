import { anthropicRateLimitHeaders, formatOpenAIDuration, formatRfc3339, openAIRateLimitHeaders, retryAfterHeaders } from './headers';

describe('formatOpenAIDuration', () => {
  it.each([
    [12, '12ms'],
    [0, '0ms'],
    [1000, '1s'],
    [1500, '1.5s'],
    [59_974, '59.974s'],
    [360_000, '6m0s'],
    [61_250, '1m1.25s'],
    [3_723_000, '1h2m3s'],
  ])('%d ms -> %s', (ms, text) => {
    expect(formatOpenAIDuration(ms)).toBe(text);
  });
});

describe('formatRfc3339', () => {
  it('rounds up to whole seconds in UTC', () => {
    expect(formatRfc3339(0)).toBe('1970-01-01T00:00:00Z');
    expect(formatRfc3339(1_500)).toBe('1970-01-01T00:00:02Z');
  });
});

describe('retryAfterHeaders', () => {
  it('sends whole seconds rounded up and exact milliseconds', () => {
    expect(retryAfterHeaders(1_200)).toEqual({ 'retry-after': '2', 'retry-after-ms': '1200' });
    expect(retryAfterHeaders(0)).toEqual({ 'retry-after': '0', 'retry-after-ms': '0' });
  });
});

describe('rate-limit header sets', () => {
  const snap = {
    rpm: { limit: 60, remaining: 59, resetMs: 1000 },
    tpm: { limit: 1000, remaining: 900, resetMs: 6000 },
    itpm: { limit: 500, remaining: 400, resetMs: 12_000 },
    otpm: { limit: 300, remaining: 100, resetMs: 40_000 },
  };

  it('OpenAI: requests from RPM, tokens from TPM', () => {
    expect(openAIRateLimitHeaders(snap)).toEqual({
      'x-ratelimit-limit-requests': '60',
      'x-ratelimit-remaining-requests': '59',
      'x-ratelimit-reset-requests': '1s',
      'x-ratelimit-limit-tokens': '1000',
      'x-ratelimit-remaining-tokens': '900',
      'x-ratelimit-reset-tokens': '6s',
    });
  });

  it('Anthropic: RFC 3339 resets, tokens = fewest remaining', () => {
    const h = anthropicRateLimitHeaders(snap, 0);
    expect(h['anthropic-ratelimit-requests-reset']).toBe('1970-01-01T00:00:01Z');
    expect(h['anthropic-ratelimit-input-tokens-remaining']).toBe('400');
    expect(h['anthropic-ratelimit-output-tokens-limit']).toBe('300');
    expect(h['anthropic-ratelimit-tokens-remaining']).toBe('100');
    expect(h['anthropic-ratelimit-tokens-reset']).toBe('1970-01-01T00:00:40Z');
  });
});
