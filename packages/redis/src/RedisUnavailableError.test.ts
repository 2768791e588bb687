import { RedisUnavailableError } from './RedisUnavailableError';

describe('RedisUnavailableError', () => {
  it('carries the time to the next probe as retryAfterMs', () => {
    const e = new RedisUnavailableError('reserve', 200, new Error('connect ECONNREFUSED'));
    expect(e).toMatchObject({ kind: 'unknown', code: 'ERR_LLMR_REDIS_UNAVAILABLE', retryAfterMs: 200 });
    expect(e.message).toMatch(/next attempt in 200 ms/);
  });

  it.each([0, -5, NaN, 0.4])('never hints a wait below 1 ms (got %p): a 0 makes callers retry in a hot loop', (wait) => {
    const e = new RedisUnavailableError('reserve', wait);
    expect(e.retryAfterMs).toBe(1);
    expect(e.message).toMatch(/next attempt in 1 ms/);
  });
});
