import type { RedisReplyLostError } from './RedisReplyLostError';
import type { Clock } from '@llm-resilience/core';
import type { RedisBreakerSync } from './RedisBreakerSync';
import type { RedisLimiterStore } from './RedisLimiterStore';
import type { RedisPacingSync } from './RedisPacingSync';
import type { RedisSyncError } from './RedisSyncError';
import type { RedisClient } from './redisClient';

/**
 * What the store does while Redis cannot be reached or answers too slowly.
 *
 * - `fail-open` (default): decide locally with an in-memory limiter enforcing `localFraction` of each
 *   limit (an amount above that share but within the real limit passes when the local share holds
 *   nothing, leaving it in debt; only one above the real limit is denied with `Infinity`). Adjustments
 *   of charges made locally are settled locally, also once Redis is back. Those of charges made on
 *   Redis cannot be applied there meanwhile: releases of concurrency slots held on Redis are kept and
 *   sent once Redis is back (`releasesQueued`, `releasesReplayed`); refunds are dropped and never
 *   given to the local limiter (it never held them); extra charges are counted locally; both are
 *   reported (`adjustDropped`).
 * - `fail-closed`: `reserve` and `peek` reject with `RedisUnavailableError` (its `retryAfterMs`: the
 *   time to the next Redis probe, at least 1 ms); releases of slots held on
 *   Redis are kept and sent once Redis is back, other adjustments are dropped (reported as an
 *   `adjustDropped` event).
 *
 * @example
 * ```ts
 * const mode: RedisFailureMode = 'fail-closed';
 * ```
 */
export type RedisFailureMode = 'fail-open' | 'fail-closed';

/**
 * Something the store wants you to know, for logs and metrics. Never carries request content.
 *
 * - `unavailable`: Redis failed (error, timeout, connection down); the store now uses its fallback.
 * - `recovered`: a probe succeeded after `downMs`; the store uses Redis again.
 * - `error`: Redis answered with an error that is not an outage (a bug or misconfiguration, e.g. a
 *   `WRONGTYPE` on a key written by something else); that call used the fallback. For a reservation
 *   whose key holds what the store does not write, a `RedisKeyError`: only that reservation was
 *   refused (nothing of it charged), the others of its script run were decided on Redis.
 * - `adjustDropped`: adjustments of charges made on Redis that could not be written there and will
 *   not be (Redis down; in `fail-open` mode extra charges are counted by the local fallback, refunds
 *   are not: it never held them): refunds, extra charges, budget changes; releases only when the store is closed with
 *   releases still waiting (call `flush()` first), when more than 100 000 wait, when one waited
 *   `leaseMs` without Redis taking it (its lease expired there first: the slot was held that long), or
 *   when Redis refuses one three times with an error that is not an outage.
 * - `releasesQueued`: releases of concurrency slots held on Redis that could not be written there.
 *   The store keeps them (at most the lease lifetime) and sends them once Redis answers again; until
 *   then those slots stay held on Redis. A reservation whose run timed out or lost its connection
 *   (or whose reply could not be read) queues one too per concurrency key it charged: the removal of the leases that run may have added
 *   on Redis, its reply lost (see {@link RedisReplyLostError}).
 * - `releasesReplayed`: kept releases written to Redis. Each removes only its own lease, so a release
 *   whose first attempt did reach Redis (a timeout) frees nobody else's slot.
 * - `lateReserveUndone`: a reservation that timed out (its caller was decided locally or refused) was
 *   still run by Redis afterwards; the store sends the give-back of its `count` charges there (releases
 *   the slot's lease, refunds the rate charge). If that send fails, `releasesQueued` and
 *   `adjustDropped` follow.
 *
 * @example
 * ```ts
 * const onEvent = (e: RedisStoreEvent) => { if (e.type === 'unavailable') logger.warn('limiter on local fallback'); };
 * ```
 */
export type RedisStoreEvent =
  | { type: 'unavailable'; error: unknown }
  | { type: 'recovered'; downMs: number }
  | { type: 'error'; operation: 'reserve' | 'adjust' | 'peek'; error: unknown }
  | { type: 'adjustDropped'; count: number; error: unknown }
  | { type: 'releasesQueued'; count: number; error: unknown }
  | { type: 'releasesReplayed'; count: number }
  | { type: 'lateReserveUndone'; count: number };

/**
 * Options of `RedisLimiterStore`. Every option is checked at construction: a wrong type or range, an
 * unknown key or a callback that is not a function throws `RedisStoreConfigError` naming the option.
 *
 * @example
 * ```ts
 * const store = new RedisLimiterStore({ redis: new Redis(process.env.REDIS_URL!), prefix: 'myapp', timeoutMs: 75, localFraction: 1 / 4 });
 * ```
 */
export interface RedisLimiterStoreOptions {
  /** An ioredis `Redis` or `Cluster` instance. The store never closes it (you own it). */
  redis: RedisClient;
  /** Namespace of every key, a non-empty string. Default `'llmr'`. */
  prefix?: string;
  /**
   * Wrap the namespace in a Cluster hash tag (`{llmr}:...`) so every key, and so every reservation,
   * lives in one slot. Default `true`. Set `false` only on a standalone Redis whose keys you want spread
   * (e.g. behind a proxy); it is rejected with a `Cluster`, where multi-key reservations would fail with
   * CROSSSLOT. To spread load over Cluster shards, use several stores with different prefixes.
   */
  hashTag?: boolean;
  /**
   * Longest a request waits for Redis, per operation, before the failure mode applies (at most
   * 2147483647, the longest timer Node honours). Default `100` ms.
   */
  timeoutMs?: number;
  /** What to do when Redis is down or slow. Default `'fail-open'`. */
  onRedisError?: RedisFailureMode;
  /**
   * Fraction (0 < f <= 1) of each limit (and burst) the local fallback enforces in `fail-open` mode.
   * Default `0.25` (right for about four replicas; use `1 / replicas`). A request above that share but
   * within the real limit passes when the local share holds nothing, and leaves it in debt.
   */
  localFraction?: number;
  /**
   * How long an in-flight concurrency slot (`windowMs` 0) stays held if it is never released (the
   * process crashed). Each reserve takes a lease with this lifetime; its release removes that lease
   * (a release without the reservation's mark removes the oldest leases first). Per-window counters
   * (budgets: `concurrency` charges with `windowMs > 0`) take no lease: they are plain counts kept
   * `windowMs + expiryMarginMs` after their last write. Calls that legitimately run longer than this
   * lose their slot early. Releases that could not be written while Redis was away are kept this long
   * at most. Default `600_000` (10 minutes).
   */
  leaseMs?: number;
  /**
   * Most calls sent in one EVALSHA. Reservations (and, separately, adjustments) made in the same tick
   * are batched into one script run: each reservation stays all-or-nothing and they apply in call
   * order, but Redis and the client pay the per-command overhead once, which is what lets a
   * two-dimension reservation keep up with a single-counter limiter under load. An idle store sends
   * each call alone, without added delay. A batch shares one reply, so one failure (timeout, Redis
   * error) sends every call of that batch to the failure mode. `1` disables batching. Default `16`.
   */
  maxBatch?: number;
  /**
   * Extra lifetime added to every key's expiry: beyond the moment a rate bucket is full again, a lease
   * expires, or a per-window counter's window (`windowMs` from its last write) has passed. Default `1000` ms.
   */
  expiryMarginMs?: number;
  /**
   * Backoff of the recovery probe (a write of the short-lived key `{prefix}:h:probe`) after a failure:
   * first wait, doubling up to max (`initial` must not exceed `max`). A Redis that fails again within
   * one backoff of a successful probe keeps the backoff doubling instead of starting over at `initial`.
   * Default `{ initial: 100, max: 2000 }` ms.
   */
  probeBackoffMs?: { initial?: number; max?: number };
  /** Local time source, for the fallback limiter and the probe backoff (decisions on Redis use Redis `TIME`). Default: the system clock. */
  clock?: Clock;
  /** Receives {@link RedisStoreEvent}s (outage, recovery, errors). Default: none. */
  onEvent?: (event: RedisStoreEvent) => void;
}

/**
 * Options of `RedisBreakerSync` and `RedisPacingSync`, checked at construction like the store's.
 *
 * @example
 * ```ts
 * const opts: RedisSyncOptions = { redis, prefix: 'myapp', onError: (e) => logger.warn(e.message) };
 * ```
 */
export interface RedisSyncOptions {
  /** An ioredis `Redis` or `Cluster` instance for writes and loads. Yours: never closed by the sync. */
  redis: RedisClient;
  /**
   * A connection dedicated to SUBSCRIBE (a connection in subscriber mode cannot run other commands).
   * Yours when given (never closed; one connection can serve several syncs). Default: `redis.duplicate()`
   * on the first `subscribe`, owned by the sync and closed when its last subscription is disposed or by
   * `close()`.
   */
  subscriber?: RedisClient;
  /** Namespace, a non-empty string; use the limiter store's prefix to keep one namespace per app. Default `'llmr'`. */
  prefix?: string;
  /** Wrap the namespace in a Cluster hash tag. Default `true`. */
  hashTag?: boolean;
  /** Longest wait for Redis per publish, subscribe or load (at most 2147483647); then the failure is reported. Default `1000` ms. */
  timeoutMs?: number;
  /** Extra lifetime of the stored states beyond the longest-lived one. Default `1000` ms. */
  expiryMarginMs?: number;
  /**
   * Local time, to turn the relative times on the wire into this process' absolute times. Pass the
   * clock you give `createResilience`. Default: the system clock.
   */
  clock?: Clock;
  /**
   * Random source (draws in [0, 1)) for the jitter of the retries of a failed subscribe or load, and
   * of the resends of a breaker change Redis refused: each
   * waits between half and all of its backoff step (100 ms doubling up to 5 s), so replicas that lost
   * Redis together do not retry in lockstep. A draw outside [0, 1) or a throw counts as `Math.random()`.
   * Pass the `random` you give `createResilience` (tests: a fixed one). Default `Math.random`.
   */
  random?: () => number;
  /**
   * Receives Redis failures (publish, subscribe, load, malformed messages). Nothing is ever thrown into
   * the engine: it keeps its local state. Default: none — the failures are silent, so wire this to your
   * logger. When given, it also receives the errors of the subscriber connection the sync creates
   * (first error of each outage).
   */
  onError?: (error: RedisSyncError) => void;
}

/**
 * Options of `createRedisResilienceState`: those of the limiter store, plus the syncs' own.
 *
 * @example
 * ```ts
 * const opts: RedisResilienceStateOptions = { redis, prefix: 'myapp', localFraction: 1 / 4, onSyncError: (e) => logger.warn(e.message) };
 * ```
 */
export interface RedisResilienceStateOptions extends RedisLimiterStoreOptions {
  /**
   * The connection both syncs SUBSCRIBE on (yours, never closed). Default: one `redis.duplicate()`,
   * shared by both syncs and closed by `close()`.
   */
  subscriber?: RedisClient;
  /** `timeoutMs` of the syncs (publish, subscribe, load). Default `1000` ms. */
  syncTimeoutMs?: number;
  /** Receives the syncs' Redis failures (see `RedisSyncOptions.onError`). Default: none. */
  onSyncError?: (error: RedisSyncError) => void;
  /** The syncs' random source for their retry jitter (see `RedisSyncOptions.random`). Default `Math.random`. */
  random?: () => number;
}

/**
 * Everything an engine shares over Redis, from `createRedisResilienceState`. Pass `store`,
 * `breakerSync` and `pacingSync` to `createResilience`, one by one or as `{ ...shared }` (`ready` and
 * `close` are not enumerable, so a spread copies only those three); call `close()` on shutdown.
 *
 * @example
 * ```ts
 * const shared: RedisResilienceState = createRedisResilienceState({ redis });
 * const engine = createResilience(policy, { store: shared.store, breakerSync: shared.breakerSync, pacingSync: shared.pacingSync });
 * ```
 */
export interface RedisResilienceState {
  /** Limits and budgets. */
  readonly store: RedisLimiterStore;
  /** Open and paused circuit breakers. */
  readonly breakerSync: RedisBreakerSync;
  /** Providers' remaining quota (proactive pacing). */
  readonly pacingSync: RedisPacingSync;
  /** Resolves once the syncs' subscriptions have delivered the stored states (call after `createResilience`). */
  ready(): Promise<void>;
  /**
   * Unsubscribes, sends the store's releases still waiting for Redis (`store.flush()`), closes the
   * subscriber connection it created, drops the store's local state. Your `redis` stays open.
   */
  close(): Promise<void>;
}
