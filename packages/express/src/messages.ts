import { userMessageFor, type ErrorKind, type Resilience } from '@llm-resilience/core';
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
 * and the wait (never the scope values, which may be user ids).
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
const GENERIC: Record<'rate_limited' | 'other', string> = {
  rate_limited: 'Too many requests right now. Please wait a moment and try again.',
  other: 'Something went wrong on our side. Please try again later.',
};

/**
 * The audience message of a kind, from the engine's policy messages when an engine is known.
 *
 * @example
 * ```ts
 * messageFor('overloaded', 'customer', engine); // "This request is taking longer than usual. We're trying another model now."
 * ```
 */
export function messageFor(kind: ErrorKind, audience: Audience, engine: Resilience | undefined): string {
  if (engine) return userMessageFor(kind, audience, engine.policy.messages);
  return kind === 'rate_limited' ? GENERIC.rate_limited : GENERIC.other;
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
