import { MemoryLimiterStore, type Clock } from '@llm-resilience/core';
import type { LimitAdjustment, LimitCharge, LimitState, ReserveResult } from '@llm-resilience/core';

/**
 * A mark of the local store (see `LimitAdjustment.mark`), wrapped so that it is never taken for a
 * Redis mark (a number) and a Redis mark never reaches the local store: a reservation made locally may
 * be settled once Redis is back, and the other way round. A give-back (negative delta) whose mark is
 * another store's is not the local store's to give: it is skipped (see {@link LocalFallbackLimiter.adjust}).
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
 * totals (budgets: `concurrency` with `windowMs > 0`) are scaled exactly.
 *
 * A reservation that puts more on a key than its local share but no more than its real (unscaled)
 * capacity is admitted when the key holds nothing locally (a full GCRA bucket, a counter at 0) and
 * leaves it in debt, as an extra charge does: later reservations on the key wait until the debt is paid
 * back (rate), the units are released, or the window ends (budgets). Otherwise it is denied with that
 * wait, a finite one: the request passes later, here or on Redis. Only an amount above the real
 * capacity, which can never pass anywhere, is denied with `retryAfterMs: Infinity`.
 *
 * Refunds are capped as by the memory store; its marks travel as {@link LocalMark}s. Give-backs that
 * carry another store's mark (reservations made on Redis) are skipped: the local store never held them.
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

  /** Reserves against the scaled limits (see the class comment for amounts above the local share). */
  reserve(charges: readonly LimitCharge[]): ReserveResult {
    const r = this.memory.reserve(this.scaleReservation(charges));
    if (!r.ok || r.marks === undefined) return r;
    return { ok: true, states: r.states, marks: r.marks.map((m) => new LocalMark(m)) };
  }

  /**
   * Adjusts against the scaled limits. An adjustment carrying a {@link LocalMark} settles a local
   * reservation (a refund is capped by the mark). One carrying another store's mark (a reservation made
   * on Redis) is applied only when it charges (delta > 0: this process' usage, counted against its
   * share); its give-backs are skipped, the local store never held them. One without a mark is applied
   * uncapped, as by the memory store.
   */
  adjust(adjustments: readonly LimitAdjustment[]): void {
    const own: LimitAdjustment[] = [];
    for (const a of adjustments) {
      const local = a.mark instanceof LocalMark;
      if (!local && a.mark !== undefined && a.delta < 0) continue;
      own.push({ ...this.scale(a, 0), mark: local ? (a.mark as LocalMark).value : undefined });
    }
    if (own.length > 0) this.memory.adjust(own);
  }

  /** Unrounded usage under the scaled limits. */
  usage(charges: readonly LimitCharge[]): number[] {
    return this.memory.usage(charges.map((c) => this.scale(c, 0)));
  }

  /** States under the scaled limits. */
  peek(charges: readonly LimitCharge[]): LimitState[] {
    return this.memory.peek(charges.map((c) => this.scale(c, 0)));
  }

  /** Drops local state. */
  close(): void {
    this.memory.close();
  }

  /**
   * The charges of a reservation on the scaled limits, each key's local capacity raised to the total
   * the reservation puts on it when that total is above the local share and within the real capacity.
   * The memory store then admits it only if the key holds nothing (GCRA: `tat + total·T − now ≤
   * total·T` iff `tat ≤ now`; a counter: `count + total ≤ total` iff `count = 0`), and otherwise reports
   * the wait until it holds nothing; an amount above the real capacity keeps the scaled one and is
   * denied with `Infinity`.
   */
  private scaleReservation(charges: readonly LimitCharge[]): LimitCharge[] {
    const totals = new Map<string, number>();
    for (const c of charges) totals.set(keyOf(c), (totals.get(keyOf(c)) ?? 0) + c.amount);
    return charges.map((c) => {
      const total = totals.get(keyOf(c))!;
      return this.scale(c, total <= capacityOf(c) ? total : 0);
    });
  }

  /** `c` on the local share of its limits, its capacity at least `atLeast`. */
  private scale<T extends LimitCharge | LimitAdjustment>(c: T, atLeast: number): T {
    const f = this.fraction;
    if (f === 1) return c;
    if (c.kind === 'concurrency') {
      // A per-window total (a spend budget in USD) scales exactly: "one unit" means nothing for money.
      const limit = c.windowMs > 0 ? c.limit * f : atLeastOne(c.limit * f, c.limit);
      return { ...c, limit: Math.max(limit, atLeast) };
    }
    const burst = c.burst ?? c.limit;
    return { ...c, limit: c.limit * f, burst: Math.max(atLeastOne(burst * f, burst), atLeast) };
  }
}

function atLeastOne(scaled: number, original: number): number {
  return scaled < 1 && original >= 1 ? 1 : scaled;
}

/** Charges on the same key and kind share a bucket (as in the memory store). */
function keyOf(c: LimitCharge): string {
  return c.kind + '\0' + c.key;
}

/** Tolerance of the memory store's "more than the burst" test, as a fraction of the burst. */
const UNIT_TOLERANCE = 1e-6;
/** Tolerance of the memory store's counters (slots, per-window totals), as a fraction of the limit. */
const COUNT_TOLERANCE = 1e-9;

/** The real capacity of a charge's key: its burst or its limit, with the memory store's tolerance. */
function capacityOf(c: LimitCharge): number {
  return c.kind === 'rate' ? (c.burst ?? c.limit) * (1 + UNIT_TOLERANCE) : c.limit * (1 + COUNT_TOLERANCE);
}
