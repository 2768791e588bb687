import type { RequestRecord, UsageAmounts } from '@llm-resilience/core';

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
  /** Records of failed streams that were charged what they used (`fail(error, usage)`). */
  private charged: Set<RequestRecord> | undefined;

  /** A call began. */
  started(): void {
    this.running++;
  }

  /** A call ended (resolved or rejected; a stream: completed or failed). `charged`: a stream failed with its usage. */
  ended(record?: RequestRecord, charged = false): void {
    if (charged && record !== undefined) (this.charged ??= new Set()).add(record);
    if (--this.running > 0) return;
    const resolve = this.resolveEnded;
    this.resolveEnded = undefined;
    this.whenEnded = undefined;
    resolve?.();
  }

  /** Undefined when every call has ended, else a promise that resolves once they have. */
  allEnded(): Promise<void> | undefined {
    if (this.running === 0) return undefined;
    return (this.whenEnded ??= new Promise<void>((resolve) => (this.resolveEnded = resolve)));
  }

  /**
   * What the calls used, as the engine charged its own limits: successful calls' usage and that of
   * streams failed with their usage, plus the cost of every record (replies rejected on the way are
   * in a failed request's `actual_cost`).
   */
  usage(): UsageAmounts {
    const u: UsageAmounts = { inputTokens: 0, outputTokens: 0, costUsd: 0 };
    for (const r of this.records) {
      u.costUsd += r.actual_cost;
      if (r.outcome !== 'success' && this.charged?.has(r) !== true) continue;
      u.inputTokens += r.input_tokens;
      u.outputTokens += r.output_tokens;
    }
    return u;
  }
}
