/**
 * How long a call sent stays in a {@link SentCallLog}: a provider report observed longer ago than this
 * that arrives only now (another process' snapshot held up by a slow or reconnecting Redis) no longer
 * gets the calls sent since it was observed counted against it. Its quotas have mostly refilled by then.
 *
 * @example
 * ```ts
 * const log = new SentCallLog<Sent>(SENT_CALL_LOG_MS);
 * ```
 */
export const SENT_CALL_LOG_MS = 60_000;

/** At most this many calls per log: the oldest go first (a target without reports at a high rate). */
const MAX_ENTRIES = 10_000;

/**
 * The calls a process sent to one target lately, in the order they went out, for proactive pacing: a
 * provider report counts the calls that reached the provider before it was observed, so when a report
 * observed at `t` replaces the target's quota (another process' snapshot arrives late), the calls sent
 * after `t` must be counted against it again ({@link SentCallLog.sentAfter}). Entries older than the
 * log's horizon, and entries a report already counts, are dropped, so a target whose own replies carry
 * headers keeps only the calls sent since the last one.
 *
 * @example
 * ```ts
 * const log = new SentCallLog<{ sentAt: number }>(60_000);
 * log.add({ sentAt: 1_000 }, 1_000);
 * for (const call of log.sentAfter(500)) quota.spend(need, now); // the call sent at 1 000
 * ```
 */
export class SentCallLog<T extends { readonly sentAt: number }> {
  private entries: T[] = [];

  constructor(private readonly horizonMs: number = SENT_CALL_LOG_MS) {}

  /** Number of calls held. */
  get size(): number {
    return this.entries.length;
  }

  /**
   * Adds a call sent at `entry.sentAt` (at `now`, or earlier), dropping those sent before the horizon.
   *
   * @example
   * ```ts
   * log.add({ sentAt: clock.now() }, clock.now());
   * ```
   */
  add(entry: T, now: number): void {
    const entries = this.entries;
    entries.push(entry);
    let drop = 0;
    while (drop < entries.length && entries[drop]!.sentAt < now - this.horizonMs) drop++;
    if (entries.length - drop > MAX_ENTRIES) drop = entries.length - MAX_ENTRIES;
    if (drop > 0) entries.splice(0, drop);
  }

  /**
   * The calls sent strictly after `observedAt`, the time a report that now replaces the quota was
   * observed. The calls sent at or before it are dropped: that report counts them, and a report that
   * replaces it later is observed no earlier (older ones are refused).
   *
   * @example
   * ```ts
   * for (const call of log.sentAfter(quota.reportedAt)) quota.spend(call.need, now);
   * ```
   */
  sentAfter(observedAt: number): readonly T[] {
    this.forget(observedAt);
    // Out of order only when the clock went back: such a call is treated like the earlier ones.
    return this.entries.filter((e) => e.sentAt > observedAt);
  }

  /**
   * Drops the calls sent at or before `observedAt`, the time of a report that counts them (a reply's
   * own headers), without returning the others.
   *
   * @example
   * ```ts
   * log.forget(clock.now()); // a reply's headers, observed now, count every call sent so far
   * ```
   */
  forget(observedAt: number): void {
    const entries = this.entries;
    let drop = 0;
    while (drop < entries.length && !(entries[drop]!.sentAt > observedAt)) drop++;
    if (drop > 0) entries.splice(0, drop);
  }
}
