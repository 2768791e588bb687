/**
 * Calls `onExpired` once `ms` have passed and the I/O that was ready by then has been read; returns a
 * function that cancels it. When the timer fires, the verdict waits for the event loop's next check
 * phase (a `setImmediate`), which comes after its poll phase, where Node reads the sockets.
 *
 * Why: after the event loop was blocked for longer than `ms` (a long synchronous step, a GC pause),
 * Node runs expired timers before it reads the sockets. A plain timer would declare a timeout although
 * Redis answered in a millisecond and its reply is waiting, unread, in the socket. Deferred, the reply
 * is read first, its handler cancels the deadline, and only a reply that has really not arrived counts
 * as a timeout. The timer does not keep the process alive. The deferral is not unref'd: an unref'd
 * immediate lets the poll phase block until some I/O or timer wakes the loop, which would hold the
 * verdict back for as long as Redis stays silent.
 *
 * @example
 * ```ts
 * const cancel = startIoDeadline(100, () => reject(new RedisTimeoutError(100)));
 * redis.ping().then((pong) => { cancel(); resolve(pong); });
 * ```
 */
export function startIoDeadline(ms: number, onExpired: () => void): () => void {
  let deferred: ReturnType<typeof setImmediate> | undefined;
  const timer = setTimeout(() => {
    deferred = setImmediate(onExpired);
  }, ms);
  timer.unref?.();
  return () => {
    clearTimeout(timer);
    if (deferred !== undefined) clearImmediate(deferred);
  };
}
