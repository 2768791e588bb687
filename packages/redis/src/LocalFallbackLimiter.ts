import { MemoryLimiterStore, type Clock } from '@llm-resilience/core';
import type { LimitAdjustment, LimitCharge, LimitState, ReserveResult } from '@llm-resilience/core';

/**
 * The in-process limiter the Redis store falls back to in `fail-open` mode: a `MemoryLimiterStore`
 * enforcing `fraction` of every limit (and of every burst). With N replicas, a fraction of about 1/N
 * keeps the fleet near the global limit while Redis is away.
 *
 * A scaled capacity (burst, or in-flight concurrency limit) below one unit is raised to one unit, so
 * small `requests` limits still admit one request at a time locally, at the scaled rate. Per-window
 * totals (budgets: `concurrency` with `windowMs > 0`) are scaled exactly. Amounts larger than the scaled burst are denied with
 * `retryAfterMs: Infinity` until Redis returns.
 *
 * @example
 * ```ts
 * const local = new LocalFallbackLimiter(0.25);
 * local.reserve([{ key: 'k', kind: 'rate', limit: 100, windowMs: 60_000, amount: 1 }]); // 25/min locally
 * ```
 */
export class LocalFallbackLimiter {
  private readonly memory: MemoryLimiterStore;

  constructor(
    readonly fraction: number,
    clock?: Clock,
  ) {
    this.memory = new MemoryLimiterStore(clock ? { clock } : {});
  }

  /** Reserves against the scaled limits. */
  reserve(charges: readonly LimitCharge[]): ReserveResult {
    return this.memory.reserve(charges.map((c) => this.scale(c)));
  }

  /** Adjusts against the scaled limits. */
  adjust(adjustments: readonly LimitAdjustment[]): void {
    this.memory.adjust(adjustments.map((a) => this.scale(a)));
  }

  /** States under the scaled limits. */
  peek(charges: readonly LimitCharge[]): LimitState[] {
    return this.memory.peek(charges.map((c) => this.scale(c)));
  }

  /** Drops local state. */
  close(): void {
    this.memory.close();
  }

  private scale<T extends LimitCharge | LimitAdjustment>(c: T): T {
    const f = this.fraction;
    if (f === 1) return c;
    if (c.kind === 'concurrency') {
      // A per-window total (a spend budget in USD) scales exactly: "one unit" means nothing for money.
      return { ...c, limit: c.windowMs > 0 ? c.limit * f : atLeastOne(c.limit * f, c.limit) };
    }
    const burst = c.burst ?? c.limit;
    return { ...c, limit: c.limit * f, burst: atLeastOne(burst * f, burst) };
  }
}

function atLeastOne(scaled: number, original: number): number {
  return scaled < 1 && original >= 1 ? 1 : scaled;
}
