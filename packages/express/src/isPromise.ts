/**
 * True when a `MaybePromise` (a store's or the limiter's answer) is the promise: the in-memory store
 * answers synchronously, Redis with a promise.
 *
 * @example
 * ```ts
 * const done = reservation.settle(usage);
 * if (isPromise(done)) done.catch(() => undefined);
 * ```
 */
export function isPromise<T>(v: T | PromiseLike<T>): v is PromiseLike<T> {
  return typeof (v as { then?: unknown } | null)?.then === 'function';
}
