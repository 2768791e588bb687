import { ResilienceError } from '@llm-resilience/core';

/**
 * A reservation that Redis could not charge because the key of one of its charges holds a value the
 * limiter store does not write: a concurrency key of another type (`WRONGTYPE`), a rate or window key
 * that is not a number. Something else writes into the store's namespace. Nothing of that reservation
 * was charged; reservations sent in the same script run (batched) were decided on Redis as if alone.
 * The store reports it as an `error` event (`operation: 'reserve'`, health stays `up`) and answers the
 * call with its failure mode (`fail-closed`: `RedisUnavailableError` with this as its `cause`).
 *
 * The message does not name the key (keys carry tenant and user ids); `index` is the charge's position
 * in the reservation, `reply` what Redis said.
 *
 * @example
 * ```ts
 * new RedisLimiterStore({ redis, onEvent: (e) => {
 *   if (e.type === 'error' && e.error instanceof RedisKeyError) logger.error({ code: e.error.code, charge: e.error.index }, e.error.message);
 * } });
 * ```
 */
export class RedisKeyError extends ResilienceError {
  constructor(
    /** Position of the charge whose key is foreign, in the reservation's charges. */
    readonly index: number,
    /** Redis's error for the key (`WRONGTYPE ...`), or why its value is not the store's. */
    readonly reply: string,
  ) {
    super(
      `Redis could not charge limit #${index} of a reservation: its key holds a value the limiter store does not write (${reply}), so nothing of the reservation was charged. ` +
        `Something else writes into the store's namespace: give the store a prefix of its own, and delete the foreign key (a key of the namespace whose type is neither string nor sorted set, or whose value is not a number).`,
      { kind: 'unknown', code: 'ERR_LLMR_REDIS_KEY' },
    );
  }
}
