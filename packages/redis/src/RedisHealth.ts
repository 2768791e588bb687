import { scrubRedisError } from './scrubRedisError';
import type { Clock } from '@llm-resilience/core';

/**
 * Whether the store currently talks to Redis (`up`) or serves from its fallback (`down`).
 *
 * @example
 * ```ts
 * if (store.health === 'down') metrics.increment('limiter.fallback');
 * ```
 */
export type RedisHealthState = 'up' | 'down';

/**
 * Options of {@link RedisHealth}.
 *
 * @example
 * ```ts
 * const opts: RedisHealthOptions = { clock, probe: () => redis.ping().then(() => undefined), initialBackoffMs: 100, maxBackoffMs: 2000 };
 * ```
 */
export interface RedisHealthOptions {
  clock: Clock;
  /** Resolves when Redis can serve (e.g. a write with a timeout); rejects otherwise. */
  probe: () => Promise<void>;
  /**
   * First wait before probing a Redis that just failed (after a stable up period; one that failed
   * again within about one backoff of a successful probe keeps doubling instead).
   */
  initialBackoffMs: number;
  /** The wait doubles after each failed probe (and each relapse), up to this. */
  maxBackoffMs: number;
  onDown?: (error: unknown) => void;
  onUp?: (downMs: number) => void;
}

/**
 * A small health state machine. After a failure it stops sending work to Redis; the next operations
 * trigger a probe once the backoff has passed (one probe at a time, doubling backoff), and the first
 * successful probe brings Redis back. No timers: probes ride on traffic, so an idle process costs
 * nothing and `close()` has nothing to cancel.
 *
 * @example
 * ```ts
 * const health = new RedisHealth({ clock, probe, initialBackoffMs: 100, maxBackoffMs: 2000 });
 * health.markDown(err);
 * void health.maybeProbe();
 * ```
 */
export class RedisHealth {
  private current: RedisHealthState = 'up';
  private downSince = 0;
  /** When the last successful probe brought Redis back (undefined: never down). */
  private upSince: number | undefined;
  /** The current wait between probes: after a successful probe, the one that preceded it. */
  private backoffMs: number;
  private nextProbeAt = 0;
  private probing: Promise<boolean> | undefined;
  private lastError: unknown;

  constructor(private readonly options: RedisHealthOptions) {
    this.backoffMs = options.initialBackoffMs;
  }

  /** `up` while Redis answers, `down` from the first failure until a probe succeeds. */
  get state(): RedisHealthState {
    return this.current;
  }

  /** The error that took Redis down (for messages). */
  get cause(): unknown {
    return this.lastError;
  }

  /**
   * Ms until the next probe may run: 0 when up; while down, at least 1. A probe that is due or running
   * brings Redis back no sooner than its answer, and a wait of 0 would make a caller that honours it
   * retry at once, in a loop, while the probe is still out.
   */
  get retryAfterMs(): number {
    if (this.current === 'up') return 0;
    return Math.max(1, Math.ceil(this.nextProbeAt - this.options.clock.now()));
  }

  /**
   * Records a failure. The first one switches to `down`; later ones (in-flight calls failing after the
   * switch) change nothing. The backoff starts over at `initialBackoffMs`, unless Redis was back for
   * less than the last backoff: then it doubles (up to `maxBackoffMs`), so a Redis that passes probes
   * but fails real work is not probed at the initial pace forever.
   *
   * @example
   * ```ts
   * health.markDown(new Error('ECONNREFUSED'));
   * ```
   */
  markDown(error: unknown): void {
    this.lastError = scrubRedisError(error);
    if (this.current === 'down') return;
    this.current = 'down';
    const now = this.options.clock.now();
    // Back within less than one backoff of a successful probe: the probe passed but Redis cannot serve
    // (or keeps dropping). Starting over at the initial backoff would flap at that pace; keep doubling.
    const relapse = this.upSince !== undefined && now - this.upSince < this.backoffMs;
    this.backoffMs = relapse ? Math.min(this.backoffMs * 2, this.options.maxBackoffMs) : this.options.initialBackoffMs;
    this.downSince = now;
    this.nextProbeAt = now + this.backoffMs;
    this.options.onDown?.(error);
  }

  /**
   * Starts a probe when Redis is down, the backoff has passed and no probe is running. Resolves to
   * `true` when Redis is back (or was never down), `false` otherwise; `undefined` when nothing ran.
   *
   * @example
   * ```ts
   * await health.maybeProbe();
   * ```
   */
  maybeProbe(): Promise<boolean> | undefined {
    if (this.current === 'up' || this.probing !== undefined) return this.probing;
    if (this.options.clock.now() < this.nextProbeAt) return undefined;
    let probe: Promise<void>;
    try {
      probe = this.options.probe();
    } catch (e) {
      probe = Promise.reject(e);
    }
    const running = probe.then(
      () => {
        this.probing = undefined;
        this.current = 'up';
        this.upSince = this.options.clock.now();
        this.options.onUp?.(this.upSince - this.downSince);
        return true;
      },
      (e: unknown) => {
        this.probing = undefined;
        this.lastError = e;
        this.backoffMs = Math.min(this.backoffMs * 2, this.options.maxBackoffMs);
        this.nextProbeAt = this.options.clock.now() + this.backoffMs;
        return false;
      },
    );
    this.probing = running;
    return running;
  }
}
