import type { ErrorKind } from '../errors/ErrorKind';
import { isNeverFits } from '../errors/isNeverFits';
import type { AudienceMessages } from '../policy/Policy';

/**
 * Who reads a failure message: your own team (direct: which limit, what to do) or customers (calm:
 * wait, retry or expect a delay; never provider names, quota numbers or fallback chains).
 *
 * @example
 * ```ts
 * const audience: MessageAudience = route.audience; // 'customer'
 * ```
 */
export type MessageAudience = 'internal' | 'customer';

/**
 * Per-kind wording that replaces the built-in one, per audience.
 *
 * @example
 * ```ts
 * const overrides: MessageOverrides = { quota_exhausted: { internal: 'OpenAI credit is out; #ops was paged.' } };
 * ```
 */
export type MessageOverrides = Partial<Record<MessageKind, Partial<Record<MessageAudience, string>>>>;

/**
 * What a message is about: an error kind, `'queued'` (work waiting in a queue), or `'too_large'`: a
 * rate limit the request can never pass, whatever the wait (`rate_limited` with `retryAfterMs:
 * Infinity`: it alone exceeds the limit, e.g. OpenAI's 429 "Request too large").
 *
 * @example
 * ```ts
 * const kind: MessageKind = err.kind === 'rate_limited' && err.retryAfterMs === Infinity ? 'too_large' : err.kind;
 * ```
 */
export type MessageKind = ErrorKind | 'queued' | 'too_large';

/** Direct wording for the team, per kind. Rate limits use `messages.internal` (the seed's wording). */
const INTERNAL: Record<Exclude<ErrorKind, 'rate_limited'> | 'too_large', string> = {
  overloaded: 'The model provider is overloaded or having an outage. Trying a fallback model; if none can serve, retry in a minute.',
  network: 'We could not reach the model provider (network error). Trying a fallback model.',
  timeout: 'The model took too long to answer (timeout). Retrying once, then trying a fallback model.',
  context_length:
    "The prompt is longer than the model's context window. Shorten it or summarize the context, or route it to a larger-context model.",
  quota_exhausted:
    'The provider quota or billing limit is exhausted. Retries on that model stopped and the team has been alerted.',
  policy_rejected:
    "The provider rejected this request under its safety policy. It was not sent to another model; review the request before retrying.",
  auth: 'The model provider rejected our credentials (authentication). Check the API key configuration.',
  invalid_request: 'The model provider rejected the request as invalid. Check the request parameters.',
  validation_failed: "The model's reply did not match the expected output format on any model tried.",
  cancelled: 'The request was cancelled before it finished.',
  unknown: 'The model call failed with an unexpected error. Try again in a moment.',
  too_large:
    "The request alone exceeds the model's rate limit (tokens per minute), so no wait lets it through. Shorten it, lower max_tokens, or route it to a model with a higher limit.",
};

/**
 * Calm wording for customers on errors where trying another model does not help. Capacity and
 * reliability kinds use `messages.customer` (the seed's wording).
 */
const CUSTOMER: Partial<Record<MessageKind, string>> = {
  context_length: 'This request is too long for us to process. Please shorten it and try again.',
  too_large: 'This request is too long for us to process. Please shorten it and try again.',
  policy_rejected: "We can't help with this request. Please rephrase it and try again.",
  auth: 'Something went wrong on our side. Please try again later.',
  invalid_request: 'Something went wrong on our side. Please try again later.',
  cancelled: 'The request was cancelled.',
};

/**
 * The message to show a person when a request cannot be served right away (the seed's step 10).
 *
 * - `'queued'`: `messages.queued` for every audience.
 * - internal: direct and specific per kind (which limit was hit, whether the team was alerted);
 *   `rate_limited` uses `messages.internal`.
 * - customer: `messages.customer` for capacity and reliability problems (rate limit, overload,
 *   timeout, network, quota, invalid output, unknown); a calm "shorten / rephrase / try later" for the
 *   rest. Customer messages never name providers, quota numbers or fallback chains.
 * - `'too_large'` (a rate limit no wait lets the request through): "shorten it" for customers, the
 *   limit and what to change for the team.
 *
 * @example
 * ```ts
 * userMessageFor('rate_limited', 'internal', policy.messages); // "We hit the current model's rate limit. Retrying in a few seconds."
 * userMessageFor('overloaded', 'customer', policy.messages);   // "This request is taking longer than usual. We're trying another model now."
 * userMessageFor('queued', 'customer', policy.messages);       // "Your request is queued and will run when capacity is available."
 * userMessageFor('too_large', 'customer', policy.messages);    // "This request is too long for us to process. Please shorten it and try again."
 * ```
 */
export function userMessageFor(
  kind: MessageKind,
  audience: MessageAudience,
  messages: AudienceMessages,
  overrides?: MessageOverrides,
): string {
  const override = overrides?.[kind]?.[audience];
  if (override !== undefined) return override;
  if (kind === 'queued') return messages.queued;
  if (audience === 'internal') return kind === 'rate_limited' ? messages.internal : (INTERNAL[kind] ?? messages.internal);
  return CUSTOMER[kind] ?? messages.customer;
}

/**
 * The message kind of a failure: `'too_large'` for a rate limit the request can never pass (see
 * {@link isNeverFits}), else its kind.
 *
 * @example
 * ```ts
 * messageKindOf('rate_limited', Infinity); // 'too_large'
 * messageKindOf('rate_limited', 3000);     // 'rate_limited'
 * ```
 */
export function messageKindOf(kind: ErrorKind, retryAfterMs: number | undefined): Exclude<MessageKind, 'queued'> {
  return isNeverFits(kind, retryAfterMs) ? 'too_large' : kind;
}
