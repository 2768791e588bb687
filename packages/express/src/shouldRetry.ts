import type { Response } from 'express';
import type { HttpErrorInfo } from '@llm-resilience/core';

/**
 * Sets `x-should-retry: false` on the answer to an error no client retry can fix (core's
 * `httpErrorOf` marks it `noRetry`: `quota_exhausted`, `auth`). Such errors are answered 5xx, which
 * the `openai` and `@anthropic-ai/sdk` clients retry by default — each retry running the whole chain
 * again — unless the answer says not to.
 *
 * @example
 * ```ts
 * const http = httpErrorOf(err);
 * if (http) setShouldRetry(res, http); // quota: "x-should-retry: false"
 * ```
 */
export function setShouldRetry(res: Response, http: Pick<HttpErrorInfo, 'noRetry'>): void {
  if (http.noRetry === true) res.setHeader('x-should-retry', 'false');
}
