import type { LimitAdjustment, LimitCharge } from './LimiterStore';

/**
 * What the memory store needs to know about a charged key besides its name, amount and handle: its
 * kind and limits, with the GCRA constants worked out once. The {@link Limiter} keeps one per rule (and
 * one per headroom share), so a reservation passes shared objects instead of building a charge per rule
 * per call; {@link MemoryLimiterStore.reserve} builds them from plain {@link LimitCharge}s.
 *
 * - `rate`: `T = windowMs / limit` ms per unit, `tau = burst × T`, `burst` the bucket's capacity.
 * - `concurrency`: a bounded counter of at most `limit` (`burst = limit`, `T = tau = 0`); with
 *   `windowMs > 0` a per-window total (see {@link LimitCharge}).
 *
 * @example
 * ```ts
 * const tpm = new BucketSpec('rate', 90_000, 60_000, 90_000); // tpm.T ≈ 0.667 ms per token
 * ```
 */
export class BucketSpec {
  /** Milliseconds per unit (rate; 0 for concurrency). */
  readonly T: number;
  /** Largest debt in ms the bucket tolerates: `burst × T` (rate; 0 for concurrency). */
  readonly tau: number;

  constructor(
    readonly kind: 'rate' | 'concurrency',
    readonly limit: number,
    readonly windowMs: number,
    /** Capacity: the most units admitted at once (`limit` for concurrency). */
    readonly burst: number,
  ) {
    this.T = kind === 'rate' ? windowMs / limit : 0;
    this.tau = kind === 'rate' ? burst * this.T : 0;
  }

  /**
   * The spec of a plain charge or adjustment (`burst` defaults to `limit`).
   *
   * @example
   * ```ts
   * BucketSpec.of({ key: 'k', kind: 'rate', limit: 10, windowMs: 1000, amount: 1 }).T; // 100
   * ```
   */
  static of(c: LimitCharge | LimitAdjustment): BucketSpec {
    return new BucketSpec(c.kind, c.limit, c.windowMs, c.kind === 'rate' ? (c.burst ?? c.limit) : c.limit);
  }
}
