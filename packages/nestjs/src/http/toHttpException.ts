import type { Resilience } from '@llm-resilience/core';
import { HttpException } from '@nestjs/common';
import type { Audience } from '../types';
import { httpErrorOf, httpMessageKind, retryAfterSeconds, type HttpErrorInfo } from '@llm-resilience/core';
import { messageFor, type ResilienceErrorBody } from './messages';
import { nestConfigErrorIn } from '../NestConfigError';

/**
 * An HTTP response for a core error: the `HttpException` to throw or render, and the `Retry-After`
 * header to set (when the error says when to come back).
 *
 * @example
 * ```ts
 * const r = resilienceHttpResponse(err, 'customer', engine);
 * if (r?.retryAfter) res.header('Retry-After', r.retryAfter);
 * ```
 */
export interface ResilienceHttpResponse {
  exception: HttpException;
  info: HttpErrorInfo;
  body: ResilienceErrorBody;
  /** Seconds for `Retry-After`, if known. */
  retryAfter?: string;
}

/** The policy route an engine error's record names, if any. */
function routeOf(err: unknown): string | undefined {
  const route = (err as { record?: { route?: unknown } } | null)?.record?.route;
  return typeof route === 'string' ? route : undefined;
}

/**
 * Builds the HTTP response of a core error (see `httpErrorOf` for the status table); undefined for
 * errors that are not the core's, and for this adapter's own setup errors ({@link NestConfigError},
 * also when it is the cause of an engine error): those are faults of the server, not 400s of the
 * client, and are left to Nest, which logs them and answers a plain 500. The message is the one the
 * engine attached for the route's audience, else the policy's wording for `audience`; with
 * `explicitAudience` (a controller's `@RateLimited({ audience })`, which may differ from the route's),
 * always the wording for `audience` of the route the error's record names (its own `messages`
 * included), else the policy's; a rate limit the request can never pass (`retryAfterMs: Infinity`, 413)
 * is worded as too large ("shorten it"), as the engine words it. Never the internal error message.
 *
 * @example
 * ```ts
 * resilienceHttpResponse(chainExhausted, 'customer', engine)?.exception.getStatus(); // 503
 * resilienceHttpResponse(new NestConfigError('ERR_LLMR_NEST_NO_MODULE', '...'), 'customer', engine); // undefined
 * ```
 */
export function resilienceHttpResponse(err: unknown, audience: Audience, engine: Resilience | undefined, explicitAudience = false): ResilienceHttpResponse | undefined {
  if (nestConfigErrorIn(err)) return undefined;
  const info = httpErrorOf(err);
  if (!info) return undefined;
  const body: ResilienceErrorBody = {
    statusCode: info.status,
    error: info.kind,
    code: info.code,
    message: (explicitAudience ? undefined : info.userMessage) ?? messageFor(httpMessageKind(info), audience, engine, routeOf(err)),
    ...(info.requestId !== undefined ? { requestId: info.requestId } : {}),
  };
  const retryAfter = retryAfterSeconds(info.retryAfterMs);
  return {
    exception: new HttpException(body, info.status, { cause: err }),
    info,
    body,
    ...(retryAfter !== undefined ? { retryAfter } : {}),
  };
}
