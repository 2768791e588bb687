import { ResilienceError } from '@llm-resilience/core';

/**
 * A key of the store's namespace holds a value the limiter store does not write: a key of another
 * type (`WRONGTYPE`; a rate or window key holding a sorted set, a concurrency key holding a string,
 * ...), a rate or window key that is not a finite number (`nan` and `inf` included). Something else writes into the store's namespace. Only the call (or adjustment) using that
 * key is affected; others sent in the same script run (batched) are decided and applied on Redis as if
 * alone. The store reports it as an `error` event (`operation` says which; health stays `up`):
 * - `reserve`: nothing of that reservation was charged; the call is answered by the failure mode
 *   (`fail-closed`: `RedisUnavailableError` with this as its `cause`).
 * - `adjust`: that adjustment was skipped (it changes nothing, and is not kept or sent again: the key
 *   holds no lease or count of the store); the call's other adjustments were applied.
 * - `peek` (`peek`, `usage`): the call is answered by the failure mode, as a reservation would be.
 *
 * The message does not name the key (keys carry tenant and user ids); `index` is the charge's (or
 * adjustment's) position in the call, `reply` what Redis said.
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
    /** Position of the charge (or adjustment) whose key is foreign, in the call's charges (adjustments). */
    readonly index: number,
    /** Redis's error for the key (`WRONGTYPE ...`), or why its value is not the store's. */
    readonly reply: string,
    /** The store operation Redis refused it for (`reserve` unless told). */
    readonly operation: 'reserve' | 'adjust' | 'peek' = 'reserve',
  ) {
    super(
      `${WHAT[operation](index)}: its key holds a value the limiter store does not write (${reply}), ${EFFECT[operation]}. ` +
        `Something else writes into the store's namespace: give the store a prefix of its own, and delete the foreign key (a key of the namespace whose type is neither string nor sorted set, or whose value is not a finite number).`,
      { kind: 'unknown', code: 'ERR_LLMR_REDIS_KEY' },
    );
  }
}

const WHAT = {
  reserve: (i: number) => `Redis could not charge limit #${i} of a reservation`,
  adjust: (i: number) => `Redis could not apply adjustment #${i} of an adjust call`,
  peek: (i: number) => `Redis could not read limit #${i} of a peek`,
};
const EFFECT = {
  reserve: 'so nothing of the reservation was charged',
  adjust: 'so that adjustment was skipped (the call\'s other adjustments were applied)',
  peek: 'so the call was answered by the failure mode',
};
