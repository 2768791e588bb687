import type { Response } from 'express';
import type { ErrorKind } from '@llm-resilience/core';

/**
 * Error kinds no client retry can fix: the provider account's quota or billing, or its credentials
 * (the seed: "stop retries and alert"). They are answered 5xx (the client did nothing wrong), which the
 * official OpenAI and Anthropic SDKs retry by default — each retry running the whole chain again.
 */
const NOT_RETRYABLE: ReadonlySet<ErrorKind> = new Set<ErrorKind>(['quota_exhausted', 'auth']);

/**
 * Sets `x-should-retry: false` on an error answer of a kind no retry can fix (`quota_exhausted`,
 * `auth`): the `openai` and `@anthropic-ai/sdk` clients read it and do not retry the 5xx.
 *
 * @example
 * ```ts
 * const http = httpErrorOf(err);
 * if (http) setShouldRetry(res, http.kind); // quota: "x-should-retry: false"
 * ```
 */
export function setShouldRetry(res: Response, kind: ErrorKind | 'cancelled'): void {
  if (NOT_RETRYABLE.has(kind as ErrorKind)) res.setHeader('x-should-retry', 'false');
}
