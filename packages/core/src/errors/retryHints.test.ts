import { headerGetter, parseDuration, parseRetryAfterMs, readRateLimitHeaders, retryAfterFromRateLimit, retryInfoDelayMs } from './retryHints';

const NOW = Date.parse('2026-03-01T12:00:00.000Z');

describe('headerGetter', () => {
  it('reads a WHATWG Headers case-insensitively', () => {
    const get = headerGetter(new Headers({ 'Retry-After': '3' }));
    expect(get('retry-after')).toBe('3');
    expect(get('RETRY-AFTER')).toBe('3');
    expect(get('x-missing')).toBeUndefined();
  });

  it('reads a plain object with keys in any case, numbers and arrays', () => {
    const get = headerGetter({ 'X-RateLimit-Remaining-Requests': '9', 'retry-after': 2, 'set-cookie': ['a=1', 'b=2'] });
    expect(get('x-ratelimit-remaining-requests')).toBe('9');
    expect(get('Retry-After')).toBe('2');
    expect(get('set-cookie')).toBe('a=1');
  });

  it('reads a Map with keys in any case', () => {
    const get = headerGetter(new Map<string, unknown>([['Retry-After-Ms', '250']]));
    expect(get('retry-after-ms')).toBe('250');
  });

  it('reads any object with get() (axios-like), trying the lower-case name too', () => {
    const store: Record<string, string> = { 'retry-after': '4' };
    const get = headerGetter({ get: (name: string) => store[name] ?? null });
    expect(get('Retry-After')).toBe('4');
  });

  it('treats empty values, garbage and hostile objects as absent', () => {
    expect(headerGetter({ 'retry-after': '   ' })('retry-after')).toBeUndefined();
    expect(headerGetter(null)('retry-after')).toBeUndefined();
    expect(headerGetter('retry-after: 1')('retry-after')).toBeUndefined();
    expect(headerGetter(42)('retry-after')).toBeUndefined();
    const throwingGetter = Object.defineProperty({}, 'retry-after', {
      enumerable: true,
      get() {
        throw new Error('boom');
      },
    });
    expect(headerGetter(throwingGetter)('retry-after')).toBeUndefined();
    const throwingGet = { get: () => { throw new Error('boom'); } };
    expect(headerGetter(throwingGet)('retry-after')).toBeUndefined();
    const { proxy, revoke } = Proxy.revocable({}, {});
    revoke();
    expect(headerGetter(proxy)('retry-after')).toBeUndefined();
  });
});

describe('parseDuration', () => {
  it.each([
    ['6m0s', 360_000],
    ['1s', 1000],
    ['12ms', 12],
    ['59.5s', 59_500],
    ['1h2m3s', 3_723_000],
    ['19.42s', 19_420],
    ['0s', 0],
    ['2m59.56s', 179_560],
    ['1.5', 1500],
    ['500us', 1],
  ])('%s -> %i ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each(['', 'soon', '-1s', '1d', 's', '1 s', '1s2', 'NaN'])('rejects %j', (text) => {
    expect(parseDuration(text)).toBeUndefined();
  });

  it('rejects non-strings', () => {
    expect(parseDuration(5 as unknown as string)).toBeUndefined();
  });
});

describe('parseRetryAfterMs', () => {
  it('reads retry-after as whole and fractional seconds', () => {
    expect(parseRetryAfterMs({ 'retry-after': '2' }, NOW)).toBe(2000);
    expect(parseRetryAfterMs({ 'Retry-After': '1.5' }, NOW)).toBe(1500);
    expect(parseRetryAfterMs({ 'retry-after': '0' }, NOW)).toBe(0);
  });

  it('reads retry-after as an HTTP date relative to now, a past date as 0', () => {
    const inTenSeconds = new Date(NOW + 10_000).toUTCString();
    expect(parseRetryAfterMs(new Headers({ 'retry-after': inTenSeconds }), NOW)).toBe(10_000);
    expect(parseRetryAfterMs({ 'retry-after': 'Wed, 21 Oct 2015 07:28:00 GMT' }, NOW)).toBe(0);
  });

  it('reads an asctime date as GMT whatever the host time zone', () => {
    // 2026-03-01T12:00:05Z; Date.parse alone would read it in local time.
    expect(parseRetryAfterMs({ 'retry-after': 'Sun Mar  1 12:00:05 2026' }, NOW)).toBe(5000);
    expect(parseRetryAfterMs({ 'retry-after': 'Sun, 01 Mar 2026 12:00:05 GMT' }, NOW)).toBe(5000);
  });

  it('prefers retry-after-ms, then x-ms-retry-after-ms, then retry-after', () => {
    expect(parseRetryAfterMs({ 'retry-after': '9', 'retry-after-ms': '120', 'x-ms-retry-after-ms': '350' }, NOW)).toBe(120);
    expect(parseRetryAfterMs({ 'retry-after': '9', 'x-ms-retry-after-ms': '350' }, NOW)).toBe(350);
    expect(parseRetryAfterMs(new Map([['Retry-After', '9']]), NOW)).toBe(9000);
  });

  it('skips invalid values and falls through to the next header', () => {
    expect(parseRetryAfterMs({ 'retry-after-ms': 'soon', 'retry-after': '3' }, NOW)).toBe(3000);
    expect(parseRetryAfterMs({ 'retry-after': '-1' }, NOW)).toBeUndefined();
    expect(parseRetryAfterMs({ 'retry-after': 'later' }, NOW)).toBeUndefined();
    expect(parseRetryAfterMs({}, NOW)).toBeUndefined();
    expect(parseRetryAfterMs(undefined, NOW)).toBeUndefined();
  });
});

describe('readRateLimitHeaders', () => {
  it('reads OpenAI x-ratelimit-* with Go-duration resets as absolute times', () => {
    const headers = new Headers({
      'x-ratelimit-limit-requests': '500',
      'x-ratelimit-remaining-requests': '499',
      'x-ratelimit-reset-requests': '12ms',
      'x-ratelimit-limit-tokens': '30000',
      'x-ratelimit-remaining-tokens': '0',
      'x-ratelimit-reset-tokens': '6m0s',
    });
    expect(readRateLimitHeaders(headers, NOW)).toEqual({
      limitRequests: 500,
      remainingRequests: 499,
      requestsResetAt: NOW + 12,
      limitTokens: 30_000,
      remainingTokens: 0,
      tokensResetAt: NOW + 360_000,
    });
  });

  it('reads "1s", "59.5s" and "1h2m3s" resets', () => {
    expect(readRateLimitHeaders({ 'x-ratelimit-reset-requests': '1s' }, NOW)).toEqual({ requestsResetAt: NOW + 1000 });
    expect(readRateLimitHeaders({ 'x-ratelimit-reset-tokens': '59.5s' }, NOW)).toEqual({ tokensResetAt: NOW + 59_500 });
    expect(readRateLimitHeaders({ 'x-ratelimit-reset-tokens': '1h2m3s' }, NOW)).toEqual({ tokensResetAt: NOW + 3_723_000 });
  });

  it('reads Anthropic anthropic-ratelimit-* with RFC 3339 resets', () => {
    const headers = {
      'anthropic-ratelimit-requests-limit': '50',
      'anthropic-ratelimit-requests-remaining': '49',
      'anthropic-ratelimit-requests-reset': '2026-03-01T12:00:01Z',
      'anthropic-ratelimit-tokens-limit': '90000',
      'anthropic-ratelimit-tokens-remaining': '88000',
      'anthropic-ratelimit-tokens-reset': '2026-03-01T12:00:06.5Z',
      'Anthropic-RateLimit-Input-Tokens-Limit': '40000',
      'anthropic-ratelimit-input-tokens-remaining': '39000',
      'anthropic-ratelimit-input-tokens-reset': '2026-03-01T12:00:02+00:00',
      'anthropic-ratelimit-output-tokens-limit': '8000',
      'anthropic-ratelimit-output-tokens-remaining': '0',
      'anthropic-ratelimit-output-tokens-reset': '2026-03-01T12:01:00Z',
    };
    expect(readRateLimitHeaders(headers, NOW)).toEqual({
      limitRequests: 50,
      remainingRequests: 49,
      requestsResetAt: NOW + 1000,
      limitTokens: 90_000,
      remainingTokens: 88_000,
      tokensResetAt: NOW + 6500,
      limitInputTokens: 40_000,
      remainingInputTokens: 39_000,
      inputTokensResetAt: NOW + 2000,
      limitOutputTokens: 8000,
      remainingOutputTokens: 0,
      outputTokensResetAt: NOW + 60_000,
    });
  });

  it('reads bare-number resets as seconds from now, or epoch seconds when large', () => {
    expect(readRateLimitHeaders({ 'x-ratelimit-reset-requests': '20' }, NOW)).toEqual({ requestsResetAt: NOW + 20_000 });
    expect(readRateLimitHeaders({ 'x-ratelimit-reset-requests': String((NOW + 5000) / 1000) }, NOW)).toEqual({
      requestsResetAt: NOW + 5000,
    });
  });

  it('reads a 13-digit reset as epoch milliseconds, not as epoch seconds x1000 (millennia away)', () => {
    const headers = { 'x-ratelimit-remaining-requests': '0', 'x-ratelimit-reset-requests': String(NOW + 20_000) };
    const snap = readRateLimitHeaders(headers, NOW);
    expect(snap).toEqual({ remainingRequests: 0, requestsResetAt: NOW + 20_000 });
    expect(retryAfterFromRateLimit(snap!, NOW)).toBe(20_000);
    // Fractional epoch milliseconds round; the boundary: 1e12 is still epoch seconds, above it milliseconds.
    expect(readRateLimitHeaders({ 'anthropic-ratelimit-tokens-reset': `${NOW + 1500}.6` }, NOW)).toEqual({ tokensResetAt: NOW + 1501 });
    expect(readRateLimitHeaders({ 'x-ratelimit-reset-tokens': '1000000000000' }, NOW)).toEqual({ tokensResetAt: 1e15 });
    expect(readRateLimitHeaders({ 'x-ratelimit-reset-tokens': '1000000000001' }, NOW)).toEqual({ tokensResetAt: 1_000_000_000_001 });
  });

  it('prefers the OpenAI header when both vendors send the same field', () => {
    expect(readRateLimitHeaders({ 'x-ratelimit-remaining-tokens': '5', 'anthropic-ratelimit-tokens-remaining': '7' }, NOW)).toEqual({
      remainingTokens: 5,
    });
  });

  it('returns undefined when nothing valid is present', () => {
    expect(readRateLimitHeaders({}, NOW)).toBeUndefined();
    expect(readRateLimitHeaders({ 'x-ratelimit-remaining-tokens': 'lots', 'x-ratelimit-reset-tokens': 'soon' }, NOW)).toBeUndefined();
    expect(readRateLimitHeaders(null, NOW)).toBeUndefined();
  });
});

describe('retryAfterFromRateLimit', () => {
  it('is the latest reset among the exhausted quotas', () => {
    expect(retryAfterFromRateLimit({ remainingRequests: 0, requestsResetAt: NOW + 20_000, remainingTokens: 5_000, tokensResetAt: NOW + 60_000 }, NOW)).toBe(20_000);
    expect(retryAfterFromRateLimit({ remainingRequests: 0, requestsResetAt: NOW + 20_000, remainingTokens: 0, tokensResetAt: NOW + 6_000 }, NOW)).toBe(20_000);
    expect(retryAfterFromRateLimit({ remainingOutputTokens: 0, outputTokensResetAt: NOW - 5 }, NOW)).toBe(0);
  });

  it('is undefined when no quota is at 0 or its reset is unknown', () => {
    expect(retryAfterFromRateLimit({ remainingRequests: 3, requestsResetAt: NOW + 20_000 }, NOW)).toBeUndefined();
    expect(retryAfterFromRateLimit({ remainingTokens: 0 }, NOW)).toBeUndefined();
    expect(retryAfterFromRateLimit({}, NOW)).toBeUndefined();
  });
});

describe('retryInfoDelayMs', () => {
  it('reads google.rpc.RetryInfo retryDelay "19.42s" among other details', () => {
    const details = [
      { '@type': 'type.googleapis.com/google.rpc.QuotaFailure', violations: [{ quotaMetric: 'x' }] },
      { '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: '19.42s' },
    ];
    expect(retryInfoDelayMs(details)).toBe(19_420);
  });

  it('reads the protobuf { seconds, nanos } form', () => {
    expect(retryInfoDelayMs([{ '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: { seconds: 2, nanos: 500_000_000 } }])).toBe(2500);
    expect(retryInfoDelayMs([{ '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: { seconds: '3' } }])).toBe(3000);
  });

  it('reads int64 seconds as protobuf libraries give them: bigint (protobuf-es) and Long (protobufjs)', () => {
    const T = 'type.googleapis.com/google.rpc.RetryInfo';
    expect(retryInfoDelayMs([{ '@type': T, retryDelay: { seconds: 19n, nanos: 420_000_000 } }])).toBe(19_420);
    const long = { low: 19, high: 0, unsigned: false, toNumber: () => 19 };
    expect(retryInfoDelayMs([{ '@type': T, retryDelay: { seconds: long, nanos: 420_000_000 } }])).toBe(19_420);
    // Unreadable seconds: no hint, rather than the nanos alone (a hint far too short).
    expect(retryInfoDelayMs([{ '@type': T, retryDelay: { seconds: 'abc', nanos: 500_000_000 } }])).toBeUndefined();
  });

  it('returns undefined without a usable RetryInfo', () => {
    expect(retryInfoDelayMs([{ '@type': 'type.googleapis.com/google.rpc.QuotaFailure' }])).toBeUndefined();
    expect(retryInfoDelayMs([{ '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: 'soon' }])).toBeUndefined();
    expect(retryInfoDelayMs([null, 1, 'x'])).toBeUndefined();
    expect(retryInfoDelayMs({ retryDelay: '1s' })).toBeUndefined();
    expect(retryInfoDelayMs(undefined)).toBeUndefined();
  });
});
