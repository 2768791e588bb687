/**
 * The error a Redis limiter operation fails with when the connection dropped while its script was
 * running and ioredis sent the script again on the new connection (its `autoResendUnfulfilledCommands`
 * default): Redis may have run it twice, and the first run's reply is lost. The store treats the
 * operation as failed (an outage: the failure mode decides, see `onRedisError`), gives back what the
 * second run charged and removes the slots' leases both runs added.
 *
 * @example
 * ```ts
 * store = new RedisLimiterStore({ redis, onEvent: (e) => {
 *   if (e.type === 'unavailable' && e.error instanceof RedisReplyLostError) console.warn('Redis connection dropped mid-call');
 * } });
 * ```
 */
export class RedisReplyLostError extends Error {
  readonly code = 'ERR_LLMR_REDIS_REPLY_LOST';
  constructor() {
    super('The connection to Redis dropped while a limiter script ran, and ioredis sent it again on a new connection: the first reply was lost');
    this.name = 'RedisReplyLostError';
  }
}
