/**
 * @internal Closes a model call's value that nobody will read: the call was cut off (its timeout, the
 * deadline or the caller's abort) but ignored its signal and answered later, maybe with a stream the
 * provider is still generating (and billing). Only stream-like values are touched; anything else, and
 * any error while closing, is left alone:
 *
 * - an SDK stream (`openai`, `@anthropic-ai/sdk`: async iterable with a `controller`): `controller.abort()`;
 * - an Anthropic `MessageStream` (async iterable with `abort()`): `abort()`;
 * - a web `ReadableStream` (LangChain's streams too): `cancel()`; a fetch `Response`: its body's `cancel()`;
 * - a Node `Readable` (async iterable with `destroy()`) that is not flowing (piped or read): `destroy()`;
 * - any other async iterable (an async generator, e.g. a wrapper around an SDK stream): its iterator is
 *   started with one `next()`, then `return()`ed, so the generator's own cleanup (a `finally`, or the
 *   `for await` over the stream it wraps) runs: `return()` on a generator that has not started ends it
 *   without running any of its code. That one chunk is read and dropped.
 *
 * @example
 * ```ts
 * ctx.unfinished.then(closeUnread, () => undefined);
 * ```
 */
export function closeUnread(value: unknown): void {
  if (value === null || typeof value !== 'object') return;
  try {
    if (typeof Response === 'function' && value instanceof Response) {
      if (value.body !== null && !value.bodyUsed) quiet(value.body.cancel());
      return;
    }
    if (typeof ReadableStream === 'function' && value instanceof ReadableStream) {
      if (!value.locked) quiet(value.cancel());
      return;
    }
    const v = value as {
      [Symbol.asyncIterator]?: unknown;
      controller?: { abort?: unknown };
      abort?: unknown;
      destroy?: unknown;
    };
    const iterate = v[Symbol.asyncIterator];
    if (typeof iterate !== 'function') return;
    const controller = v.controller;
    if (controller !== null && typeof controller === 'object' && typeof controller.abort === 'function') {
      (controller.abort as () => void).call(controller);
    } else if (typeof v.abort === 'function') {
      quiet((v.abort as () => unknown).call(v));
    } else if (typeof v.destroy === 'function') {
      if ((v as { readableFlowing?: unknown }).readableFlowing !== true) (v.destroy as () => void).call(v);
    } else {
      const iterator = (iterate as () => { next?: () => unknown; return?: () => unknown }).call(v);
      if (iterator === null || typeof iterator !== 'object' || typeof iterator.return !== 'function') return;
      const end = (): void => quiet(iterator.return!());
      if (typeof iterator.next !== 'function') end();
      else Promise.resolve(iterator.next()).then(end, () => undefined);
    }
  } catch {
    // A value that cannot be closed is left to the garbage collector, as before.
  }
}

/** Swallows the rejection of `p` when it is a promise (closing is best effort). */
function quiet(p: unknown): void {
  if (p !== null && typeof p === 'object' && typeof (p as PromiseLike<unknown>).then === 'function') {
    (p as PromiseLike<unknown>).then(undefined, () => undefined);
  }
}
