import type { FakeProviderCounters } from './types';

/**
 * A record without a prototype: keys come from requests (model names), so `__proto__` or
 * `constructor` must be plain keys, not `Object.prototype`'s members.
 */
function dictionary<T>(): Record<string, T> {
  return Object.create(null) as Record<string, T>;
}

/**
 * Fresh, all-zero counters. The per-key records have no prototype, so any model name is safe as a key.
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
    requestsByModel: dictionary(),
    responsesByStatus: dictionary(),
    rateLimited: 0,
    tokensIn: 0,
    tokensOut: 0,
    tokensByModel: dictionary(),
    connectionResets: 0,
    streamsCut: 0,
    streamErrors: 0,
    faults: dictionary(),
  };
}

/** Copies a record into a plain object, defining each key as an own property (`__proto__` included). */
function copyRecord<T>(record: Record<string, T>, copy: (v: T) => T = (v) => v): Record<string, T> {
  const out: Record<string, T> = {};
  for (const [key, value] of Object.entries(record)) {
    Object.defineProperty(out, key, { value: copy(value), enumerable: true, writable: true, configurable: true });
  }
  return out;
}

/**
 * A detached copy of the counters made of plain objects (what `fake.counters` returns). Every key is
 * an own data property, so a model named `__proto__` or `constructor` reads back as its number.
 *
 * @example
 * ```ts
 * const snap = snapshotCounters(state);
 * snap.requestsByModel['fast-a']; // 3
 * ```
 */
export function snapshotCounters(c: FakeProviderCounters): FakeProviderCounters {
  return {
    ...c,
    requestsByModel: copyRecord(c.requestsByModel),
    responsesByStatus: copyRecord(c.responsesByStatus),
    tokensByModel: copyRecord(c.tokensByModel, (t) => ({ ...t })),
    faults: copyRecord(c.faults as Record<string, number>),
  };
}

/**
 * Counts one request for a model.
 *
 * @example
 * ```ts
 * countRequest(counters, 'fast-a'); // requestsByModel['fast-a']++
 * ```
 */
export function countRequest(c: FakeProviderCounters, model: string): void {
  c.requestsByModel[model] = (c.requestsByModel[model] ?? 0) + 1;
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
