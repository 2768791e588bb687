import type { FakeModelLimits, FakeProviderKind } from './types';

/**
 * A metered limit of a model.
 *
 * @example
 * ```ts
 * const d: LimitDimension = 'otpm';
 * ```
 */
export type LimitDimension = 'rpd' | 'rpm' | 'tpm' | 'itpm' | 'otpm';

const DIMENSIONS: readonly LimitDimension[] = ['rpd', 'rpm', 'tpm', 'itpm', 'otpm'];
const MINUTE = 60_000;
const DAY = 86_400_000;
/**
 * Float tolerance of a bucket's level, as a fraction of one unit (as the core's memory store does). A
 * refill computed from a rate (`elapsed × limit / period`) rounds, so a bucket due to hold exactly one
 * request may hold 0.9999999999999999: within this tolerance a level counts as the whole number. One
 * millionth of a unit is far below anything observable.
 */
const UNIT_TOLERANCE = 1e-6;

/**
 * The time a bucket takes to refill `units`, in whole ms rounded up. Float dust (12510.000000000002)
 * is forgiven up to the time half of UNIT_TOLERANCE takes to refill, so the bucket is short by less
 * than UNIT_TOLERANCE at the end of the wait and admit() lets the request through then, whatever the rate.
 */
function refillMs(m: Meter, units: number): number {
  const exact = (units * m.periodMs) / m.limit;
  return Math.max(0, Math.ceil(exact - ((UNIT_TOLERANCE / 2) * m.periodMs) / m.limit));
}

/**
 * What one request asks for: its input estimate and its `max_tokens` (if any).
 *
 * @example
 * ```ts
 * const charge: LimitCharge = { inputTokens: 120, maxOutputTokens: 300 };
 * ```
 */
export interface LimitCharge {
  inputTokens: number;
  maxOutputTokens: number | undefined;
}

/**
 * The state of one dimension, for response headers. `resetMs`: until it is back to its full limit.
 *
 * @example
 * ```ts
 * const s: DimensionState = { limit: 60, remaining: 59, resetMs: 1000 };
 * ```
 */
export interface DimensionState {
  limit: number;
  remaining: number;
  resetMs: number;
}

/**
 * The state of every configured dimension of a model.
 *
 * @example
 * ```ts
 * const snap: LimitSnapshot = limiter.snapshot(clock.now());
 * ```
 */
export type LimitSnapshot = Partial<Record<LimitDimension, DimensionState>>;

/**
 * Why a request was refused.
 *
 * @example
 * ```ts
 * const r = limiter.admit(charge, now);
 * if (!r.ok) console.log(r.dimension, r.retryAfterMs);
 * ```
 */
export interface LimitRejection {
  ok: false;
  /**
   * The limit reported when several refuse: one the request alone is larger than (`tooLarge`, it can
   * never pass), else the one with the longest wait (the earliest of them on a tie: `concurrency`, then
   * `rpd`, `rpm`, `tpm`, `itpm`, `otpm`). `concurrency` when too many requests are in flight.
   */
  dimension: LimitDimension | 'concurrency';
  limit: number;
  used: number;
  requested: number;
  /** When the request would pass; undefined when it never can (`tooLarge`). */
  retryAfterMs?: number;
  /** The request alone is larger than the limit. */
  tooLarge: boolean;
}

/**
 * Whether `candidate` is the refusal to report rather than `current`: a request that can never pass
 * (too large for a limit) beats one that only has to wait; between waits, the longer one wins (the
 * request passes no sooner), and on a tie the refusal found first stays.
 */
function prevails(candidate: LimitRejection, current: LimitRejection): boolean {
  if (current.tooLarge) return false;
  if (candidate.tooLarge) return true;
  return (candidate.retryAfterMs ?? 0) > (current.retryAfterMs ?? 0);
}

/**
 * An admitted request; give it back to {@link ModelLimiter.settle}.
 *
 * @example
 * ```ts
 * const t = limiter.admit(charge, now);
 * if (t.ok) limiter.settle(t, outputTokens, clock.now());
 * ```
 */
export interface LimitTicket {
  ok: true;
  reservedOutput: number;
  maxOutputGiven: boolean;
}

/**
 * How an admitted request ended: `completed` (a reply served to the end) or `failed` (anything else:
 * an error response, an injected fault, a cut or malformed reply, a client that went away).
 *
 * @example
 * ```ts
 * limiter.settle(ticket, 0, clock.now(), 'failed'); // keeps the whole reservation
 * ```
 */
export type SettleOutcome = 'completed' | 'failed';

interface Meter {
  limit: number;
  periodMs: number;
  algorithm: 'window' | 'bucket';
  /** window: used in the current window; bucket: tokens left at the last roll (may go below 0 after an adjustment). */
  value: number;
  /** window: index of the current window; bucket: time of {@link base}. */
  mark: number;
  /**
   * bucket: tokens left at `mark`, the last time the level was set (a charge, a refund, the cap). The
   * level is always computed from this fixed reference, never by adding refills up call after call.
   */
  base: number;
}

/**
 * One model's limits with the providers' semantics:
 * - `window` (OpenAI-like): fixed windows from the epoch; a refused request still counts toward RPM/RPD
 *   ("failed requests count"); `max_tokens` is charged up front and not refunded.
 * - `bucket` (Anthropic-like): capacity `limit`, refilled continuously at `limit` per period; unused
 *   `max_tokens` is refunded when a request completes (OTPM adjustment); failed requests keep their charge;
 *   refused requests count toward nothing, RPD included.
 * RPD is always a fixed day window; whether a refusal counts toward it follows the model's algorithm.
 *
 * @example
 * ```ts
 * const limiter = new ModelLimiter({ rpm: 2 }, 'openai', 0);
 * const t = limiter.admit({ inputTokens: 10, maxOutputTokens: 5 }, 0);
 * if (t.ok) limiter.settle(t, 3, 0);
 * ```
 */
export class ModelLimiter {
  private readonly meters = new Map<LimitDimension, Meter>();
  private readonly concurrency: number | undefined;
  /** The model's algorithm (RPD's meter is a window either way): decides whether refusals count. */
  private readonly algorithm: 'window' | 'bucket';
  private inFlight = 0;

  constructor(
    limits: FakeModelLimits | undefined,
    provider: FakeProviderKind,
    private readonly epochMs: number,
  ) {
    const algorithm = limits?.algorithm ?? (provider === 'anthropic' ? 'bucket' : 'window');
    this.algorithm = algorithm;
    for (const d of DIMENSIONS) {
      const limit = limits?.[d];
      if (limit === undefined) continue;
      const alg = d === 'rpd' ? 'window' : algorithm;
      this.meters.set(d, { limit, periodMs: d === 'rpd' ? DAY : MINUTE, algorithm: alg, value: alg === 'bucket' ? limit : 0, mark: alg === 'bucket' ? epochMs : 0, base: limit });
    }
    this.concurrency = limits?.concurrency;
  }

  /** True when the model has any limit (so responses carry rate-limit headers). */
  get hasLimits(): boolean {
    return this.meters.size > 0;
  }

  /**
   * Reserves a request, all-or-nothing. A dimension the request costs nothing in (OTPM without
   * `max_tokens`) still refuses it while exhausted. Call {@link settle} when it ends either way.
   */
  admit(charge: LimitCharge, now: number): LimitTicket | LimitRejection {
    const costs = this.costs(charge);
    let rejection: LimitRejection | undefined;
    if (this.concurrency !== undefined && this.inFlight >= this.concurrency) {
      rejection = { ok: false, dimension: 'concurrency', limit: this.concurrency, used: this.inFlight, requested: 1, retryAfterMs: 1000, tooLarge: false };
    }
    for (const [d, m] of this.meters) {
      this.roll(m, now);
      const cost = costs[d];
      const available = m.algorithm === 'bucket' ? m.value : m.limit - m.value;
      // A request that reserves nothing here (no `max_tokens` for OTPM) still needs the meter not to
      // be exhausted: its real output is charged at the end and would push it further below zero.
      // Within UNIT_TOLERANCE a bucket's level counts as the whole number it rounds to: a request sent
      // at the retry time a 429 gave (waitFor) is admitted despite the refill's rounding.
      if (cost === 0 ? available > UNIT_TOLERANCE : cost <= available + UNIT_TOLERANCE) continue;
      const tooLarge = cost > m.limit;
      const wait = tooLarge ? undefined : this.waitFor(m, Math.max(cost, 1), now);
      const used = m.algorithm === 'bucket' ? Math.max(0, Math.ceil(m.limit - m.value - UNIT_TOLERANCE)) : m.value;
      const refusal: LimitRejection = { ok: false, dimension: d, limit: m.limit, used, requested: cost, tooLarge, ...(wait === undefined ? {} : { retryAfterMs: wait }) };
      if (!rejection || prevails(refusal, rejection)) rejection = refusal;
    }
    if (rejection) {
      // OpenAI: unsuccessful requests count toward the request limits. Anthropic-like (bucket) models
      // charge a refused request nothing, RPD included, although RPD's meter is a day window.
      if (this.algorithm === 'window') {
        for (const d of ['rpm', 'rpd'] as const) {
          const m = this.meters.get(d);
          if (m) m.value++;
        }
      }
      return rejection;
    }
    for (const [d, m] of this.meters) {
      if (m.algorithm === 'bucket') this.setLevel(m, m.value - costs[d], now);
      else m.value += costs[d];
    }
    this.inFlight++;
    return { ok: true, reservedOutput: charge.maxOutputTokens ?? 0, maxOutputGiven: charge.maxOutputTokens !== undefined };
  }

  /**
   * Ends an admitted request with the output it produced. Without `max_tokens`, that output is charged
   * now (both algorithms). Buckets refund unused `max_tokens` only for a `completed` request: a failed
   * one (error response, fault, cut reply, client gone) keeps everything it was charged.
   */
  settle(ticket: LimitTicket, actualOutput: number, now: number, outcome: SettleOutcome = 'completed'): void {
    this.inFlight = Math.max(0, this.inFlight - 1);
    for (const d of ['tpm', 'otpm'] as const) {
      const m = this.meters.get(d);
      if (!m) continue;
      this.roll(m, now);
      const refund = ticket.maxOutputGiven && m.algorithm === 'bucket' && outcome === 'completed';
      const delta = ticket.maxOutputGiven ? (refund ? actualOutput - ticket.reservedOutput : 0) : actualOutput;
      if (m.algorithm === 'bucket') this.setLevel(m, Math.min(m.limit, m.value - delta), now);
      else m.value += delta;
    }
  }

  /** Remaining capacity of every dimension, for headers. */
  snapshot(now: number): LimitSnapshot {
    const out: LimitSnapshot = {};
    for (const [d, m] of this.meters) {
      this.roll(m, now);
      if (m.algorithm === 'bucket') {
        const missing = m.limit - m.value;
        out[d] = { limit: m.limit, remaining: Math.max(0, Math.floor(m.value + UNIT_TOLERANCE)), resetMs: missing > UNIT_TOLERANCE ? refillMs(m, missing) : 0 };
      } else {
        out[d] = { limit: m.limit, remaining: Math.max(0, m.limit - m.value), resetMs: m.value > 0 ? this.windowEnd(m) - now : 0 };
      }
    }
    return out;
  }

  private costs(charge: LimitCharge): Record<LimitDimension, number> {
    const out = charge.maxOutputTokens ?? 0;
    return { rpd: 1, rpm: 1, tpm: charge.inputTokens + out, itpm: charge.inputTokens, otpm: out };
  }

  private roll(m: Meter, now: number): void {
    if (m.algorithm === 'bucket') {
      // From the fixed reference (base at mark), so rounding does not pile up over many calls.
      const elapsed = Math.max(0, now - m.mark);
      m.value = Math.min(m.limit, m.base + (elapsed * m.limit) / m.periodMs);
      // Once full it stays full: move the reference so the refill is not computed from a stale base.
      if (m.value === m.limit) this.setLevel(m, m.limit, now);
    } else {
      const index = Math.floor((now - this.epochMs) / m.periodMs);
      if (index !== m.mark) {
        m.mark = index;
        m.value = 0;
      }
    }
  }

  /** Sets a bucket's level at `now` (after {@link roll}): the new reference of its refill. */
  private setLevel(m: Meter, value: number, now: number): void {
    m.value = value;
    m.base = value;
    m.mark = Math.max(m.mark, now);
  }

  private windowEnd(m: Meter): number {
    return this.epochMs + (m.mark + 1) * m.periodMs;
  }

  private waitFor(m: Meter, cost: number, now: number): number {
    if (m.algorithm === 'window') return this.windowEnd(m) - now;
    // Consistent with admit: at now + this wait the level is cost (within UNIT_TOLERANCE), so it passes.
    return refillMs(m, cost - m.value);
  }
}
