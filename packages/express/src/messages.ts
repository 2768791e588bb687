import { messageKindOf, userMessageFor, type ErrorKind, type MessageKind, type Resilience } from '@llm-resilience/core';
import type { Audience } from './types';

/**
 * Customer wording when an inbound limit (not a provider's) denies.
 *
 * @example
 * ```ts
 * resilience({ engine, limits, limitMessages: { customer: INBOUND_LIMIT_CUSTOMER_MESSAGE } });
 * ```
 */
export const INBOUND_LIMIT_CUSTOMER_MESSAGE = 'You are sending requests too quickly. Please wait a moment and try again.';

/**
 * The message of a 429 from an inbound limit: calm for customers; for the team it names the rule
 * and the wait (never the scope values, which may be user ids). The middleware words a denial no wait
 * ends with {@link inboundDenialMessage}.
 *
 * @example
 * ```ts
 * inboundLimitMessage('internal', 'user-rpm', 3000); // "Inbound limit 'user-rpm' is exhausted; retry in 3 s (Retry-After)."
 * ```
 */
export function inboundLimitMessage(
  audience: Audience,
  ruleId: string,
  retryAfterMs: number,
  overrides?: Partial<Record<Audience, string>>,
): string {
  // Anything but 'internal' (a bad value from an audience function) gets the customer wording.
  const a: Audience = audience === 'internal' ? 'internal' : 'customer';
  const override = overrides?.[a];
  if (typeof override === 'string') return override;
  if (a === 'customer') return INBOUND_LIMIT_CUSTOMER_MESSAGE;
  return Number.isFinite(retryAfterMs)
    ? `Inbound limit '${ruleId}' is exhausted; retry in ${Math.max(1, Math.ceil(retryAfterMs / 1000))} s (Retry-After).`
    : `Inbound limit '${ruleId}' denies this request at any time: it asks for more than the rule's capacity. Raise the rule's burst or lower the estimate.`;
}

/** Generic wording when neither the error nor an engine gives one. */
const GENERIC: Record<'rate_limited' | 'too_large' | 'other', string> = {
  rate_limited: 'Too many requests right now. Please wait a moment and try again.',
  too_large: 'This request is too long for us to process. Please shorten it and try again.',
  other: 'Something went wrong on our side. Please try again later.',
};

/**
 * The audience message of a kind, or of `'too_large'` (a rate limit no wait lets the request pass,
 * see core's `messageKindOf`): from the messages of `route` in the policy when given and known, else
 * the policy's, when an engine is known; else a generic calm one.
 *
 * @example
 * ```ts
 * messageFor('overloaded', 'customer', engine); // "This request is taking longer than usual. We're trying another model now."
 * messageFor('too_large', 'customer', engine);  // "This request is too long for us to process. Please shorten it and try again."
 * ```
 */
export function messageFor(kind: Exclude<MessageKind, 'queued'>, audience: Audience, engine: Resilience | undefined, route?: string): string {
  if (engine) {
    const routePolicy = route !== undefined && Object.hasOwn(engine.policy.routes, route) ? engine.policy.routes[route] : undefined;
    return userMessageFor(kind, audience, routePolicy?.messages ?? engine.policy.messages);
  }
  return kind === 'rate_limited' || kind === 'too_large' ? GENERIC[kind] : GENERIC.other;
}

/**
 * The message of the answer to an inbound denial: {@link inboundLimitMessage} (with the
 * `limitMessages` overrides) for a denial a wait ends; for one no wait ends (`retryAfterMs: Infinity`:
 * the request alone exceeds the rule's capacity, answered 413) the engine's `too_large` wording for
 * customers ("shorten it", never "wait a moment"; of `route` when the policy has it), and for the team
 * the rule and what to change. The overrides are 429 wording, so they do not apply to it.
 *
 * @example
 * ```ts
 * inboundDenialMessage('customer', 'team-tokens', Infinity, undefined, engine); // "This request is too long for us to process. ..."
 * ```
 */
export function inboundDenialMessage(
  audience: Audience,
  ruleId: string,
  retryAfterMs: number,
  overrides: Partial<Record<Audience, string>> | undefined,
  engine: Resilience | undefined,
  route?: string,
): string {
  if (messageKindOf('rate_limited', retryAfterMs) !== 'too_large') return inboundLimitMessage(audience, ruleId, retryAfterMs, overrides);
  return audience === 'internal' ? inboundLimitMessage('internal', ruleId, retryAfterMs) : messageFor('too_large', 'customer', engine, route);
}

/**
 * The message of the SSE error event that ends a stream broken after its first token (no retry
 * or fallback is possible any more: part of the reply was sent).
 *
 * @example
 * ```ts
 * streamInterruptedMessage('customer', 'network'); // 'The reply was interrupted. Please try again.'
 * ```
 */
export function streamInterruptedMessage(audience: Audience, kind: ErrorKind): string {
  return audience !== 'internal'
    ? 'The reply was interrupted. Please try again.'
    : `The upstream stream broke after its first token (${kind}); the reply is incomplete and could not be retried or sent to a fallback.`;
}
