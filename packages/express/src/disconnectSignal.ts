import type { IncomingMessage, ServerResponse } from 'node:http';
import { ClientDisconnectedError } from './ClientDisconnectedError';

/**
 * A signal that aborts (with a {@link ClientDisconnectedError}) when the connection closes before
 * the response finished: the client went away, so work for it can stop. Never aborts once the
 * response was fully written.
 *
 * @example
 * ```ts
 * const signal = disconnectSignal(req, res);
 * await fetch(upstream, { signal });
 * ```
 */
export function disconnectSignal(req: IncomingMessage, res: ServerResponse): AbortSignal {
  const c = new AbortController();
  if (res.writableFinished) return c.signal;
  if (res.destroyed || req.socket?.destroyed === true) {
    c.abort(new ClientDisconnectedError());
    return c.signal;
  }
  res.once('close', () => {
    if (!res.writableFinished) c.abort(new ClientDisconnectedError());
  });
  return c.signal;
}
