/**
 * The error a Redis operation fails with when it takes longer than the store's `timeoutMs`.
 *
 * @example
 * ```ts
 * if (err instanceof RedisTimeoutError) console.warn('Redis slower than', err.timeoutMs, 'ms');
 * ```
 */
export class RedisTimeoutError extends Error {
  readonly code = 'ERR_LLMR_REDIS_TIMEOUT';
  constructor(readonly timeoutMs: number) {
    super(`Redis did not answer within ${timeoutMs} ms`);
    this.name = 'RedisTimeoutError';
  }
}

/**
 * Resolves like `promise`, or rejects with {@link RedisTimeoutError} after `ms` (real time: this bounds
 * I/O, not policy). A late rejection of `promise` is swallowed so it never becomes unhandled.
 *
 * @example
 * ```ts
 * const pong = await withTimeout(redis.ping(), 100);
 * ```
 */
export function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let done = false;
    const timer = setTimeout(() => {
      if (done) return;
      done = true;
      reject(new RedisTimeoutError(ms));
    }, ms);
    timer.unref?.();
    promise.then(
      (v) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        resolve(v);
      },
      (e: unknown) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        reject(e);
      },
    );
  });
}
