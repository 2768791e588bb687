import type { Disposable } from '../events/TypedEmitter';
import type { BreakerStateSync } from './BreakerRegistry';
import type { BreakerState } from './BreakerState';

type OnRemote = (key: string, state: BreakerState) => void;

/**
 * Breaker-state sharing inside one process: each {@link MemoryBreakerSyncHub.connect} returns a
 * {@link BreakerStateSync} whose publishes reach every other connection, synchronously, as a JSON
 * copy (as if over the wire). For tests, demos and several engines in one process; across processes
 * use the Redis implementation.
 *
 * @example
 * ```ts
 * const hub = new MemoryBreakerSyncHub();
 * const a = createResilience(policy, { breakerSync: hub.connect() });
 * const b = createResilience(policy, { breakerSync: hub.connect() });
 * // a breaker opened by `a` is open in `b` too
 * ```
 */
export class MemoryBreakerSyncHub {
  private readonly connections = new Set<Set<OnRemote>>();
  private count = 0;

  /** Messages published so far, by all connections. */
  get published(): number {
    return this.count;
  }

  /**
   * A new connection to the hub.
   *
   * @example
   * ```ts
   * const registry = new BreakerRegistry({ policy: policy.breaker, sync: hub.connect() });
   * ```
   */
  connect(): BreakerStateSync {
    const own = new Set<OnRemote>();
    this.connections.add(own);
    return {
      publish: (key, state) => {
        this.count++;
        const wire = JSON.stringify(state);
        for (const other of this.connections) {
          if (other === own) continue;
          for (const onRemote of other) onRemote(key, JSON.parse(wire) as BreakerState);
        }
      },
      subscribe: (onRemote): Disposable => {
        own.add(onRemote);
        return { dispose: () => own.delete(onRemote) };
      },
    };
  }
}
