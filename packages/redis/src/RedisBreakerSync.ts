import { isBreakerState, type BreakerState, type BreakerStateSync } from '@llm-resilience/core';
import { resolveSyncOptions } from './resolveSyncOptions';
import type { SharedStateCodec } from './SharedStateChannel';
import { SharedStateSync } from './SharedStateSync';
import type { RedisSyncOptions } from './types';

/**
 * Breaker states on the wire: only `open` and `paused` are shared (the states other processes apply;
 * each process probes and recovers on its own outcomes), with `until` relative to the moment of
 * publishing. Open outranks paused; within a state the later `until` wins.
 */
const breakerCodec: SharedStateCodec<BreakerState> = {
  encode(state, now) {
    if (state.state !== 'open' && state.state !== 'paused') return undefined;
    const ttlMs = state.until - now;
    if (!(ttlMs > 0)) return undefined;
    return { wire: { ...state, until: ttlMs }, rank: state.state === 'open' ? 2 : 1, ttlMs };
  },
  decode(wire, base) {
    if (typeof wire !== 'object' || wire === null) return undefined;
    const w = wire as { state?: unknown; until?: unknown };
    if ((w.state !== 'open' && w.state !== 'paused') || typeof w.until !== 'number') return undefined;
    const state: unknown = { ...w, until: base + w.until };
    return isBreakerState(state) ? state : undefined;
  },
};

/**
 * Shares circuit-breaker states across processes through Redis: a target or provider found failing by
 * one replica is skipped by all. Implements the core's `BreakerStateSync`; pass it to
 * `createResilience(policy, { breakerSync })` — one instance per engine (an instance does not deliver
 * its own changes back to itself).
 *
 * - **Publish** (the registry calls it on local state changes only): `open` and `paused` states are
 *   stored in the hash `{prefix}:b:states` and announced on the channel `{prefix}:b:changes`, in one
 *   script run — one round trip, one write per state change. Other states are not sent (remote
 *   processes ignore them). The hash expires with its longest-lived state.
 * - **Subscribe** delivers, once, the states stored by other processes that are still open or paused
 *   (so a replica that starts during an outage avoids the failing target at once), then every change.
 *   After the subscriber connection comes back from an outage, the stored states are loaded again.
 * - **Time**: `until` travels relative ("open for another 20 s") and stored states are aged with Redis
 *   `TIME`, so replicas with skewed clocks agree; pass the engine's clock as `clock`.
 * - **Failures** never throw into the engine: they go to `onError` ({@link RedisSyncError}); each process
 *   keeps breaking on its own outcomes meanwhile.
 *
 * @example
 * ```ts
 * const breakerSync = new RedisBreakerSync({ redis, prefix: 'myapp', onError: (e) => logger.warn(e.message) });
 * const engine = createResilience(policy, { store, breakerSync });
 * // on shutdown
 * await breakerSync.close();
 * ```
 */
export class RedisBreakerSync extends SharedStateSync<BreakerState> implements BreakerStateSync {
  constructor(options: RedisSyncOptions) {
    super(resolveSyncOptions(options, 'b', 'breaker', breakerCodec));
  }
}
