import { userMessageFor, type ErrorKind, type MessageKind, type Resilience } from '@llm-resilience/core';
import type { Audience, ResilienceModuleOptions } from '../types';

/**
 * Customer wording when an inbound limit (not a provider's) denies a request.
 *
 * @example
 * ```ts
 * res.body.message === INBOUND_LIMIT_CUSTOMER_MESSAGE;
 * ```
 */
export const INBOUND_LIMIT_CUSTOMER_MESSAGE = 'You are sending requests too quickly. Please wait a moment and try again.';

/**
 * The message of a 429 from an inbound limit: calm for customers; for the team it names the rule and
 * the wait (never the scope values, which may be user ids).
 *
 * @example
 * ```ts
 * inboundLimitMessage('internal', 'user:requests:1m', 3000); // "Inbound limit 'user:requests:1m' is exhausted; retry in 3 s (Retry-After)."
 * ```
 */
export function inboundLimitMessage(audience: Audience, ruleId: string, retryAfterMs: number): string {
  if (audience === 'customer') return INBOUND_LIMIT_CUSTOMER_MESSAGE;
  return Number.isFinite(retryAfterMs)
    ? `Inbound limit '${ruleId}' is exhausted; retry in ${Math.max(1, Math.ceil(retryAfterMs / 1000))} s (Retry-After).`
    : `Inbound limit '${ruleId}' denies this request at any time. Raise the rule's limit or burst.`;
}

/**
 * Who reads the message of a request on `route`: the explicit audience, else the route's (policy),
 * else the module's, else `customer`.
 *
 * @example
 * ```ts
 * audienceOf(engine, options, 'support_reply'); // 'customer'
 * ```
 */
export function audienceOf(
  engine: Resilience | undefined,
  options: ResilienceModuleOptions | undefined,
  route: string | undefined,
  explicit?: Audience,
): Audience {
  if (explicit) return explicit;
  const routePolicy = route !== undefined && engine && Object.hasOwn(engine.policy.routes, route) ? engine.policy.routes[route] : undefined;
  return routePolicy?.audience ?? options?.audience ?? 'customer';
}

const GENERIC = {
  rate_limited: 'Too many requests right now. Please wait a moment and try again.',
  too_large: 'This request is too long for us to process. Please shorten it and try again.',
  other: 'Something went wrong on our side. Please try again later.',
};

/** The engine's own: `'too_large'` for a rate limit the request can never pass, else the kind. */
export { messageKindOf } from '@llm-resilience/core';

/**
 * The audience message of a kind when the error carries none (or carries one for another audience);
 * `'too_large'` (see {@link messageKindOf}) for a rate limit the request can never pass:
 * the wording of `route` when the policy has it (its own `messages` merged over the policy's, as the
 * engine words its errors), else the policy's, when an engine is known; else a generic calm one.
 *
 * @example
 * ```ts
 * messageFor('overloaded', 'customer', engine); // "This request is taking longer than usual. We're trying another model now."
 * messageFor('overloaded', 'customer', engine, 'support_reply'); // the route's customer wording, if it has one
 * messageFor('too_large', 'customer', engine); // "This request is too long for us to process. Please shorten it and try again."
 * ```
 */
export function messageFor(kind: Exclude<MessageKind, 'queued'>, audience: Audience, engine: Resilience | undefined, route?: string): string {
  if (engine) {
    const routePolicy = route === undefined ? undefined : engine.policy.routes[route];
    return userMessageFor(kind, audience, routePolicy?.messages ?? engine.policy.messages);
  }
  return kind === 'rate_limited' ? GENERIC.rate_limited : kind === 'too_large' ? GENERIC.too_large : GENERIC.other;
}

/**
 * The JSON body of every error response of this package: Nest's `statusCode` / `message` / `error`,
 * plus the stable `code` and the engine's request id.
 *
 * @example
 * ```ts
 * const body: ResilienceErrorBody = { statusCode: 429, error: 'rate_limited', code: 'ERR_LLMR_NEST_INBOUND_LIMITED', message: 'You are sending requests too quickly. ...' };
 * ```
 */
export interface ResilienceErrorBody {
  statusCode: number;
  /** The error kind (`rate_limited`, `overloaded`, ...). */
  error: ErrorKind;
  code: string;
  /** The audience-appropriate message. */
  message: string;
  requestId?: string;
}

/**
 * Sets a response header on Express (`res.header`/`setHeader`) or Fastify (`reply.header`) responses.
 *
 * @example
 * ```ts
 * setResponseHeader(context.switchToHttp().getResponse(), 'Retry-After', '3');
 * ```
 */
export function setResponseHeader(res: unknown, name: string, value: string): void {
  const r = res as { header?: (n: string, v: string) => unknown; setHeader?: (n: string, v: string) => unknown; headersSent?: boolean } | undefined;
  if (!r || r.headersSent) return;
  if (typeof r.header === 'function') r.header(name, value);
  else if (typeof r.setHeader === 'function') r.setHeader(name, value);
}
