/**
 * A fleet-friendly retry budget in the style of gRPC retry throttling: every failed attempt takes a
 * token, every success gives back `tokenRatio`; retries are allowed only while more than half the
 * tokens remain. During an outage retries stop by themselves, so failures cannot turn into a retry storm.
 *
 * @example
 * ```ts
 * const budget = new RetryBudget({ maxTokens: 10, tokenRatio: 0.1 });
 * budget.onFailure();
 * if (budget.canRetry()) { /* retry *\/ }
 * ```
 */
export class RetryBudget {
  private tokens: number;
  readonly maxTokens: number;
  readonly tokenRatio: number;

  constructor(opts: { maxTokens?: number; tokenRatio?: number } = {}) {
    this.maxTokens = opts.maxTokens ?? 10;
    this.tokenRatio = opts.tokenRatio ?? 0.1;
    if (!(this.maxTokens > 0)) throw new RangeError(`RetryBudget.maxTokens: expected a positive number, got ${this.maxTokens}`);
    if (!(this.tokenRatio > 0)) throw new RangeError(`RetryBudget.tokenRatio: expected a positive number, got ${this.tokenRatio}`);
    this.tokens = this.maxTokens;
  }

  /** Tokens currently available. */
  get available(): number {
    return this.tokens;
  }

  /** True while retries are allowed (more than half the tokens remain). */
  canRetry(): boolean {
    return this.tokens > this.maxTokens / 2;
  }

  /** A call succeeded. */
  onSuccess(): void {
    this.tokens = Math.min(this.maxTokens, this.tokens + this.tokenRatio);
  }

  /** A call failed with a retryable error. */
  onFailure(): void {
    this.tokens = Math.max(0, this.tokens - 1);
  }
}
