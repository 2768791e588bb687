import { systemClock, type Clock } from '../clock';
import { BucketSpec } from './BucketSpec';
import { KeySlot } from './KeySlot';
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
/**
 * @internal Float tolerance of counters (in-flight slots, per-window totals), as a fraction of the limit: a
 * spend budget adds up dollars and cents, which doubles do not hold exactly (0.1 + 0.1 + 0.1 is
 * 0.30000000000000004), so three $0.10 requests would not fit a $0.30 cap without it. A billionth of
 * the limit is far below a cent for any budget and below one token for any token total; whole-unit
 * counters (slots) are unaffected.
 */
export const COUNT_TOLERANCE = 1e-9;
/** Tolerance (ms) when rounding durations up, so 1000.0000000001 ms reports as 1000, not 1001. */
const MS_TOLERANCE = 1e-6;
/**
 * Suggested wait when a concurrency slot is taken. The store cannot know when an in-flight call ends;
 * callers waiting on a slot should poll no faster than this.
 *
 * @example
 * ```ts
 * if (!d.ok && d.rule.metric === 'concurrency') await sleep(Math.max(d.retryAfterMs, CONCURRENCY_RETRY_MS));
 * ```
 */
export const CONCURRENCY_RETRY_MS = 250;

/**
 * A key's state: a mutable cell, so that an update is one map lookup plus a field write. Cells are
 * {@link KeySlot}s: the first slot the store is given for a new key becomes its cell, so a slot of the
 * limiter's key cache usually is the state of its key. A cell is also the handle the store hands out
 * on charges ({@link LimitCharge.handle}) and sets on other slots of its key: `owner` is the store's id
 * while the cell is in its map and becomes 0 when the key is deleted, so a cached handle is never used
 * after that. An id rather than the store itself keeps charges and results printable with
 * `JSON.stringify` (a cell's own handle is cleared when it becomes a cell, so handles never form a cycle).
 */
type Cell = KeySlot;

let lastStoreId = 0;

/** The cell a charge's handle points to, when it is this store's and still current. */
function ownCell(handle: unknown, owner: number): Cell | undefined {
  return handle !== undefined && (handle as Cell).owner === owner ? (handle as Cell) : undefined;
}

/** The current cell of `slot`'s key when the slot knows it: the slot itself, or its handle. */
function liveCell(slot: KeySlot, owner: number): Cell | undefined {
  return slot.owner === owner ? slot : ownCell(slot.handle, owner);
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
 * - rate extra charge `d > 0`: `tat = max(tat, now) + d·T`; it may push `tat` past `τ` (debt; later
 *   reservations wait).
 * - rate refund `d < 0`: gives back at most what the reservation still holds, the unexpired part of
 *   its GCRA interval, so a late refund cannot restore capacity that time already restored (that would
 *   admit up to twice the burst). Each rate key keeps `r`, the refunded time taken off its `tat` so far
 *   (never decreasing; a new key starts from the largest `r` of the store, so a reservation made on a
 *   key since dropped never sees a smaller one). An admitted charge's mark
 *   ({@link ReserveResult} `marks`) is the pair `tatAfter + r` (its key's `tat` right after it plus `r`
 *   then) and `reservedAt + amount·T`. A refund at `now` applies
 *   `min(−d·T, max(0, max(mark − r, reservedAt + amount·T) − now))`: `tat −= applied`, `r += applied`.
 *   Refunds of earlier reservations shift this one's interval earlier; subtracting all refunds since it
 *   was made accounts for them, conservatively (a later reservation that refunds first shrinks the
 *   first bound although it did not move this one). The second bound makes up for that: an interval
 *   never starts before its reservation was made, so it holds at least until `reservedAt + amount·T`.
 *   Either bound is at most what is still held, so the larger is too. A marked refund does not read
 *   the clock: it waits for the store's next clock read (the next reservation, peek, usage, extra
 *   charge or `size`, on any key) and is applied then, before anything else, with `now` of that read.
 *   Under load that is microseconds later; the only effect of the wait is that the cap may give back
 *   less. A clock read is a good share of a reservation's cost (`Date.now()` is a call into the
 *   runtime), and this keeps settling free of them. Without a mark
 *   (adjustments of plain callers): `tat = max(tat + d·T, now)`, and `r` grows by `−d·T`. Refunds
 *   never exceed full capacity.
 * - concurrency: admitted iff `count + a ≤ limit × (1 + 1e-9)` (a float tolerance: sums of dollars and cents are not exact in doubles); adjust: `count = max(0, count + d)`.
 * - a reservation is all or nothing; several charges on the same key accumulate.
 * - a denial reports the charge that binds longest (largest `retryAfterMs`), so waiting that long is
 *   enough for every charge of the call, unless someone else consumes in between. A full per-window
 *   total waits for the end of its window (windows aligned to multiples of `windowMs` since the
 *   epoch, as the limiter's window keys are), an in-flight counter {@link CONCURRENCY_RETRY_MS}.
 *
 * A rate key whose `tat` is in the past is indistinguishable from a missing key; once idle for
 * `idleGraceMs` it is deleted by a sweep that runs when the map grows (amortized O(1)) or after
 * `sweepIntervalMs`. Concurrency keys are deleted as soon as they return to 0. Idle keys therefore
 * cost nothing. `states` of an admitted result are computed only when read.
 *
 * `reserve` and `adjust` take charge objects; the {@link Limiter} calls the same arithmetic through
 * `reserveBatch` and `adjustBatch` (internal), on the rules' precomputed buckets and its key cache's
 * slots, so that a reservation builds no charge objects.
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
  /** Times are stored relative to this, which keeps far more float precision than epoch ms. */
  private readonly origin: number;
  /** Tags this store's cells (see {@link Cell}). */
  private readonly id = ++lastStoreId;
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
  /**
   * Scratch space reused between calls: per charge of the latest {@link reserveBatch}, the key's new
   * value if admitted (for rate keys its `tat`, in store time; for counters the count).
   */
  private nextValue = new Float64Array(8);
  /** Store time of the latest {@link reserveBatch}. */
  private batchNow = 0;
  /** @internal The wait of the latest denial of {@link reserveBatch} (read by the {@link Limiter}). */
  deniedWait = 0;
  /** Scratch: per charge the cumulative amount on its key (only when a key is charged twice). */
  private cumulative = new Float64Array(8);
  /**
   * Scratch: per charge of the latest admitted {@link reserveBatch}, its mark (rate: `tatAfter + r`,
   * counters 0) at `2i` and the earliest its interval can end (`now + amount·T`) at `2i + 1`.
   */
  private markValue = new Float64Array(16);
  /** The largest `r` any rate cell of this store has reached: where a new cell's `r` starts. */
  private maxR = 0;
  /**
   * Marked refunds waiting for the next clock read (see the class comment): their cells, in order,
   * the first {@link pending} of them (the array is reused; entries past it are stale or `undefined`).
   */
  private pendingCells: Array<Cell | undefined> = [];
  private pending = 0;
  /** Per pending refund `k`: the time to give back at `3k`, its marks at `3k + 1` and `3k + 2`. */
  private pendingTimes = new Float64Array(24);

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
    if (this.pending > 0) this.now(); // pending refunds may drop keys
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
    const n = charges.length;
    const specs = new Array<BucketSpec>(n);
    const slots = new Array<KeySlot>(n);
    const amounts = new Float64Array(n);
    let repeats: Int32Array | undefined;
    for (let i = 0; i < n; i++) {
      const c = charges[i]!;
      specs[i] = BucketSpec.of(c);
      slots[i] = new KeySlot(c.key, c.handle);
      amounts[i] = c.amount;
      // Several charges on one key accumulate: each points at the previous one on its key.
      for (let j = i - 1; j >= 0; j--) {
        if (charges[j]!.key === c.key && charges[j]!.kind === c.kind) {
          (repeats ??= new Int32Array(n).fill(-1))[i] = j;
          break;
        }
      }
    }
    const denied = this.reserveBatch(n, specs, slots, amounts, repeats);
    const now = this.batchNow;
    if (denied >= 0) return { ok: false, index: denied, retryAfterMs: this.deniedWait, states: this.statesAt(n, specs, slots, now) };
    const after: number[] = new Array(n);
    for (let i = 0; i < n; i++) {
      charges[i]!.handle = liveCell(slots[i]!, this.id);
      after[i] = specs[i]!.kind === 'rate' ? this.nextValue[i]! - now : this.nextValue[i]!;
    }
    // One mark per charge for the generic interface: the pair `reserveBatch` wrote for it.
    const m = this.markValue;
    const marks: Array<readonly [number, number]> = new Array(n);
    for (let i = 0; i < n; i++) marks[i] = [m[2 * i]!, m[2 * i + 1]!];
    return new Admitted(specs, after, marks);
  }

  /**
   * @internal The reservation itself, on parallel arrays: charge `i` is `amounts[i]` units on the
   * bucket `specs[i]` of the key `slots[i]` (see {@link LimitCharge}). Every charge is applied, or none.
   * Returns -1 when admitted (then each slot is its key's cell or has it as handle), or the index of the charge
   * that binds longest (its wait is then {@link deniedWait}). When a key is charged more than once,
   * `repeats[i]` is the index of the previous charge on the key of charge `i` (else -1); without
   * `repeats` every key is charged once, as the {@link Limiter} does (one key per rule). The limiter
   * passes its key cache's slots and arrays it keeps, so an admitted reservation allocates nothing here.
   * The marks of an admitted reservation are then read with {@link takeMarks}.
   */
  reserveBatch(n: number, specs: readonly BucketSpec[], slots: readonly KeySlot[], amounts: Float64Array, repeats?: Int32Array): number {
    const now = this.now();
    this.batchNow = now;
    this.maybeSweep(now);
    if (this.nextValue.length < n) this.grow(n);
    const next = this.nextValue;
    const cum = this.cumulative;
    const rates = this.rates;
    const counts = this.counts;
    const id = this.id;
    let denied = -1;
    let deniedWait = -1;

    // Check phase: compute every new value, accumulating over earlier charges on the same key.
    for (let i = 0; i < n; i++) {
      const s = specs[i]!;
      const amount = amounts[i]!;
      const rate = s.kind === 'rate';
      const prev = repeats === undefined ? -1 : repeats[i]!;
      let base: number;
      let total = amount;
      if (prev >= 0) {
        base = next[prev]!;
        total += cum[prev]!;
      } else {
        const slot = slots[i]!;
        const cell = liveCell(slot, id) ?? (rate ? rates : counts).get(slot.key);
        const v = cell === undefined ? (rate ? now : 0) : cell.v;
        base = rate && v <= now ? now : v;
      }
      if (repeats !== undefined) cum[i] = total;
      if (rate) {
        const T = s.T;
        const nt = base + amount * T;
        next[i] = nt;
        if (nt - now > s.tau + T * UNIT_TOLERANCE) {
          const wait = total > s.burst * (1 + UNIT_TOLERANCE) ? Infinity : Math.max(1, Math.ceil(nt - s.tau - now - MS_TOLERANCE));
          if (wait > deniedWait) {
            deniedWait = wait;
            denied = i;
          }
        }
      } else {
        const nc = base + amount;
        next[i] = nc;
        const capacity = s.limit * (1 + COUNT_TOLERANCE);
        if (nc > capacity) {
          // A per-window total frees up when its window ends; an in-flight slot at some unknown time.
          const wait = total > capacity ? Infinity : s.windowMs > 0 ? this.windowEndsIn(s.windowMs, now) : CONCURRENCY_RETRY_MS;
          if (wait > deniedWait) {
            deniedWait = wait;
            denied = i;
          }
        }
      }
    }

    if (denied >= 0) {
      this.deniedWait = deniedWait;
      return denied;
    }

    // Apply phase. A slot that neither is nor knows its key's cell gets it as its handle, or becomes
    // it (a new key); a key charged twice is written again by its later charge, which holds the
    // cumulative value. A repeat was not looked up in the check phase (its predecessor was).
    const marks = this.markValue;
    for (let i = 0; i < n; i++) {
      const s = specs[i]!;
      const slot = slots[i]!;
      let cell = liveCell(slot, id);
      if (cell === undefined) {
        // A new key, a stale handle, or a repeat of a key whose first charge created its cell above.
        const map = s.kind === 'rate' ? rates : counts;
        cell = map.get(slot.key);
        if (cell === undefined) cell = this.adopt(map, slot);
        else slot.handle = cell;
      }
      const v = next[i]!;
      cell.v = v;
      if (s.kind === 'rate') {
        marks[2 * i] = v + cell.r;
        marks[2 * i + 1] = now + amounts[i]! * s.T;
      } else {
        marks[2 * i] = 0;
        marks[2 * i + 1] = 0;
        if (s.windowMs > 0) this.windowExpiry.set(slot.key, now + s.windowMs);
      }
    }
    if (rates.size > this.sweepAt) this.sweepIdle(now - this.idleGraceMs);
    return -1;
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
    const n = adjustments.length;
    const specs = new Array<BucketSpec>(n);
    const slots = new Array<KeySlot>(n);
    const deltas = new Float64Array(n);
    let marks: Float64Array | undefined;
    for (let i = 0; i < n; i++) {
      const a = adjustments[i]!;
      specs[i] = BucketSpec.of(a);
      slots[i] = new KeySlot(a.key, a.handle);
      deltas[i] = a.delta;
      // This store's marks are pairs of numbers (see `reserve`); anything else is not its own.
      const m = a.mark;
      if (Array.isArray(m) && m.length === 2 && typeof m[0] === 'number' && typeof m[1] === 'number') {
        marks ??= new Float64Array(2 * n).fill(NaN);
        marks[2 * i] = m[0];
        marks[2 * i + 1] = m[1];
      }
    }
    this.adjustBatch(n, specs, slots, deltas, marks);
  }

  /**
   * @internal {@link adjust} on parallel arrays (as {@link reserveBatch}): `deltas[i]` units on the
   * bucket `specs[i]` of the key `slots[i]`; deltas of 0 are skipped. `marks[2i]` and `marks[2i + 1]`
   * are the marks of the reserved charge being settled (see {@link takeMarks}); a refund without them
   * (no `marks`, an index past its end, or NaN) is not capped.
   */
  adjustBatch(n: number, specs: readonly BucketSpec[], slots: readonly KeySlot[], deltas: Float64Array, marks?: ArrayLike<number>): void {
    // The clock is read only when needed: refunds never need it (a marked one waits for the next read).
    let now = NaN;
    const nMarks = marks === undefined ? 0 : marks.length >> 1;
    for (let i = 0; i < n; i++) {
      const delta = deltas[i]!;
      if (delta === 0) continue;
      const s = specs[i]!;
      const slot = slots[i]!;
      const key = slot.key;
      if (s.kind === 'rate') {
        // An extra charge needs the time; read it before looking the cell up, as pending refunds
        // applied by the read may drop the cell.
        if (delta > 0 && Number.isNaN(now)) now = this.now();
        const cell = liveCell(slot, this.id) ?? this.rates.get(key);
        if (delta < 0) {
          // A refund moves `tat` back. A missing key is already at full capacity, and a `tat` at or
          // before now means full capacity whatever its value, so no clamp to now is needed.
          if (cell === undefined) continue;
          const applied = -delta * s.T;
          const mark = i < nMarks ? marks![2 * i]! : NaN;
          if (mark === mark) {
            // Capped by what the reservation still holds, at the next clock read (see the class comment).
            this.defer(cell, applied, mark, marks![2 * i + 1]!);
            continue;
          }
          this.giveBack(cell, applied, this.lastNow);
          continue;
        }
        const v = (cell !== undefined && cell.v > now ? cell.v : now) + delta * s.T;
        (cell ?? this.adopt(this.rates, slot)).v = v;
      } else {
        const cell = liveCell(slot, this.id) ?? this.counts.get(key);
        const v = Math.max(0, (cell?.v ?? 0) + delta);
        if (s.windowMs > 0) {
          if (v === 0) this.windowExpiry.delete(key);
          else {
            if (Number.isNaN(now)) now = this.now();
            this.windowExpiry.set(key, Math.max(this.windowExpiry.get(key) ?? 0, now + s.windowMs));
          }
        }
        if (v === 0) {
          if (cell !== undefined) this.drop(this.counts, key, cell);
        } else {
          (cell ?? this.adopt(this.counts, slot)).v = v;
        }
      }
    }
  }

  /**
   * @internal The marks of the latest admitted {@link reserveBatch}, two per charge (`i < n`): for a
   * rate charge `tatAfter + r` at `2i` and `now + amount·T` at `2i + 1` (see the class comment), for
   * counters 0. The {@link Reservation} keeps them and hands them back to {@link adjustBatch} when it
   * settles.
   */
  takeMarks(n: number): number[] {
    const m = this.markValue;
    // Literals for the usual sizes: built as arrays of doubles at once, not converted from small integers.
    if (n === 2) return [m[0]!, m[1]!, m[2]!, m[3]!];
    if (n === 1) return [m[0]!, m[1]!];
    const out: number[] = new Array<number>(2 * n);
    for (let i = 0; i < 2 * n; i++) out[i] = m[i]!;
    return out;
  }

  /**
   * Units each key holds right now, unrounded, without charging (the `amount` is ignored): for a rate
   * key `(tat − now) / T` (above the capacity while in debt), for a counter its count. `peek`'s
   * `remaining` is floored to whole units; this is exact, e.g. for a `cost` rule.
   *
   * @example
   * ```ts
   * const [spentUsd] = store.usage([{ key: 'team-cost|team=t1', kind: 'rate', limit: 5, windowMs: 60_000, amount: 0 }]);
   * ```
   */
  usage(charges: readonly LimitCharge[]): number[] {
    const now = this.now();
    const out: number[] = new Array<number>(charges.length);
    for (let i = 0; i < charges.length; i++) {
      const c = charges[i]!;
      const slot = new KeySlot(c.key, c.handle);
      if (c.kind === 'rate') {
        const cell = liveCell(slot, this.id) ?? this.rates.get(c.key);
        out[i] = cell !== undefined && cell.v > now ? (cell.v - now) / BucketSpec.of(c).T : 0;
      } else {
        out[i] = (liveCell(slot, this.id) ?? this.counts.get(c.key))?.v ?? 0;
      }
    }
    return out;
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
    const n = charges.length;
    const specs = new Array<BucketSpec>(n);
    const slots = new Array<KeySlot>(n);
    for (let i = 0; i < n; i++) {
      specs[i] = BucketSpec.of(charges[i]!);
      slots[i] = new KeySlot(charges[i]!.key, charges[i]!.handle);
    }
    return this.statesAt(n, specs, slots, this.now());
  }

  /** @internal {@link peek} on parallel arrays (as {@link reserveBatch}): the state of the key `slots[i]`, bucket `specs[i]`. */
  peekBatch(n: number, specs: readonly BucketSpec[], slots: readonly KeySlot[]): LimitState[] {
    return this.statesAt(n, specs, slots, this.now());
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
    this.pendingCells.length = 0;
    this.pending = 0;
  }

  /** Makes the scratch arrays hold at least `n` charges. */
  private grow(n: number): void {
    const size = Math.max(n, this.nextValue.length * 2);
    this.nextValue = new Float64Array(size);
    this.cumulative = new Float64Array(size);
    this.markValue = new Float64Array(2 * size);
  }

  /**
   * Ms from store time `now` to the end of the `windowMs` window containing it, at least 1 (windows
   * aligned to multiples of `windowMs` since the epoch, like the limiter's window keys).
   */
  private windowEndsIn(windowMs: number, now: number): number {
    const t = this.origin + now;
    return Math.max(1, Math.ceil((Math.floor(t / windowMs) + 1) * windowMs - t - MS_TOLERANCE));
  }

  /**
   * Makes `slot` the cell of its key (a new key) in `map`; a slot that is another store's cell gets a
   * new cell as its handle instead.
   */
  private adopt(map: Map<string, Cell>, slot: KeySlot): Cell {
    let cell = slot;
    if (slot.owner === 0) slot.handle = undefined;
    else slot.handle = cell = new KeySlot(slot.key);
    cell.owner = this.id;
    // Never below the `r` of any dropped cell of the key, which marks of open reservations may carry.
    cell.r = this.maxR;
    map.set(slot.key, cell);
    return cell;
  }

  /** Deletes a key; handles to its cell stop working. */
  private drop(map: Map<string, Cell>, key: string, cell: Cell): void {
    cell.owner = 0;
    map.delete(key);
  }

  /**
   * Store time (ms since the store was created), remembered as {@link lastNow}. Applies the pending
   * refunds first, so that nothing reads state they have not been applied to.
   */
  private now(): number {
    const now = this.clock.now() - this.origin;
    if (now > this.lastNow) this.lastNow = now;
    if (this.pending > 0) this.applyPending(now);
    return now;
  }

  /** Queues a marked refund of `time` ms on `cell`: it is capped and applied at the next clock read. */
  private defer(cell: Cell, time: number, mark: number, earliestEnd: number): void {
    const k = this.pending++;
    if (3 * k + 3 > this.pendingTimes.length) {
      const grown = new Float64Array(this.pendingTimes.length * 2);
      grown.set(this.pendingTimes);
      this.pendingTimes = grown;
    }
    this.pendingCells[k] = cell;
    const t = this.pendingTimes;
    t[3 * k] = time;
    t[3 * k + 1] = mark;
    t[3 * k + 2] = earliestEnd;
  }

  /**
   * Applies the pending refunds at store time `now`, in the order they came: each gives back at most
   * the unexpired part of its reservation's interval (see the class comment), which also keeps `tat`
   * at or after now. A cell dropped meanwhile was back at full capacity: nothing to give back.
   */
  private applyPending(now: number): void {
    const cells = this.pendingCells;
    const t = this.pendingTimes;
    const id = this.id;
    const n = this.pending;
    this.pending = 0;
    for (let k = 0; k < n; k++) {
      const cell = cells[k]!;
      cells[k] = undefined; // no reference kept to a cell the store may drop
      if (cell.owner !== id) continue;
      const cap = Math.max(t[3 * k + 1]! - cell.r, t[3 * k + 2]!) - now;
      if (!(cap > 0)) continue;
      this.giveBack(cell, Math.min(t[3 * k]!, cap), now);
    }
  }

  /**
   * Takes `time` ms off a rate cell's `tat` and adds it to its `r`; a `tat` at or before `past`
   * (surely in the past) means full capacity again, and the key is dropped.
   */
  private giveBack(cell: Cell, time: number, past: number): void {
    cell.v -= time;
    const r = (cell.r += time);
    if (r > this.maxR) this.maxR = r;
    if (cell.v <= past) this.drop(this.rates, cell.key, cell);
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

  private statesAt(n: number, specs: readonly BucketSpec[], slots: readonly KeySlot[], now: number): LimitState[] {
    const out: LimitState[] = new Array(n);
    for (let i = 0; i < n; i++) {
      const s = specs[i]!;
      const slot = slots[i]!;
      if (s.kind === 'rate') {
        const cell = liveCell(slot, this.id) ?? this.rates.get(slot.key);
        out[i] = rateState(s, cell !== undefined && cell.v > now ? cell.v - now : 0);
      } else {
        const cell = liveCell(slot, this.id) ?? this.counts.get(slot.key);
        out[i] = { remaining: Math.max(0, s.limit - (cell?.v ?? 0)), resetMs: 0 };
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

  /**
   * `after[i]`: for rate charges the debt (`tat − now`) after admission, for concurrency the count.
   * `marks`: see {@link ReserveResult}.
   */
  constructor(
    private readonly specs: readonly BucketSpec[],
    private readonly after: readonly number[],
    readonly marks: Array<readonly [number, number]>,
  ) {}

  get states(): LimitState[] {
    if (this.computed === undefined) {
      const out: LimitState[] = new Array(this.specs.length);
      for (let i = 0; i < out.length; i++) {
        const s = this.specs[i]!;
        const v = this.after[i]!;
        out[i] = s.kind === 'rate' ? rateState(s, v) : { remaining: Math.max(0, s.limit - v), resetMs: 0 };
      }
      this.computed = out;
    }
    return this.computed;
  }
}

/** State of a rate key whose `tat` is `debt` ms ahead of now. */
function rateState(s: BucketSpec, debt: number): LimitState {
  return {
    remaining: Math.max(0, Math.floor((s.tau - debt) / s.T + UNIT_TOLERANCE)),
    resetMs: debt > 0 ? Math.max(0, Math.ceil(debt - MS_TOLERANCE)) : 0,
  };
}
