import type { PacingStateSync, RateLimitSnapshot } from '@llm-resilience/core';
import { resolveSyncOptions } from './resolveSyncOptions';
import type { SharedStateCodec } from './SharedStateChannel';
import { SharedStateSync } from './SharedStateSync';
import type { RedisSyncOptions } from './types';

const RESET_FIELDS = ['requestsResetAt', 'tokensResetAt', 'inputTokensResetAt', 'outputTokensResetAt'] as const;
/** Times that travel relative like the resets, but say nothing about how long the snapshot is worth keeping. */
const TIME_FIELDS = ['observedAt'] as const;
const COUNT_FIELDS = [
  'limitRequests',
  'remainingRequests',
  'limitTokens',
  'remainingTokens',
  'limitInputTokens',
  'remainingInputTokens',
  'limitOutputTokens',
  'remainingOutputTokens',
] as const;

/**
 * Pacing snapshots on the wire: reset times and `observedAt` relative to the moment of publishing; kept
 * for later processes until the latest reset (after it, the snapshot says nothing). The latest write wins.
 */
const pacingCodec: SharedStateCodec<RateLimitSnapshot> = {
  encode(snapshot, now) {
    const wire: Record<string, number> = {};
    let ttlMs = 0;
    for (const f of COUNT_FIELDS) {
      const v = snapshot[f];
      if (typeof v === 'number' && Number.isFinite(v)) wire[f] = v;
    }
    for (const f of RESET_FIELDS) {
      const v = snapshot[f];
      if (typeof v !== 'number' || !Number.isFinite(v)) continue;
      wire[f] = v - now;
      ttlMs = Math.max(ttlMs, v - now);
    }
    for (const f of TIME_FIELDS) {
      const v = snapshot[f];
      if (typeof v === 'number' && Number.isFinite(v)) wire[f] = v - now;
    }
    return { wire, rank: 0, ttlMs };
  },
  decode(wire, base) {
    if (typeof wire !== 'object' || wire === null) return undefined;
    const w = wire as Record<string, unknown>;
    const snapshot: RateLimitSnapshot = {};
    for (const f of COUNT_FIELDS) {
      const v = w[f];
      if (v === undefined) continue;
      if (typeof v !== 'number' || !Number.isFinite(v)) return undefined;
      snapshot[f] = v;
    }
    for (const f of [...RESET_FIELDS, ...TIME_FIELDS]) {
      const v = w[f];
      if (v === undefined) continue;
      if (typeof v !== 'number' || !Number.isFinite(v)) return undefined;
      snapshot[f] = base + v;
    }
    return snapshot;
  },
};

/**
 * Shares what providers said about their remaining quota (rate-limit headers) across processes through
 * Redis, so a replica that never saw the header holds calls back before the provider answers 429.
 * Implements the core's `PacingStateSync`; pass it to `createResilience(policy, { pacingSync })` — one
 * instance per engine (an instance does not deliver its own snapshots back to itself).
 *
 * - **Publish** (the engine calls it at most once per target per second, or at once when a limit runs
 *   low): the snapshot is stored in the hash `{prefix}:p:states` (field = target id) until its latest
 *   reset time, and announced on `{prefix}:p:changes` — one script run, one write. A snapshot without a
 *   future reset replaces the stored one by nothing (it is still announced).
 * - **Subscribe** delivers, once, the snapshots stored by other processes whose reset is still ahead,
 *   then every new one; after a reconnect, the stored snapshots are loaded again.
 * - **Time**: reset times and `observedAt` (when the provider reported the counts, so receivers count
 *   the refill since) travel relative, and stored snapshots are aged with Redis `TIME`; pass the
 *   engine's clock as `clock`.
 * - **Failures** never throw into the engine: they go to `onError`; each process paces on what it saw.
 *
 * @example
 * ```ts
 * const pacingSync = new RedisPacingSync({ redis, prefix: 'myapp', onError: (e) => logger.warn(e.message) });
 * const engine = createResilience(policy, { store, pacingSync });
 * ```
 */
export class RedisPacingSync extends SharedStateSync<RateLimitSnapshot> implements PacingStateSync {
  constructor(options: RedisSyncOptions) {
    super(resolveSyncOptions(options, 'p', 'pacing', pacingCodec));
  }
}
