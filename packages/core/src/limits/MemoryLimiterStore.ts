import { systemClock, type Clock } from '../clock';
import type { LimitAdjustment, LimitCharge, LimiterStore, LimitState, ReserveResult } from './LimiterStore';

/**
 * Options of {@link MemoryLimiterStore}.
 *
 * @example
 * ```ts
 * const store = new MemoryLimiterStore({ clock: new ManualClock(0), sweepEvery: 10_000 });
 * ```
 */
export interface MemoryLimiterStoreOptions {
  /** Time source. Default: {@link systemClock}. */
  clock?: Clock;
  /**
   * Sweep idle keys when the number of rate keys passes this threshold (the threshold then moves to
   * twice the live size, so sweeping costs amortized O(1) per reservation). Default: 10 000.
   */
  sweepEvery?: number;
  /**
   * Also sweep on the first call after this many ms since the last sweep, so memory drops back after a
   * spike of distinct keys. Default: 60 000.
   */
  sweepIntervalMs?: number;
  /**
   * Automatic sweeps keep a key until it has been idle (back at full capacity) this long, so keys in
   * steady use are not deleted and re-created over and over. {@link MemoryLimiterStore.sweep} called
   * directly ignores it. Default: 10 000.
   */
  idleGraceMs?: number;
}

/**
 * Float tolerance, as a fraction of one unit. Time values are kept relative to the store's creation,
 * but adding `amount * T` to them still rounds; without a tolerance the last unit of an exactly full
 * bucket (e.g. 7 per minute: 7 × 8571.43 ms vs τ = 60 000 ms) can be denied by a rounding error of
 * 1e-11 ms. One millionth of a unit is far below anything observable.
 */
const UNIT_TOLERANCE = 1e-6;
/** Tolerance (ms) when rounding durations up, so 1000.0000000001 ms reports as 1000, not 1001. */
const MS_TOLERANCE = 1e-6;
/**
 * Suggested wait when a concurrency slot is taken. The store cannot know when an in-flight call ends;
 * callers waiting on a slot should poll no faster than this.
 */
export const CONCURRENCY_RETRY_MS = 250;

/**
 * Mutable cell so that an update is one map lookup plus a field write. It is also the handle the
 * store hands out on charges ({@link LimitCharge.handle}): `owner` is the store's id while the cell is
 * in its map and becomes 0 when the key is deleted, so a cached handle is never used after that. An id
 * rather than the store itself keeps charges and results printable with `JSON.stringify`.
 */
interface Cell {
  v: number;
  owner: number;
}

let lastStoreId = 0;

/** The cell a charge's handle points to, when it is this store's and still current. */
function ownCell(handle: unknown, owner: number): Cell | undefined {
  return handle !== undefined && (handle as Cell).owner === owner ? (handle as Cell) : undefined;
}

/**
 * The in-memory {@link LimiterStore}: GCRA buckets for rate limits and counters for concurrency, all
 * answered synchronously (no promises on the hot path).
 *
 * Semantics (the Redis store implements the same):
 * - rate: `T = windowMs / limit`, `τ = (burst ?? limit) × T`, state `tat` (theoretical arrival time,
 *   missing = now). Reserving `a`: `newTat = max(tat, now) + a·T`, admitted iff `newTat − now ≤ τ`;
 *   denied → `retryAfterMs = ceil(newTat − τ − now)`, or `Infinity` when `a > burst`.
 *   After: `remaining = floor((τ − (newTat − now)) / T)`, `resetMs = ceil(newTat − now)`.
 * - rate adjust `d`: `tat = max(max(tat, now) + d·T, now)`: refunds never exceed full capacity, extra
 *   charges may push `tat` past `τ` (debt; later reservations wait).
 * - concurrency: admitted iff `count + a ≤ limit`; adjust: `count = max(0, count + d)`.
 * - a reservation is all or nothing; several charges on the same key accumulate.
 * - a denial reports the charge that binds longest (largest `retryAfterMs`), so waiting that long is
 *   enough for every charge of the call, unless someone else consumes in between.
 *
 * A rate key whose `tat` is in the past is indistinguishable from a missing key; once idle for
 * `idleGraceMs` it is deleted by a sweep that runs when the map grows (amortized O(1)) or after
 * `sweepIntervalMs`. Concurrency keys are deleted as soon as they return to 0. Idle keys therefore
 * cost nothing. `states` of an admitted result are computed only when read.
 *
 * @example
 * ```ts
 * const store = new MemoryLimiterStore();
 * const r = store.reserve([{ key: 'rpm|user=u1', kind: 'rate', limit: 20, windowMs: 60_000, amount: 1 }]);
 * if (!r.ok) console.log(`retry in ${r.retryAfterMs} ms`);
 * ```
 */
export class MemoryLimiterStore implements LimiterStore {
  private readonly clock: Clock;
  /** Tags this store's cells (see {@link Cell}). */
  private readonly id = ++lastStoreId;
  /** Times are stored relative to this, which keeps far more float precision than epoch ms. */
  private readonly origin: number;
  private readonly rates = new Map<string, Cell>();
  private readonly counts = new Map<string, Cell>();
  /** Per-window counters (`concurrency` with `windowMs > 0`): when each may be dropped (store time). */
  private readonly windowExpiry = new Map<string, number>();
  private readonly sweepEvery: number;
  private readonly sweepIntervalMs: number;
  private readonly idleGraceMs: number;
  private sweepAt: number;
  private lastSweep: number;
  /** Store time of the latest clock read: any `tat` at or before it is in the past. */
  private lastNow = 0;
  /** Scratch space reused between calls: per charge, the new value if admitted and the cumulative amount. */
  private nextValue: number[] = [];
  private cumulative: number[] = [];
  private cells: (Cell | undefined)[] = [];
  private found: (Cell | undefined)[] = [];

  constructor(options: MemoryLimiterStoreOptions = {}) {
    this.clock = options.clock ?? systemClock;
    this.origin = this.clock.now();
    this.sweepEvery = Math.max(16, options.sweepEvery ?? 10_000);
    this.sweepIntervalMs = options.sweepIntervalMs ?? 60_000;
    this.idleGraceMs = Math.max(0, options.idleGraceMs ?? 10_000);
    this.sweepAt = this.sweepEvery;
    this.lastSweep = 0;
  }

  /** Number of keys holding state (rate keys not yet swept, plus non-zero concurrency counters). */
  get size(): number {
    return this.rates.size + this.counts.size;
  }

  /**
   * Applies every charge, or none.
   *
   * @example
   * ```ts
   * const r = store.reserve([rpmCharge, tpmCharge]);
   * ```
   */
  reserve(charges: readonly LimitCharge[]): ReserveResult {
    const now = this.now();
    this.maybeSweep(now);
    const n = charges.length;
    const next = this.nextValue;
    const cum = this.cumulative;
    const cells = this.cells;
    const found = this.found;
    let denied = -1;
    let deniedWait = -1;

    // Check phase: compute every new value, accumulating over earlier charges on the same key.
    for (let i = 0; i < n; i++) {
      const c = charges[i]!;
      const rate = c.kind === 'rate';
      const cell = ownCell(c.handle, this.id) ?? (rate ? this.rates : this.counts).get(c.key);
      found[i] = cell;
      // An earlier charge on the same key. Two keys with a cell are the same key iff the cell is the
      // same (a key and its cell are found in the same map, unchanged during this phase); the key
      // strings are compared only when neither key has state yet.
      let prev = -1;
      for (let j = i - 1; j >= 0; j--) {
        const o = charges[j]!;
        if (found[j] === cell && o.kind === c.kind && (cell !== undefined || o.key === c.key)) {
          prev = j;
          break;
        }
      }
      if (rate) {
        const T = c.windowMs / c.limit;
        const burst = c.burst ?? c.limit;
        const tau = burst * T;
        let base: number;
        if (prev >= 0) {
          base = next[prev]!;
          cum[i] = cum[prev]! + c.amount;
          cells[i] = undefined;
        } else {
          base = cell !== undefined && cell.v > now ? cell.v : now;
          cum[i] = c.amount;
          cells[i] = cell;
        }
        const nt = base + c.amount * T;
        next[i] = nt;
        if (nt - now > tau + T * UNIT_TOLERANCE) {
          const wait = cum[i]! > burst * (1 + UNIT_TOLERANCE) ? Infinity : Math.max(1, Math.ceil(nt - tau - now - MS_TOLERANCE));
          if (wait > deniedWait) {
            deniedWait = wait;
            denied = i;
          }
        }
      } else {
        let base: number;
        if (prev >= 0) {
          base = next[prev]!;
          cum[i] = cum[prev]! + c.amount;
          cells[i] = undefined;
        } else {
          base = cell?.v ?? 0;
          cum[i] = c.amount;
          cells[i] = cell;
        }
        const nc = base + c.amount;
        next[i] = nc;
        if (nc > c.limit) {
          const wait = cum[i]! > c.limit ? Infinity : CONCURRENCY_RETRY_MS;
          if (wait > deniedWait) {
            deniedWait = wait;
            denied = i;
          }
        }
      }
    }

    if (denied >= 0) {
      return { ok: false, index: denied, retryAfterMs: deniedWait, states: this.statesAt(charges, now) };
    }

    // Apply phase. A key charged twice is written once more by its later charge, which holds the
    // cumulative value (cells[i] is undefined for repeats, so they look the key up again).
    const after: number[] = new Array(n);
    for (let i = 0; i < n; i++) {
      const c = charges[i]!;
      const v = next[i]!;
      const map = c.kind === 'rate' ? this.rates : this.counts;
      let cell = cells[i] ?? map.get(c.key);
      cells[i] = undefined;
      if (cell === undefined) map.set(c.key, (cell = { v, owner: this.id }));
      else cell.v = v;
      c.handle = cell;
      if (c.kind === 'concurrency' && c.windowMs > 0) this.windowExpiry.set(c.key, now + c.windowMs);
      after[i] = c.kind === 'rate' ? v - now : v;
    }
    if (this.rates.size > this.sweepAt) this.sweepIdle(now - this.idleGraceMs);
    return new Admitted(charges, after);
  }

  /**
   * Applies refunds, extra charges and concurrency releases. Never denies.
   *
   * @example
   * ```ts
   * store.adjust([{ key, kind: 'rate', limit: 90_000, windowMs: 60_000, delta: -250 }]);
   * ```
   */
  adjust(adjustments: readonly LimitAdjustment[]): void {
    // The clock is read only when needed: a refund never needs it (see below), and most adjustments
    // are refunds (settle returns unused output tokens).
    let now = NaN;
    for (let i = 0; i < adjustments.length; i++) {
      const a = adjustments[i]!;
      if (a.delta === 0) continue;
      if (a.kind === 'rate') {
        const T = a.windowMs / a.limit;
        const cell = ownCell(a.handle, this.id) ?? this.rates.get(a.key);
        if (a.delta < 0) {
          // A refund moves `tat` back. A missing key is already at full capacity, and a `tat` at or
          // before now means full capacity whatever its value, so no clamp to now is needed.
          if (cell === undefined) continue;
          cell.v += a.delta * T;
          if (cell.v <= this.lastNow) this.drop(this.rates, a.key, cell); // surely in the past: full again
          continue;
        }
        if (Number.isNaN(now)) now = this.now();
        const v = (cell !== undefined && cell.v > now ? cell.v : now) + a.delta * T;
        if (cell === undefined) this.rates.set(a.key, { v, owner: this.id });
        else cell.v = v;
      } else {
        const cell = ownCell(a.handle, this.id) ?? this.counts.get(a.key);
        const v = Math.max(0, (cell?.v ?? 0) + a.delta);
        if (a.windowMs > 0) {
          if (v === 0) this.windowExpiry.delete(a.key);
          else {
            if (Number.isNaN(now)) now = this.now();
            this.windowExpiry.set(a.key, Math.max(this.windowExpiry.get(a.key) ?? 0, now + a.windowMs));
          }
        }
        if (v === 0) {
          if (cell !== undefined) this.drop(this.counts, a.key, cell);
        } else if (cell === undefined) {
          this.counts.set(a.key, { v, owner: this.id });
        } else {
          cell.v = v;
        }
      }
    }
  }

  /**
   * Current state of each charged key, without charging (the `amount` is ignored).
   *
   * @example
   * ```ts
   * const [state] = store.peek([charge]);
   * console.log(state.remaining);
   * ```
   */
  peek(charges: readonly LimitCharge[]): LimitState[] {
    return this.statesAt(charges, this.now());
  }

  /**
   * Deletes every idle key now (rate keys back at full capacity). Runs on its own when the map grows;
   * call it directly only in tests or after a known burst of one-off keys.
   *
   * @example
   * ```ts
   * store.sweep();
   * ```
   */
  sweep(): void {
    this.sweepIdle(this.now());
  }

  /**
   * Drops all state.
   *
   * @example
   * ```ts
   * store.close();
   * ```
   */
  close(): void {
    for (const cell of this.rates.values()) cell.owner = 0;
    for (const cell of this.counts.values()) cell.owner = 0;
    this.rates.clear();
    this.counts.clear();
    this.windowExpiry.clear();
  }

  /** Deletes a key; handles to its cell stop working. */
  private drop(map: Map<string, Cell>, key: string, cell: Cell): void {
    cell.owner = 0;
    map.delete(key);
  }

  /** Store time (ms since the store was created), remembered as {@link lastNow}. */
  private now(): number {
    const now = this.clock.now() - this.origin;
    if (now > this.lastNow) this.lastNow = now;
    return now;
  }

  private maybeSweep(now: number): void {
    if (now - this.lastSweep >= this.sweepIntervalMs) {
      this.lastSweep = now;
      if (this.rates.size > 0 || this.windowExpiry.size > 0) this.sweepIdle(now - this.idleGraceMs);
    }
  }

  /** Deletes rate keys whose `tat` is at or before `before` (store-relative time). */
  private sweepIdle(before: number): void {
    for (const [key, cell] of this.rates) {
      if (cell.v <= before) this.drop(this.rates, key, cell);
    }
    // Per-window totals (budgets) are dead once their window is over: the next window has its own key.
    for (const [key, expiry] of this.windowExpiry) {
      if (expiry <= before) {
        this.windowExpiry.delete(key);
        const cell = this.counts.get(key);
        if (cell !== undefined) this.drop(this.counts, key, cell);
      }
    }
    this.lastSweep = this.clock.now() - this.origin;
    this.sweepAt = Math.max(this.sweepEvery, this.rates.size * 2);
  }

  private statesAt(charges: readonly LimitCharge[], now: number): LimitState[] {
    const out: LimitState[] = new Array(charges.length);
    for (let i = 0; i < charges.length; i++) {
      const c = charges[i]!;
      if (c.kind === 'rate') {
        const cell = this.rates.get(c.key);
        out[i] = rateState(c, cell !== undefined && cell.v > now ? cell.v - now : 0);
      } else {
        out[i] = { remaining: Math.max(0, c.limit - (this.counts.get(c.key)?.v ?? 0)), resetMs: 0 };
      }
    }
    return out;
  }
}

/**
 * An admitted reservation's result. `states` is computed on first read: most callers never read it,
 * and the hot path then allocates one small array instead of one object per charge.
 */
class Admitted {
  readonly ok = true as const;
  private computed: LimitState[] | undefined;

  /** `after[i]`: for rate charges the debt (`tat − now`) after admission, for concurrency the count. */
  constructor(
    private readonly charges: readonly LimitCharge[],
    private readonly after: readonly number[],
  ) {}

  get states(): LimitState[] {
    if (this.computed === undefined) {
      const out: LimitState[] = new Array(this.charges.length);
      for (let i = 0; i < out.length; i++) {
        const c = this.charges[i]!;
        const v = this.after[i]!;
        out[i] = c.kind === 'rate' ? rateState(c, v) : { remaining: Math.max(0, c.limit - v), resetMs: 0 };
      }
      this.computed = out;
    }
    return this.computed;
  }
}

/** State of a rate key whose `tat` is `debt` ms ahead of now. */
function rateState(c: LimitCharge, debt: number): LimitState {
  const T = c.windowMs / c.limit;
  const tau = (c.burst ?? c.limit) * T;
  return {
    remaining: Math.max(0, Math.floor((tau - debt) / T + UNIT_TOLERANCE)),
    resetMs: debt > 0 ? Math.max(0, Math.ceil(debt - MS_TOLERANCE)) : 0,
  };
}
