import type { BucketSpec } from './BucketSpec';
import { amountOf, amountOfParts, M_REQUESTS, type CompiledRule } from './CompiledRule';
import { KeySlot } from './KeySlot';
import type { LimitAdjustment, LimitCharge, LimiterStore, LimitState, MaybePromise } from './LimiterStore';
import type { FailedCallCharge, LimitRule, UsageAmounts } from './LimitRule';
import type { MemoryLimiterStore } from './MemoryLimiterStore';

/**
 * One limit a {@link Reservation} holds, for `RateLimit` headers and records.
 *
 * @example
 * ```ts
 * for (const l of reservation.limits()) console.log(l.rule.id, l.state.remaining);
 * ```
 */
export interface ReservedLimit {
  rule: LimitRule;
  key: string;
  amount: number;
  state: LimitState | undefined;
}

/** @internal A rule whose estimate was 0, so nothing was reserved; settle still charges its actual usage. */
export interface DeferredCharge {
  readonly key: string;
  readonly rule: CompiledRule;
}

const NO_STATES: LimitState[] = [];

/**
 * @internal What the memory-store reservations of one limiter share: the store, and an array for the
 * deltas of a settlement (the store's calls are synchronous, so one array serves them all).
 */
export interface BatchContext {
  readonly store: MemoryLimiterStore;
  readonly deltas: Float64Array;
}

/**
 * A charge of `amount` that is also an adjustment of `delta` on the key `slot`, bucket `spec` (one
 * object shape for both, which keeps the store's property access monomorphic).
 */
function chargeOf(spec: BucketSpec, slot: KeySlot, amount: number, delta: number, mark: unknown): LimitCharge & LimitAdjustment {
  const burst = spec.kind === 'rate' ? spec.burst : undefined;
  return { key: slot.key, kind: spec.kind, limit: spec.limit, windowMs: spec.windowMs, burst, amount, delta, handle: slot.handle, mark };
}

/**
 * Plain charges of `amounts[i]` on `specs[i]` of `slots[i]`, `i < n`, with the slots' handles.
 *
 * @example
 * ```ts
 * store.peek(chargesOf(2, specs, slots, amounts));
 * ```
 */
export function chargesOf(n: number, specs: readonly BucketSpec[], slots: readonly KeySlot[], amounts: ArrayLike<number>): LimitCharge[] {
  const out: LimitCharge[] = new Array<LimitCharge>(n);
  for (let i = 0; i < n; i++) out[i] = chargeOf(specs[i]!, slots[i]!, amounts[i]!, 0, undefined);
  return out;
}

/**
 * Capacity held for one call. Exactly one of {@link Reservation.settle} or {@link Reservation.fail}
 * should follow; later calls are no-ops, so calling both (e.g. in `finally`) is safe.
 *
 * A reservation holds no charge objects: charge `i` is rule `i` on its bucket and its key-cache slot
 * (key and store handle), and its amount follows from the estimate, whose three numbers it copies.
 * When every rule of a phase applies to one scope (the common case), these are the phase's own arrays
 * and the key cache's entry, shared by every reservation of that scope value. It also keeps the
 * store's mark of each charge (see {@link LimitAdjustment.mark}): with the memory store two numbers per
 * charge, which cap its refunds at what it still holds.
 *
 * @example
 * ```ts
 * const r = limiter.reserve(ctx, estimate, 'target');
 * if (r.ok) await r.settle({ inputTokens: 812, outputTokens: 120, costUsd: 0.0004 });
 * ```
 */
export class Reservation {
  readonly ok = true as const;
  /**
   * Always `undefined`: a reservation is not a promise. It is an own property so that
   * `await limiter.reserve(...)` finds it at once; without it, awaiting a reservation makes V8 search
   * the class's prototype chain for a `then` method on every call (bench/README.md, "limiter").
   */
  readonly then: undefined = undefined;
  private done = false;
  private computed: readonly LimitState[] | undefined = undefined;
  /** The estimate reserved, copied (the caller's object may change afterwards) as numbers, not an object. */
  private readonly inputTokens: number;
  private readonly outputTokens: number;
  private readonly costUsd: number;

  /**
   * @internal Created by {@link Limiter.reserve}.
   * @param batch set when `store` is the memory store: settling then uses its batch calls
   * @param estimate the estimate reserved (its amounts are copied)
   * @param result what the store reported when reserving (stores other than the memory store)
   * @param marks the memory store's marks of the charges (see {@link MemoryLimiterStore.takeMarks})
   */
  constructor(
    private readonly store: LimiterStore,
    private readonly batch: BatchContext | undefined,
    private readonly rules: readonly CompiledRule[],
    private readonly specs: readonly BucketSpec[],
    private readonly slots: readonly KeySlot[],
    estimate: UsageAmounts,
    private readonly deferred: readonly DeferredCharge[] | undefined,
    private readonly result: { readonly states: readonly LimitState[]; readonly marks?: readonly unknown[] } | undefined,
    private readonly marks: readonly number[] | undefined,
  ) {
    this.inputTokens = estimate.inputTokens;
    this.outputTokens = estimate.outputTokens;
    this.costUsd = estimate.costUsd;
  }

  /**
   * State of each charged key (same order as {@link limits}): with the memory store as of the first
   * read (read it right after reserving, as `RateLimit` headers do), with other stores as the store
   * reported it when reserving.
   *
   * @example
   * ```ts
   * const remaining = Math.min(...reservation.states.map((s) => s.remaining));
   * ```
   */
  get states(): readonly LimitState[] {
    if (this.computed === undefined) {
      const n = this.rules.length;
      if (this.batch === undefined || n === 0) {
        this.computed = this.result?.states ?? NO_STATES;
      } else {
        this.computed = this.batch.store.peekBatch(n, this.specs, this.slots);
      }
    }
    return this.computed;
  }

  /** True once settled or failed. */
  get closed(): boolean {
    return this.done;
  }

  /** Number of limits this reservation holds (the length of {@link states}). */
  get size(): number {
    return this.rules.length;
  }

  /**
   * The rule of the `index`-th limit held (same order as {@link states}); no allocation, unlike
   * {@link limits}.
   *
   * @example
   * ```ts
   * for (let i = 0; i < reservation.size; i++) console.log(reservation.ruleAt(i).id, reservation.states[i]?.remaining);
   * ```
   */
  ruleAt(index: number): LimitRule {
    const cr = this.rules[index];
    if (cr === undefined) throw new RangeError(`Reservation.ruleAt(${index}): it holds ${this.rules.length} limit(s).`);
    return cr.rule;
  }

  /**
   * The limits this reservation holds, with the state of each (see {@link states}).
   *
   * @example
   * ```ts
   * const tightest = reservation.limits().sort((a, b) => (a.state?.remaining ?? 0) - (b.state?.remaining ?? 0))[0];
   * ```
   */
  limits(): ReservedLimit[] {
    const states = this.states;
    const rules = this.rules;
    const out: ReservedLimit[] = new Array<ReservedLimit>(rules.length);
    for (let i = 0; i < rules.length; i++) {
      out[i] = { rule: rules[i]!.rule, key: this.slots[i]!.key, amount: this.amountAt(i), state: states[i] };
    }
    return out;
  }

  /**
   * Replaces the estimate by the real usage: every rate charge is adjusted by `actual − estimated`
   * for its metric (refund or extra charge; extra charges are never denied, they become debt that
   * later requests wait for), concurrency slots are released, and rules that reserved nothing because
   * the estimate was 0 are charged their actual usage. A non-finite or negative actual amount keeps
   * the estimate.
   *
   * @example
   * ```ts
   * await reservation.settle({ inputTokens: usage.prompt_tokens, outputTokens: usage.completion_tokens, costUsd });
   * ```
   */
  settle(actual: UsageAmounts): MaybePromise<void> {
    return this.close(actual, undefined);
  }

  /**
   * The call failed: applies what a failed call still costs. `kind` overrides every rule's
   * `onFailure`; without it each rule's own setting applies, default `requests` (request counts stay
   * charged, tokens and cost are refunded). Concurrency slots are always released.
   *
   * - `keep`: everything stays charged as estimated (e.g. the provider billed the failed call).
   * - `release`: everything is refunded (e.g. the call never left the process).
   * - `requests`: only `requests` rules stay charged.
   *
   * @example
   * ```ts
   * await reservation.fail();          // rule defaults
   * await reservation.fail('release'); // the request was never sent
   * ```
   */
  fail(kind?: FailedCallCharge): MaybePromise<void> {
    return this.close(undefined, kind);
  }

  /** Settles with `actual`, or applies a failure (`actual` undefined) with `kind`. */
  private close(actual: UsageAmounts | undefined, kind: FailedCallCharge | undefined): MaybePromise<void> {
    if (this.done) return;
    this.done = true;
    const rules = this.rules;
    const n = rules.length;
    const deltas = this.batch?.deltas ?? new Float64Array(n);
    let changes = 0;
    for (let i = 0; i < n; i++) {
      const cr = rules[i]!;
      const d = actual === undefined ? failDelta(cr, this.amountAt(i), kind) : settleDelta(cr, this.amountAt(i), actual);
      deltas[i] = d;
      if (d !== 0) changes++;
    }
    if (actual !== undefined && this.deferred !== undefined) return this.settleWithDeferred(n, deltas, actual);
    if (changes > 0) return this.adjust(n, this.specs, this.slots, deltas);
  }

  /** What charge `i` reserved. */
  private amountAt(i: number): number {
    return amountOfParts(this.rules[i]!.metric, this.inputTokens, this.outputTokens, this.costUsd);
  }

  /** Settles with the rules that reserved nothing (their estimate was 0) charged their actual usage. */
  private settleWithDeferred(n: number, deltas: Float64Array, actual: UsageAmounts): MaybePromise<void> {
    const specs = this.specs.slice(0, n);
    const slots = this.slots.slice(0, n);
    const values = Array.from(deltas.subarray(0, n));
    for (const d of this.deferred!) {
      const a = deferredAmount(d, actual);
      if (a > 0) {
        specs.push(d.rule.spec);
        slots.push(new KeySlot(d.key));
        values.push(a);
      }
    }
    if (values.every((v) => v === 0)) return;
    return this.adjust(specs.length, specs, slots, Float64Array.from(values));
  }

  /** Hands `deltas[i]` on `specs[i]` of `slots[i]` to the store; deltas of 0 are skipped by the store. */
  private adjust(n: number, specs: readonly BucketSpec[], slots: readonly KeySlot[], deltas: Float64Array): MaybePromise<void> {
    if (this.batch !== undefined) {
      this.batch.store.adjustBatch(n, specs, slots, deltas, this.marks);
      return;
    }
    // Charges past the reserved ones (rules settled with their actual usage) have no mark.
    const marks = this.result?.marks;
    const adjustments: LimitAdjustment[] = new Array<LimitAdjustment>(n);
    for (let i = 0; i < n; i++) adjustments[i] = chargeOf(specs[i]!, slots[i]!, 0, deltas[i]!, marks?.[i]);
    return this.store.adjust(adjustments);
  }
}

/** The amount a settled charge changes by: a slot is given back, otherwise `actual − estimated`. */
function settleDelta(cr: CompiledRule, estimated: number, actual: UsageAmounts): number {
  if (cr.spec.kind === 'concurrency' && !cr.fixed) return -estimated;
  const a = amountOf(cr.metric, actual);
  return a >= 0 && Number.isFinite(a) ? a - estimated : 0;
}

/** The amount a failed charge changes by (see {@link Reservation.fail}). */
function failDelta(cr: CompiledRule, estimated: number, kind: FailedCallCharge | undefined): number {
  const mode = cr.spec.kind === 'concurrency' && !cr.fixed ? 'release' : (kind ?? cr.rule.onFailure ?? 'requests');
  return mode === 'keep' || (mode === 'requests' && cr.metric === M_REQUESTS) ? 0 : -estimated;
}

/** What a deferred rule is charged at settle: its actual usage, when positive. */
function deferredAmount(d: DeferredCharge, actual: UsageAmounts): number {
  const a = amountOf(d.rule.metric, actual);
  return a > 0 && Number.isFinite(a) ? a : 0;
}
