import { ResilienceError, type RequestRecord } from '@llm-resilience/core';

/**
 * A stream broke after its first chunk reached the caller. No fallback is possible at that point
 * (the caller already has part of one model's answer), so the stream ends with this error. Its kind
 * is `network`; the engine's record and the target's breaker count the failure.
 *
 * @example
 * ```ts
 * try {
 *   for await (const chunk of await safe.stream(messages)) write(chunk);
 * } catch (e) {
 *   if (e instanceof StreamInterruptedError) showRetryButton(e.chunksReceived);
 * }
 * ```
 */
export class StreamInterruptedError extends ResilienceError {
  /** The target whose stream broke. */
  readonly target: string;
  /** Chunks the caller received before the break. */
  readonly chunksReceived: number;
  /** The engine's record of the request (outcome `failure`). */
  readonly record: RequestRecord;

  constructor(opts: { target: string; chunksReceived: number; record: RequestRecord; cause: unknown }) {
    super(
      `The stream from '${opts.target}' broke after ${opts.chunksReceived} chunk(s); no fallback is possible once ` +
        'output has reached the caller. Retry the whole request, or use invoke() where a break can still fall back.',
      { kind: 'network', code: 'ERR_LLMR_STREAM_INTERRUPTED', cause: opts.cause },
    );
    this.target = opts.target;
    this.chunksReceived = opts.chunksReceived;
    this.record = opts.record;
  }
}
