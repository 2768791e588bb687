import type { RateLimitSnapshot } from '../errors/ErrorKind';

/**
 * The share of each limit a provider reports that proactive pacing leaves over (2%, rounded down to
 * whole requests or tokens per quota: a limit under 50 keeps none): a call waits until it fits with
 * that much to spare ({@link ProviderQuota.waitMs}), and the wait for a call's share after a 429 whose
 * only hint is a quota's reset counts it too (`shareRetryAfterMs`). Fixed, not an option.
 *
 * @example
 * ```ts
 * const ms = quota.waitMs(need, PACING_MARGIN, clock.now()); // 10 000-token limit: 200 tokens kept free
 * ```
 */
export const PACING_MARGIN = 0.02;

/**
 * What one call takes from each of a provider's quotas: one request, and its estimated tokens.
 *
 * @example
 * ```ts
 * const need: QuotaNeed = { requests: 1, tokens: 3_000, inputTokens: 2_000, outputTokens: 1_000 };
 * ```
 */
export interface QuotaNeed {
  requests: number;
  tokens: number;
  inputTokens: number;
  outputTokens: number;
}

/** The snapshot fields of one quota (requests, tokens, input tokens, output tokens). */
interface Dimension {
  readonly need: keyof QuotaNeed;
  readonly limit: 'limitRequests' | 'limitTokens' | 'limitInputTokens' | 'limitOutputTokens';
  readonly remaining: 'remainingRequests' | 'remainingTokens' | 'remainingInputTokens' | 'remainingOutputTokens';
  readonly resetAt: 'requestsResetAt' | 'tokensResetAt' | 'inputTokensResetAt' | 'outputTokensResetAt';
}

const DIMENSIONS: readonly Dimension[] = [
  { need: 'requests', limit: 'limitRequests', remaining: 'remainingRequests', resetAt: 'requestsResetAt' },
  { need: 'tokens', limit: 'limitTokens', remaining: 'remainingTokens', resetAt: 'tokensResetAt' },
  { need: 'inputTokens', limit: 'limitInputTokens', remaining: 'remainingInputTokens', resetAt: 'inputTokensResetAt' },
  { need: 'outputTokens', limit: 'limitOutputTokens', remaining: 'remainingOutputTokens', resetAt: 'outputTokensResetAt' },
];

/**
 * One quota as the engine tracks it: `remaining` as of the quota's `at`, and, when the provider's numbers
 * give it, the rate it refills at. Invariant while refilling: `resetAt = at + (limit − remaining) / perMs`.
 */
interface Line {
  readonly dimension: Dimension;
  readonly limit: number | undefined;
  remaining: number;
  resetAt: number | undefined;
  /** Units refilled per millisecond; `undefined` when the snapshot does not tell (no limit, no reset ahead, full). */
  readonly perMs: number | undefined;
}

const finite = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/** Rounds a wait up to whole milliseconds, ignoring floating-point dust (1200.0000000001 is 1200). */
const ceilMs = (ms: number): number => Math.max(0, Math.ceil(ms - 1e-6));

/**
 * A provider's remaining quota for one target, as a {@link RateLimitSnapshot} said it was when it was
 * observed, carried forward in time: providers refill continuously and their reset time says when the
 * quota is **full** again, so a quota with a limit below it refills at `(limit − remaining) / (reset −
 * observedAt)` units per ms, and is full once its reset has passed. A snapshot 30 s old that said "0 of
 * 60 000 tokens left, full in 60 s" means about 30 000 tokens now, not 0.
 *
 * Calls sent are counted against it ({@link ProviderQuota.spend}), which moves its reset later by the
 * time their share takes to come back; once a call has ended, what it did not take after all is given
 * back ({@link ProviderQuota.giveBack}). Without a limit (or when the snapshot gives no refill rate) the
 * quota stays as reported until its reset, and says nothing after it: such a quota is dropped when a
 * call is counted after its reset (at the first one when it has no reset time), instead of drifting
 * down for ever (see {@link ProviderQuota.isEmpty}). A quota with a refill rate is kept: full after its
 * reset, it goes on refilling at the provider's rate.
 *
 * @example
 * ```ts
 * const quota = ProviderQuota.from({ limitTokens: 60_000, remainingTokens: 0, tokensResetAt: 60_000 }, 0);
 * quota.remainingAt(30_000).remainingTokens; // 30000
 * const need = { requests: 1, tokens: 3_000, inputTokens: 2_000, outputTokens: 1_000 };
 * quota.waitMs(need, 0.02, 1_000); // 3200: 4 200 tokens (need + 2% margin) minus the 1 000 back by then
 * quota.spend(need, 1_000); // sent: 3 000 tokens counted
 * quota.giveBack({ requests: 0, tokens: 2_900, inputTokens: 1_910, outputTokens: 990 }, 2_000); // it used 90 + 10
 * ```
 */
export class ProviderQuota {
  /**
   * When the provider reported these numbers (epoch ms, in this process' clock). Unlike the snapshot's
   * `observedAt`, not moved by calls counted against the quota: it tells which of two reports is newer.
   */
  readonly reportedAt: number;
  private at: number;
  private lines: Line[];

  private constructor(lines: Line[], at: number) {
    this.lines = lines;
    this.at = at;
    this.reportedAt = at;
  }

  /**
   * Reads a snapshot received at `receivedAt`. Its `observedAt` (when absent: `receivedAt`) is when its
   * counts were true; one later than `receivedAt` (a sender whose clock is ahead) counts as `receivedAt`.
   * Fields that are not finite numbers are ignored.
   *
   * @example
   * ```ts
   * const quota = ProviderQuota.from(remoteSnapshot, clock.now());
   * ```
   */
  static from(snapshot: RateLimitSnapshot, receivedAt: number): ProviderQuota {
    const observed = snapshot.observedAt;
    const at = finite(observed) && observed < receivedAt ? observed : receivedAt;
    const lines: Line[] = [];
    for (const dimension of DIMENSIONS) {
      const remaining = snapshot[dimension.remaining];
      if (!finite(remaining)) continue;
      const limit = finite(snapshot[dimension.limit]) ? snapshot[dimension.limit] : undefined;
      const resetAt = finite(snapshot[dimension.resetAt]) ? snapshot[dimension.resetAt] : undefined;
      const perMs = limit !== undefined && resetAt !== undefined && remaining < limit && resetAt > at ? (limit - remaining) / (resetAt - at) : undefined;
      lines.push({ dimension, limit, remaining, resetAt, perMs });
    }
    return new ProviderQuota(lines, at);
  }

  /**
   * The quota as it stands at `now` (refill since it was observed included; counts may be fractional),
   * as a snapshot with `observedAt: now`. A `now` before the quota's own time changes nothing.
   *
   * @example
   * ```ts
   * const left = quota.remainingAt(clock.now()).remainingRequests;
   * ```
   */
  remainingAt(now: number): RateLimitSnapshot {
    const at = Math.max(now, this.at);
    const snapshot: RateLimitSnapshot = {};
    for (const line of this.lines) {
      const d = line.dimension;
      if (line.limit !== undefined) snapshot[d.limit] = line.limit;
      snapshot[d.remaining] = this.remainingOf(line, at);
      if (line.resetAt !== undefined) snapshot[d.resetAt] = line.resetAt;
    }
    snapshot.observedAt = at;
    return snapshot;
  }

  /**
   * The quota as last carried forward: counts as of its `observedAt` (the provider's report, or the last
   * call counted against it), calls counted since included, refill after `observedAt` not.
   *
   * @example
   * ```ts
   * const { remainingTokens, observedAt } = quota.snapshot();
   * ```
   */
  snapshot(): RateLimitSnapshot {
    return this.remainingAt(this.at);
  }

  /**
   * How long (ms, whole) a call needing `need` waits at `now` so that, with a margin of `marginFraction`
   * of each reported limit (rounded down to whole units) left over, it fits in what the provider will
   * have refilled by then: `0` when it fits now. A quota without a refill rate is waited for until its reset when it is short; one whose
   * reset has passed, or that has no reset time, holds nothing back. A call that needs more than the
   * limit waits until the quota is full, no longer.
   *
   * @example
   * ```ts
   * const ms = quota.waitMs({ requests: 1, tokens: 300, inputTokens: 200, outputTokens: 100 }, 0.02, clock.now());
   * ```
   */
  waitMs(need: QuotaNeed, marginFraction: number, now: number): number {
    const at = Math.max(now, this.at);
    let wait = 0;
    for (const line of this.lines) {
      const n = need[line.dimension.need];
      // In whole units, like the quota itself: a limit of 4 requests keeps no 0.08-request margin that
      // would hold back its last request.
      const margin = line.limit !== undefined ? Math.floor(line.limit * marginFraction + 1e-9) : 0;
      const remaining = this.remainingOf(line, at);
      if (remaining - n >= margin) continue;
      if (line.perMs !== undefined) {
        // Refilling at perMs: wait for what is missing, at most until the quota is full.
        const missing = Math.min(n + margin - remaining, line.limit! - remaining);
        if (missing > 0) wait = Math.max(wait, ceilMs(missing / line.perMs + (at - now)));
      } else if (line.resetAt !== undefined && line.resetAt > now) {
        // No refill rate to go by: back at the reset.
        wait = Math.max(wait, ceilMs(line.resetAt - now));
      }
    }
    return wait;
  }

  /**
   * True once the quota holds nothing: every one of its quotas was dropped (see {@link ProviderQuota.spend}),
   * or the snapshot had none. The engine then reports no pacing state for the target.
   *
   * @example
   * ```ts
   * const snapshot = quota.isEmpty ? undefined : quota.snapshot();
   * ```
   */
  get isEmpty(): boolean {
    return this.lines.length === 0;
  }

  /**
   * Counts a call that goes out against the quota at `now`, so that callers after it see it before the
   * provider's next report: its share is deducted, and a refilling quota's reset moves later by the time
   * that share takes to come back.
   *
   * A quota with no refill rate whose reset has passed (or that has no reset time) is dropped instead:
   * it holds nothing back any more, and nothing would ever restore what calls take from it, so its
   * count would only drift down without bound.
   *
   * @example
   * ```ts
   * if (quota.waitMs(need, 0.02, now) === 0) quota.spend(need, now);
   * ```
   */
  spend(need: QuotaNeed, now: number): void {
    this.count(need, -1, now);
  }

  /**
   * Gives back at `now` what calls counted with {@link ProviderQuota.spend} did not take after all: the
   * whole need of a call that was never sent, or, once a call has ended, what its estimate was above what
   * it used. A negative amount takes that much more (a call that used more than its estimate). Each quota
   * stays at most its limit, and a refilling quota's reset moves earlier by the time the amount given
   * back would have taken to refill (so `reset = observedAt + (limit − remaining) / rate` still holds).
   * Quotas dropped since the spend (see {@link ProviderQuota.spend}) get nothing back.
   *
   * Only give back to the quota the call was counted against: a report the provider made after the call
   * went out counts it as the provider does. (A report made before, one that arrived while the call still
   * waited to go out, does not count it: count the call against that one before it goes out.)
   *
   * @example
   * ```ts
   * quota.spend(need, sentAt);
   * // The call was never sent (a limit denied it, the caller aborted): all of it back.
   * quota.giveBack(need, clock.now());
   * ```
   */
  giveBack(amounts: QuotaNeed, now: number): void {
    this.count(amounts, 1, now);
  }

  /**
   * Carries every quota to `now` (not before the quota's own time), adds `sign × amounts`, keeps each
   * below its limit and its reset consistent with its rate, and drops the quotas that say nothing any more.
   */
  private count(amounts: QuotaNeed, sign: 1 | -1, now: number): void {
    const at = Math.max(now, this.at);
    const kept: Line[] = [];
    for (const line of this.lines) {
      // Without a rate, a quota is known only until its reset (full then; when it comes back after the
      // calls sent since is unknown): past it, or without one, it holds nothing back. Dropped.
      if (line.perMs === undefined && (line.resetAt === undefined || line.resetAt <= at)) continue;
      let remaining = this.remainingOf(line, at) + sign * amounts[line.dimension.need];
      if (line.limit !== undefined) remaining = Math.min(line.limit, remaining);
      line.remaining = remaining;
      if (line.perMs !== undefined) line.resetAt = at + Math.max(0, line.limit! - remaining) / line.perMs;
      kept.push(line);
    }
    this.lines = kept;
    this.at = at;
  }

  /** `line.remaining` carried from the quota's time to `at` (not before it). */
  private remainingOf(line: Line, at: number): number {
    const { limit, remaining, resetAt, perMs } = line;
    if (limit === undefined || remaining >= limit) return remaining;
    if (perMs !== undefined) return Math.min(limit, remaining + perMs * (at - this.at));
    // No rate, but a reset passed with a limit known: full again.
    return resetAt !== undefined && resetAt <= at ? limit : remaining;
  }
}
