import type { RateLimitSnapshot } from '../errors/ErrorKind';

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
 * time their share takes to come back. Without a limit (or when the snapshot gives no refill rate) the
 * quota stays as reported until its reset, and says nothing after it.
 *
 * @example
 * ```ts
 * const quota = ProviderQuota.from({ limitTokens: 60_000, remainingTokens: 0, tokensResetAt: 60_000 }, 0);
 * quota.remainingAt(30_000).remainingTokens; // 30000
 * const need = { requests: 1, tokens: 3_000, inputTokens: 2_000, outputTokens: 1_000 };
 * quota.waitMs(need, 0.02, 1_000); // 3200: 4 200 tokens (need + 2% margin) minus the 1 000 back by then
 * ```
 */
export class ProviderQuota {
  /**
   * When the provider reported these numbers (epoch ms, in this process' clock). Unlike the snapshot's
   * `observedAt`, not moved by calls counted against the quota: it tells which of two reports is newer.
   */
  readonly reportedAt: number;
  private at: number;
  private readonly lines: Line[];

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
   * Counts a call that goes out against the quota at `now`, so that callers after it see it before the
   * provider's next report: its share is deducted, and a refilling quota's reset moves later by the time
   * that share takes to come back.
   *
   * @example
   * ```ts
   * if (quota.waitMs(need, 0.02, now) === 0) quota.spend(need, now);
   * ```
   */
  spend(need: QuotaNeed, now: number): void {
    const at = Math.max(now, this.at);
    for (const line of this.lines) {
      line.remaining = this.remainingOf(line, at) - need[line.dimension.need];
      if (line.perMs !== undefined) line.resetAt = at + Math.max(0, line.limit! - line.remaining) / line.perMs;
      // Without a rate, a reset that has passed is used up (the quota was full then); when it comes back
      // after this call is unknown.
      else if (line.resetAt !== undefined && line.resetAt <= at) line.resetAt = undefined;
    }
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
