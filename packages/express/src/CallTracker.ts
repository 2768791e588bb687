import { usedTokens, type RequestRecord, type UsageAmounts } from '@llm-resilience/core';

/**
 * The calls one HTTP request made through `req.resilience.execute`: their records, how many have not
 * ended yet, and what the engine charged for them. Kept apart from the request's `RequestResilience`
 * and reaching nothing of the request (no `req`, `res` or signal): the middleware's settlement waits
 * on it, and a stream result dropped unfinished must stay collectable while it waits (see
 * `RequestResilience.execute`).
 *
 * @example
 * ```ts
 * const calls = new CallTracker();
 * calls.started();
 * calls.ended();
 * calls.usage(); // { inputTokens: 0, outputTokens: 0, costUsd: 0 }
 * ```
 */
export class CallTracker {
  /** Records of the calls so far (streaming ones are completed later, in place). */
  readonly records: RequestRecord[] = [];
  /** Calls not ended yet: running, or streams not completed or failed. */
  private running = 0;
  private resolveEnded: (() => void) | undefined;
  private whenEnded: Promise<void> | undefined;
  /** Calls numbered so far, on every `req.resilience` of the request (request ids `id`, `id.2`, ...). */
  private numbered = 0;
  /** Set once a middleware settled its limits: what charges the calls that end afterwards. */
  private lateCharges: Array<(usage: UsageAmounts) => void> | undefined;

  /** The number of the next call of the request (1 for the first), counted across stacked middlewares. */
  nextCallNumber(): number {
    return ++this.numbered;
  }

  /** A call began. */
  started(): void {
    this.running++;
  }

  /**
   * A call ended (resolved or rejected; a stream: completed or failed), with its record when it has
   * one. A call ending after a settlement (started after it: settlement waits until none runs) is
   * charged on its own through each `onLateCall` given.
   */
  ended(record?: RequestRecord): void {
    if (this.lateCharges !== undefined && record !== undefined) {
      const u = this.usageOf(record);
      if (u.inputTokens > 0 || u.outputTokens > 0 || u.costUsd > 0) for (const charge of this.lateCharges) charge(u);
    }
    if (--this.running > 0) return;
    const resolve = this.resolveEnded;
    this.resolveEnded = undefined;
    this.whenEnded = undefined;
    resolve?.();
  }

  /**
   * @internal Called by a middleware when it settles its limits (no call running): each call that
   * ends from now on is charged through `charge` with what it used.
   */
  onLateCall(charge: (usage: UsageAmounts) => void): void {
    (this.lateCharges ??= []).push(charge);
  }

  /** Undefined when every call has ended, else a promise that resolves once they have. */
  allEnded(): Promise<void> | undefined {
    if (this.running === 0) return undefined;
    return (this.whenEnded ??= new Promise<void>((resolve) => (this.resolveEnded = resolve)));
  }

  /**
   * What the calls used, as the engine charged its own limits: successful calls' usage and that of
   * streams failed with their usage, plus the cost of every record (replies rejected on the way are
   * in a failed request's `actual_cost`). Which records' tokens count is core's `usedTokens`.
   */
  usage(): UsageAmounts {
    const u: UsageAmounts = { inputTokens: 0, outputTokens: 0, costUsd: 0 };
    for (const r of this.records) this.addUsage(u, r);
    return u;
  }

  /** What one call used, as {@link usage} counts it. */
  private usageOf(record: RequestRecord): UsageAmounts {
    return this.addUsage({ inputTokens: 0, outputTokens: 0, costUsd: 0 }, record);
  }

  private addUsage(u: UsageAmounts, r: RequestRecord): UsageAmounts {
    u.costUsd += r.actual_cost;
    // The tokens the engine charged, read from its record (core's rule, as its token metrics count
    // them), not from what `complete` or `fail` was given: a failure without usage (`fail(error)`,
    // `fail(error, null)`, a rejected call) keeps only the pre-call estimate, which is no usage.
    const tokens = usedTokens(r);
    if (tokens === undefined) return u;
    u.inputTokens += tokens.input;
    u.outputTokens += tokens.output;
    return u;
  }
}
