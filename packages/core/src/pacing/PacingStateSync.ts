import type { RateLimitSnapshot } from '../errors/ErrorKind';
import type { Disposable } from '../events/TypedEmitter';

/**
 * Shares what providers said about their remaining quota (`x-ratelimit-remaining-*`,
 * `anthropic-ratelimit-*`) between processes, so a replica that never saw the header still holds calls
 * back before the provider answers 429. The engine publishes at most once per target per
 * {@link PACING_PUBLISH_INTERVAL_MS}, and at once when a limit runs low.
 * `@llm-resilience/redis` ships one on Redis pub/sub; {@link MemoryPacingSyncHub} wires engines of one process.
 * Published snapshots carry `observedAt` (when the provider reported the counts): deliver it with the
 * snapshot, in the receiver's clock, so the receiver counts the quota refilled since then. A received
 * snapshot observed before the receiver's own latest report is ignored.
 *
 * @example
 * ```ts
 * const engine = createResilience(policy, { pacingSync: new RedisPacingSync({ redis }) });
 * ```
 */
export interface PacingStateSync {
  publish(targetId: string, snapshot: RateLimitSnapshot): void;
  subscribe?(onRemote: (targetId: string, snapshot: RateLimitSnapshot) => void): Disposable;
}

/**
 * Shortest interval between two publications of one target's pacing state (unless it runs low).
 *
 * @example
 * ```ts
 * if (now - lastPublished >= PACING_PUBLISH_INTERVAL_MS || isLow(snapshot)) sync.publish(targetId, snapshot);
 * ```
 */
export const PACING_PUBLISH_INTERVAL_MS = 1_000;

/**
 * True when a snapshot says some limit is nearly spent (below 10% remaining): worth telling other
 * processes right away.
 *
 * @example
 * ```ts
 * isLow({ limitRequests: 100, remainingRequests: 5 }); // true
 * ```
 */
export function isLow(s: RateLimitSnapshot): boolean {
  const low = (remaining: number | undefined, limit: number | undefined) =>
    remaining !== undefined && limit !== undefined && limit > 0 && remaining < limit * 0.1;
  return (
    low(s.remainingRequests, s.limitRequests) ||
    low(s.remainingTokens, s.limitTokens) ||
    low(s.remainingInputTokens, s.limitInputTokens) ||
    low(s.remainingOutputTokens, s.limitOutputTokens)
  );
}

/**
 * An in-process {@link PacingStateSync} hub: every engine created with `hub.connect()` sees the others'
 * pacing state. Useful for tests and for several engines in one process.
 *
 * @example
 * ```ts
 * const hub = new MemoryPacingSyncHub();
 * const a = createResilience(policy, { pacingSync: hub.connect() });
 * const b = createResilience(policy, { pacingSync: hub.connect() });
 * ```
 */
export class MemoryPacingSyncHub {
  private readonly members = new Set<(targetId: string, s: RateLimitSnapshot, from: object) => void>();

  connect(): PacingStateSync {
    const self = {};
    return {
      publish: (targetId, snapshot) => {
        for (const m of this.members) m(targetId, { ...snapshot }, self);
      },
      subscribe: (onRemote) => {
        const listener = (targetId: string, s: RateLimitSnapshot, from: object) => {
          if (from !== self) onRemote(targetId, s);
        };
        this.members.add(listener);
        return { dispose: () => void this.members.delete(listener) };
      },
    };
  }
}
