import { IterableReadableStream } from '@langchain/core/utils/stream';

/**
 * `events` as LangChain encodes them for `streamEvents(..., { encoding: 'text/event-stream' })`: one
 * `event: data` message per event (its JSON), then `event: end`. Unlike LangChain's own encoder, which
 * keeps reading the events after its reader left and frees a reader lock while a read is pending (Node
 * then reports an `ERR_INTERNAL_ASSERTION` through LangChain's callback warnings), leaving these bytes
 * early (`break`, `return()`, `cancel()`) closes `events` at once and reads nothing more from them.
 *
 * @example
 * ```ts
 * const bytes = eventStreamBytes(stopOnCancel(Runnable.prototype.streamEvents.call(safe, input, { version: 'v1' }), stop));
 * for await (const chunk of bytes) res.write(chunk); // 'event: data\ndata: {"event":"on_chain_start",...}\n\n'
 * ```
 */
export function eventStreamBytes<T>(events: IterableReadableStream<T>): IterableReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  let ended = false;
  return new IterableReadableStream<Uint8Array>({
    async pull(controller) {
      const next = await events.next();
      // Left while the read was pending: the read ended with the events, nobody reads what would follow.
      if (ended) return;
      if (next.done === true) {
        ended = true;
        controller.enqueue(encoder.encode('event: end\n\n'));
        controller.close();
      } else {
        controller.enqueue(encoder.encode(`event: data\ndata: ${JSON.stringify(next.value)}\n\n`));
      }
    },
    async cancel() {
      ended = true;
      try {
        await events.return();
      } catch {
        // Closing the events after a `break`: nobody reads what comes after it.
      }
    },
  });
}
