import { RedisTimeoutError, withTimeout } from './withTimeout';

describe('withTimeout', () => {
  afterEach(() => jest.useRealTimers());

  it('passes values and errors through', async () => {
    await expect(withTimeout(Promise.resolve(3), 50)).resolves.toBe(3);
    await expect(withTimeout(Promise.reject(new Error('boom')), 50)).rejects.toThrow('boom');
  });

  it('rejects with RedisTimeoutError when the promise is too slow, and swallows its late failure', async () => {
    jest.useFakeTimers();
    let fail!: (e: Error) => void;
    const slow = new Promise<never>((_, reject) => (fail = reject));
    const p = withTimeout(slow, 100);
    jest.advanceTimersByTime(100);
    await expect(p).rejects.toBeInstanceOf(RedisTimeoutError);
    await expect(p).rejects.toMatchObject({ code: 'ERR_LLMR_REDIS_TIMEOUT', timeoutMs: 100 });
    fail(new Error('late'));
    await Promise.resolve();
  });
});
