import { IterableReadableStream } from '@langchain/core/utils/stream';

/**
 * `stream`, re-wrapped so that leaving it (`break`, `return()`, `cancel()`) aborts `stop` at once and
 * only then closes `stream`. LangChain's streams built with `IterableReadableStream.fromAsyncGenerator`
 * read one item ahead: left early, their `return()` queues behind that pending read and ends only when
 * the next item comes, which may take as long as the work takes to make progress (a request waiting for
 * admission). Aborting `stop` first lets that work end now, and the pending read with it. Errors of
 * `stream` reach the reader unchanged; an error from closing it after the abort is dropped (nobody reads
 * what comes after a `break`; LangChain's `streamEvents` v2 rethrows its run's abort from there).
 *
 * @example
 * ```ts
 * const stop = new AbortController();
 * const events = stopOnCancel(Runnable.prototype.streamEvents.call(safe, input, { version: 'v1' }), stop);
 * for await (const e of events) if (done(e)) break; // aborts `stop`, then closes the events
 * ```
 */
export function stopOnCancel<T>(stream: IterableReadableStream<T>, stop: AbortController): IterableReadableStream<T> {
  let cancelled = false;
  return new IterableReadableStream<T>({
    async pull(controller) {
      const next = await stream.next();
      if (cancelled) return;
      if (next.done === true) controller.close();
      else controller.enqueue(next.value);
    },
    async cancel() {
      cancelled = true;
      stop.abort();
      try {
        await stream.return();
      } catch {
        // The abort ended the stream with an error.
      }
    },
  });
}
