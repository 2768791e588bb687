import type { ErrorRequestHandler, NextFunction, Request, Response } from 'express';
import { httpErrorOf, httpMessageKind } from '@llm-resilience/core';
import { ExpressConfigError } from './ExpressConfigError';
import { messageFor } from './messages';
import { checkAudience, checkFunctions, invalidOption, typeOf } from './optionChecks';
import { setRetryAfter } from './rateLimitHeaders';
import { setShouldRetry } from './shouldRetry';
import type { ErrorHandlerOptions } from './types';

/**
 * Express error handler for the core's typed errors. Answers
 * `{ error: { type: <kind>, code, message: <audience message>, retry_after_ms?, request_id? } }`
 * with the status of {@link httpErrorOf} (429 own limit, 503 chain exhausted or overloaded,
 * 504 timeout, 502 upstream failure, 400 invalid or too long, 422 policy rejection, 499 cancelled)
 * and `Retry-After` when a wait is known. The message is the one the engine chose for the
 * request's audience; internal messages (provider names, limits, keys) never reach the client.
 * A cancelled request whose socket is gone gets no answer and is not passed on, also when its
 * response had started (a stream the client left); errors it does not know go to `next`,
 * and so does the package's own {@link ExpressConfigError} (a misconfiguration met on a request, such
 * as an `identity(req)` result with a non-string field): a fault of the server, which the app's next
 * error handler (or Express's) answers with 500, never the client's 400.
 *
 * @example
 * ```ts
 * app.use(resilience({ engine }));
 * app.post('/chat', async (req, res) => res.json((await req.resilience.execute('chat', call)).value));
 * app.use(resilienceErrorHandler());
 * ```
 */
export function resilienceErrorHandler(options: ErrorHandlerOptions = {}): ErrorRequestHandler {
  checkErrorHandlerOptions(options);
  return function llmResilienceErrorHandler(err: unknown, req: Request, res: Response, next: NextFunction): void {
    // Its kind is `invalid_request` (a ResilienceError), but the mistake is the server's, not the client's.
    if (err instanceof ExpressConfigError) return next(err);
    const http = httpErrorOf(err);
    if (http === undefined) return next(err);
    options.onError?.(err, req);
    if (http.kind === 'cancelled' && (res.destroyed || req.socket?.destroyed === true)) {
      // The client left (also in the middle of a stream already started): a routine event, not a
      // server error, so nothing is passed on. Nobody reads the response: tear it down.
      if (!res.destroyed) res.destroy();
      return;
    }
    if (res.headersSent) {
      // Too late for a status: let Express end the response (it closes the connection).
      return next(err);
    }
    const ctx = (req as Partial<Request>).resilience;
    const audience = options.audience ?? ctx?.audience ?? 'customer';
    const message = http.userMessage ?? messageFor(httpMessageKind(http), audience, options.engine ?? ctx?.engine);
    setRetryAfter(res, http.retryAfterMs);
    setShouldRetry(res, http);
    res.status(http.status).json({
      error: {
        type: http.kind,
        code: http.code,
        message,
        ...(http.retryAfterMs !== undefined ? { retry_after_ms: Math.ceil(http.retryAfterMs) } : {}),
        ...(http.requestId !== undefined ? { request_id: http.requestId } : {}),
      },
    });
  };
}

const WHAT = 'resilienceErrorHandler()';

/** Start-up checks: a bad option would otherwise fail (or be ignored) only when an error arrives. */
function checkErrorHandlerOptions(options: ErrorHandlerOptions): void {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) throw invalidOption(WHAT, 'options', 'an object', typeOf(options));
  const engine: unknown = options.engine;
  if (engine !== undefined && (typeof engine !== 'object' || engine === null || typeof (engine as { policy?: unknown }).policy !== 'object')) {
    throw invalidOption(WHAT, 'engine', 'the engine from createResilience(policy)', typeOf(engine));
  }
  checkAudience(WHAT, options.audience, false);
  checkFunctions(WHAT, options, { onError: '(err, req) => void' });
}
