import { RedisTimeoutError, withTimeout } from './withTimeout';

/**
 * Fake time past a deadline of `ms`, then the event loop's check phase, where the deadline's verdict
 * comes (after the I/O that was ready when it expired: see `startIoDeadline`).
 */
function passDeadline(ms: number): void {
  jest.advanceTimersByTime(ms);
  jest.runOnlyPendingTimers();
}

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
    passDeadline(100);
    await expect(p).rejects.toBeInstanceOf(RedisTimeoutError);
    await expect(p).rejects.toMatchObject({ code: 'ERR_LLMR_REDIS_TIMEOUT', timeoutMs: 100 });
    fail(new Error('late'));
    await Promise.resolve();
  });

  it('takes a reply read after its timer fired but before the verdict (the event loop was blocked past ms)', async () => {
    jest.useFakeTimers();
    let answer!: (v: string) => void;
    const p = withTimeout(new Promise<string>((resolve) => (answer = resolve)), 100);
    jest.advanceTimersByTime(100); // the timer fires first, as Node runs expired timers before reading sockets
    answer('pong'); // ... then the poll phase reads the reply that was waiting
    await Promise.resolve();
    jest.runOnlyPendingTimers(); // the check phase: the deadline's verdict
    await expect(p).resolves.toBe('pong');
  });
});
