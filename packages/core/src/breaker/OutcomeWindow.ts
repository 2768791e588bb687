/**
 * Totals of an {@link OutcomeWindow}: calls with a health verdict, how many failed, how many were slow.
 *
 * @example
 * ```ts
 * const { calls, failures } = window.totals(now);
 * const errorRate = calls === 0 ? 0 : failures / calls;
 * ```
 */
export interface WindowTotals {
  readonly calls: number;
  readonly failures: number;
  readonly slow: number;
}

/**
 * Call outcomes over a sliding time window, kept in a ring of time buckets (default 10 over the
 * window), so memory is constant whatever the traffic and old outcomes fall out as time passes.
 *
 * The window covers the current bucket and the `buckets - 1` before it: an outcome is forgotten between
 * `windowMs - windowMs / buckets` and `windowMs` after it was recorded.
 *
 * @example
 * ```ts
 * const w = new OutcomeWindow(120_000); // 10 buckets of 12 s
 * w.record(now, { failed: true, slow: false });
 * w.totals(now); // { calls: 1, failures: 1, slow: 0 }
 * w.totals(now + 120_000); // { calls: 0, failures: 0, slow: 0 }
 * ```
 */
export class OutcomeWindow {
  readonly windowMs: number;
  readonly buckets: number;
  private readonly bucketMs: number;
  private readonly epochs: Float64Array;
  private readonly calls: Uint32Array;
  private readonly failures: Uint32Array;
  private readonly slow: Uint32Array;
  /** Bucket epoch of the newest failed or slow outcome recorded (-Infinity: none since the last reset). */
  private lastBadEpoch = -Infinity;

  constructor(windowMs: number, buckets = 10) {
    if (!(windowMs > 0) || !Number.isFinite(windowMs)) {
      throw new RangeError(`OutcomeWindow.windowMs: expected a positive number of ms, got ${windowMs}`);
    }
    if (!Number.isInteger(buckets) || buckets < 1) {
      throw new RangeError(`OutcomeWindow.buckets: expected a positive integer, got ${buckets}`);
    }
    this.windowMs = windowMs;
    this.buckets = buckets;
    this.bucketMs = windowMs / buckets;
    this.epochs = new Float64Array(buckets).fill(-Infinity);
    this.calls = new Uint32Array(buckets);
    this.failures = new Uint32Array(buckets);
    this.slow = new Uint32Array(buckets);
  }

  /**
   * Records one call with a health verdict at time `now`. An outcome older than the window is ignored.
   *
   * @example
   * ```ts
   * window.record(clock.now(), { failed: false, slow: latencyMs >= policy.slowCallMs });
   * ```
   */
  record(now: number, outcome: { failed: boolean; slow: boolean }): void {
    const epoch = this.epochAt(now);
    const i = this.slot(epoch);
    if (this.epochs[i] !== epoch) {
      if (this.epochs[i]! > epoch) return; // older than what this slot now holds: outside the window
      this.epochs[i] = epoch;
      this.calls[i] = 0;
      this.failures[i] = 0;
      this.slow[i] = 0;
    }
    this.calls[i]! += 1;
    if (outcome.failed) this.failures[i]! += 1;
    if (outcome.slow) this.slow[i]! += 1;
    if ((outcome.failed || outcome.slow) && epoch > this.lastBadEpoch) this.lastBadEpoch = epoch;
  }

  /**
   * False when the window ending at `now` surely holds no failed or slow outcome (its failure and slow
   * counts are 0); a cheap test that spares summing the buckets after an ordinary success.
   *
   * @example
   * ```ts
   * if (window.mayHaveFailures(now)) checkRates(window.totals(now));
   * ```
   */
  mayHaveFailures(now: number): boolean {
    return this.lastBadEpoch >= this.epochAt(now) - this.buckets + 1;
  }

  /**
   * Sums the buckets inside the window ending at `now`.
   *
   * @example
   * ```ts
   * const t = window.totals(now);
   * if (t.calls >= 10 && t.failures / t.calls > 0.2) open();
   * ```
   */
  totals(now: number): WindowTotals {
    const current = this.epochAt(now);
    const oldest = current - this.buckets + 1;
    let calls = 0;
    let failures = 0;
    let slow = 0;
    for (let i = 0; i < this.buckets; i++) {
      const e = this.epochs[i]!;
      if (e < oldest || e > current) continue;
      calls += this.calls[i]!;
      failures += this.failures[i]!;
      slow += this.slow[i]!;
    }
    return { calls, failures, slow };
  }

  /**
   * Forgets everything.
   *
   * @example
   * ```ts
   * window.reset(); // after the breaker recovers, judge it on fresh outcomes only
   * ```
   */
  reset(): void {
    this.lastBadEpoch = -Infinity;
    this.epochs.fill(-Infinity);
    this.calls.fill(0);
    this.failures.fill(0);
    this.slow.fill(0);
  }

  /** The bucket epoch of time `now`. */
  private epochAt(now: number): number {
    return Math.floor(now / this.bucketMs);
  }

  private slot(epoch: number): number {
    const m = epoch % this.buckets;
    return m < 0 ? m + this.buckets : m;
  }
}
