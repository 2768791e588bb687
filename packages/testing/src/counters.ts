import type { FakeProviderCounters } from './types';

/**
 * Fresh, all-zero counters.
 *
 * @example
 * ```ts
 * const counters = emptyCounters();
 * counters.requests++;
 * ```
 */
export function emptyCounters(): FakeProviderCounters {
  return {
    requests: 0,
    requestsByModel: {},
    responsesByStatus: {},
    rateLimited: 0,
    tokensIn: 0,
    tokensOut: 0,
    tokensByModel: {},
    connectionResets: 0,
    streamsCut: 0,
    faults: {},
  };
}

/**
 * Counts one response status (and a 429 as rate limited).
 *
 * @example
 * ```ts
 * countStatus(counters, 429); // responsesByStatus['429']++, rateLimited++
 * ```
 */
export function countStatus(c: FakeProviderCounters, status: number): void {
  c.responsesByStatus[String(status)] = (c.responsesByStatus[String(status)] ?? 0) + 1;
  if (status === 429) c.rateLimited++;
}

/**
 * Counts the tokens of a reply served to completion.
 *
 * @example
 * ```ts
 * countTokens(counters, 'fast-a', 12, 40);
 * ```
 */
export function countTokens(c: FakeProviderCounters, model: string, input: number, output: number): void {
  c.tokensIn += input;
  c.tokensOut += output;
  const m = (c.tokensByModel[model] ??= { input: 0, output: 0 });
  m.input += input;
  m.output += output;
}
