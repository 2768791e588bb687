import { MemoryLimiterStore, type Clock } from '@llm-resilience/core';
import type { LimitAdjustment, LimitCharge, LimitState, ReserveResult } from '@llm-resilience/core';

/**
 * A mark of the local store (see `LimitAdjustment.mark`), wrapped so that it is never taken for a
 * Redis mark (a number) and a Redis mark never reaches the local store: a reservation made locally may
 * be settled once Redis is back, and the other way round. Refunds whose mark is the other store's are
 * not capped.
 *
 * @example
 * ```ts
 * const mark = new LocalMark([1000, 1000]); // mark.value: what the local MemoryLimiterStore returned
 * ```
 */
export class LocalMark {
  constructor(readonly value: unknown) {}
}

/**
 * The in-process limiter the Redis store falls back to in `fail-open` mode: a `MemoryLimiterStore`
 * enforcing `fraction` of every limit (and of every burst). With N replicas, a fraction of about 1/N
 * keeps the fleet near the global limit while Redis is away.
 *
 * A scaled capacity (burst, or in-flight concurrency limit) below one unit is raised to one unit, so
 * small `requests` limits still admit one request at a time locally, at the scaled rate. Per-window
 * totals (budgets: `concurrency` with `windowMs > 0`) are scaled exactly. Amounts larger than the scaled burst are denied with
 * `retryAfterMs: Infinity` until Redis returns. Refunds are capped as by the memory store; its marks
 * travel as {@link LocalMark}s.
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
    const r = this.memory.reserve(charges.map((c) => this.scale(c)));
    if (!r.ok || r.marks === undefined) return r;
    return { ok: true, states: r.states, marks: r.marks.map((m) => new LocalMark(m)) };
  }

  /** Adjusts against the scaled limits (a mark that is not a {@link LocalMark} is dropped). */
  adjust(adjustments: readonly LimitAdjustment[]): void {
    this.memory.adjust(adjustments.map((a) => ({ ...this.scale(a), mark: a.mark instanceof LocalMark ? a.mark.value : undefined })));
  }

  /** Unrounded usage under the scaled limits. */
  usage(charges: readonly LimitCharge[]): number[] {
    return this.memory.usage(charges.map((c) => this.scale(c)));
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
