/** The parts of Node's `ServerResponse` the signal reads. */
interface RawResponse {
  once(event: 'close', listener: () => void): unknown;
  writableFinished?: boolean;
  destroyed?: boolean;
}

/** Node's `IncomingMessage`, as far as its socket goes. */
interface RawRequest {
  socket?: { destroyed?: boolean } | null;
}

function rawOf(v: unknown): unknown {
  return (v as { raw?: unknown } | null | undefined)?.raw ?? v;
}

function disconnected(): DOMException {
  return new DOMException('The client disconnected before the response was sent.', 'AbortError');
}

/**
 * A signal that aborts (with an `AbortError` `DOMException`) when the client goes away before the
 * response is finished: the connection closes and the response was not fully written. Already
 * aborted when the client left before the call (the response or the request's socket is destroyed),
 * as happens while a slow guard, pipe or middleware ran: a `'close'` that already fired never fires
 * again. Never aborts once the response was fully written. Reads Express's objects or Fastify's
 * (through their `raw`); `undefined` for a response that is neither (no `once`). The same check as
 * `@llm-resilience/express`'s `disconnectSignal`, on Nest's platform-neutral request and response.
 *
 * @example
 * ```ts
 * const http = context.switchToHttp();
 * const signal = clientDisconnectSignal(http.getRequest(), http.getResponse());
 * await openai.chat.completions.create(body, { signal });
 * ```
 */
export function clientDisconnectSignal(req: unknown, res: unknown): AbortSignal | undefined {
  const raw = rawOf(res) as Partial<RawResponse> | null | undefined;
  if (!raw || typeof raw.once !== 'function') return undefined;
  const controller = new AbortController();
  if (raw.writableFinished === true) return controller.signal;
  const socket = (rawOf(req) as RawRequest | null | undefined)?.socket;
  if (raw.destroyed === true || socket?.destroyed === true) {
    controller.abort(disconnected());
    return controller.signal;
  }
  raw.once('close', () => {
    if (!raw.writableFinished) controller.abort(disconnected());
  });
  return controller.signal;
}
