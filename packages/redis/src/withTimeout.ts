import { startIoDeadline } from './ioDeadline';

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
 * I/O, not policy). A late rejection of `promise` is swallowed so it never becomes unhandled. The
 * deadline is a {@link startIoDeadline}: a reply that arrived in time while the event loop was blocked
 * past `ms` is read, and used, before the timeout is declared.
 *
 * @example
 * ```ts
 * const pong = await withTimeout(redis.ping(), 100);
 * ```
 */
export function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let done = false;
    const cancel = startIoDeadline(ms, () => {
      if (done) return;
      done = true;
      reject(new RedisTimeoutError(ms));
    });
    promise.then(
      (v) => {
        if (done) return;
        done = true;
        cancel();
        resolve(v);
      },
      (e: unknown) => {
        if (done) return;
        done = true;
        cancel();
        reject(e);
      },
    );
  });
}
