/**
 * One counter a reservation touches. The core turns each matching limit rule into a charge on one key;
 * the store applies all charges of a reservation atomically (all or nothing).
 *
 * - `kind: 'rate'` is a GCRA bucket: `limit` units per `windowMs`, at most `burst` (default `limit`)
 *   units at once, replenished continuously. `amount` may be fractional (cost in USD).
 * - `kind: 'concurrency'` is a bounded counter, at most `limit`: in-flight units released by an
 *   adjustment with a negative delta, or (with `windowMs > 0`) a per-window total whose key carries the
 *   window index; stores keep such keys at least `windowMs` (Redis: TTL ≥ windowMs).
 *
 * @example
 * ```ts
 * const charge: LimitCharge = { key: 'user=u1|requests|60000', kind: 'rate', limit: 20, windowMs: 60_000, amount: 1 };
 * ```
 */
export interface LimitCharge {
  key: string;
  kind: 'rate' | 'concurrency';
  limit: number;
  windowMs: number;
  /** Largest amount admitted at once (bucket capacity). Defaults to `limit`. */
  burst?: number;
  amount: number;
  /**
   * Opaque and store-owned: a store may set it during `reserve` (the memory store puts the key's
   * counter here), and the limiter then passes it back on later charges and adjustments of the same
   * key, so the store need not look the key up again. A store must check that a handle is its own and
   * still current, and otherwise look the key up as if there were none; stores that set none ignore it.
   */
  handle?: unknown;
}

/**
 * The state of one charged key right after a reservation, for headers such as `RateLimit`.
 *
 * @example
 * ```ts
 * if (result.ok) res.setHeader('RateLimit', `remaining=${result.states[0].remaining}`);
 * ```
 */
export interface LimitState {
  /** Units that could still be reserved right now. */
  remaining: number;
  /** Milliseconds until the key is back at full capacity (0 for concurrency). */
  resetMs: number;
}

/**
 * Outcome of {@link LimiterStore.reserve}. When denied, nothing was charged; `index` names the
 * charge that failed and `retryAfterMs` when it could pass (`Infinity` when it never can, because the
 * amount exceeds the bucket's capacity; for a per-window total, the time to the end of its window).
 *
 * `marks` (optional, opaque, store-owned): one value per charge, which the limiter passes back as
 * {@link LimitAdjustment.mark} on the adjustments of that charge (settle, fail). A store uses it to
 * cap a refund at what the reservation still holds (see {@link LimitAdjustment.mark}); a store that
 * returns none gets none back and refunds as before.
 *
 * @example
 * ```ts
 * const r = await store.reserve(charges);
 * if (!r.ok) console.log(`charge ${r.index} denied, retry in ${r.retryAfterMs} ms`);
 * ```
 */
export type ReserveResult =
  | { ok: true; states: LimitState[]; marks?: unknown[] }
  | { ok: false; index: number; retryAfterMs: number; states?: LimitState[] };

/**
 * A change to a key after the fact: settle (`delta` = actual - reserved, negative refunds) or release
 * of a concurrency slot (`delta: -1`).
 *
 * @example
 * ```ts
 * await store.adjust([{ key, kind: 'rate', limit: 90_000, windowMs: 60_000, delta: -250 }]);
 * ```
 */
export interface LimitAdjustment {
  key: string;
  kind: 'rate' | 'concurrency';
  limit: number;
  windowMs: number;
  burst?: number;
  delta: number;
  /** A handle the store set on the reservation's charge for this key (see {@link LimitCharge.handle}). */
  handle?: unknown;
  /**
   * Opaque and store-owned: the value the store returned for this charge in
   * {@link ReserveResult}'s `marks` when it was reserved (undefined when it returned none, and on
   * adjustments of charges that were never reserved). With it a store caps a refund (negative
   * `delta` on a rate key) at what the reservation still holds — the part of its GCRA interval that
   * has not expired yet — so a late refund cannot hand back capacity that time has already restored
   * (which would allow up to twice the burst). The memory store's mark is a pair: the key's `tat` right
   * after the charge plus the refunds the key had taken until then, and the reservation's time plus
   * the charge's span; Redis's is that `tat` alone. A store must
   * ignore a mark that is not its own kind of value; without a mark it refunds as before
   * (`tat = max(tat + delta·T, now)`).
   */
  mark?: unknown;
}

/**
 * A value or a promise of it: the in-memory store answers synchronously, Redis asynchronously.
 *
 * @example
 * ```ts
 * const r: MaybePromise<LimitDecision> = limiter.reserve(ctx, estimate, 'request');
 * const d = r instanceof Promise ? await r : r; // no await (and no microtask) with the memory store
 * ```
 */
export type MaybePromise<T> = T | Promise<T>;

/** @internal True when a {@link MaybePromise} is the promise (the hot paths stay synchronous otherwise). */
export function isPromiseLike<T>(v: T | PromiseLike<T>): v is PromiseLike<T> {
  return typeof (v as { then?: unknown } | undefined)?.then === 'function';
}

/**
 * Where limiter state lives. The in-memory store is the embedded default; `@llm-resilience/redis`
 * implements the same interface so many processes share one limit. Stores own their time source
 * (the memory store reads the injected clock, Redis reads `TIME`).
 *
 * @example
 * ```ts
 * const engine = createResilience(policy, { store: new MemoryLimiterStore({ clock }) });
 * ```
 */
export interface LimiterStore {
  /** Applies every charge, or none of them. */
  reserve(charges: readonly LimitCharge[]): MaybePromise<ReserveResult>;
  /**
   * Applies adjustments (refunds, extra charges, concurrency releases). Never denies. Adjustments
   * with `delta: 0` must be skipped: a reservation hands back every charge it holds, changed or not.
   */
  adjust(adjustments: readonly LimitAdjustment[]): MaybePromise<void>;
  /** Current state of keys without charging them. */
  peek?(charges: readonly LimitCharge[]): MaybePromise<LimitState[]>;
  /**
   * Units each key holds right now, unrounded (rate: `(tat − now) / T`, more than the capacity while in
   * debt; counters: the count), without charging. `peek`'s `remaining` is floored to whole units, so
   * the limiter's `usage()` prefers this when a store has it.
   */
  usage?(charges: readonly LimitCharge[]): MaybePromise<number[]>;
  /** Releases timers/connections owned by the store. */
  close?(): MaybePromise<void>;
}
