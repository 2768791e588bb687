import { ResilienceError, type ErrorKind, type RequestRecord } from '@llm-resilience/core';

/**
 * What ended a stream after its first chunk, for {@link StreamInterruptedError} and its subclasses.
 *
 * @example
 * ```ts
 * const fields: StreamInterruptedFields = { target: 'sum-a', chunksReceived: 4, record, cause: err };
 * ```
 */
export interface StreamInterruptedFields {
  /** The target whose stream ended. */
  target: string;
  /** Chunks the caller received before the end. */
  chunksReceived: number;
  /** The engine's record of the request (outcome `failure`). */
  record: RequestRecord;
  cause: unknown;
}

/**
 * A stream broke after its first chunk reached the caller. No fallback is possible at that point
 * (the caller already has part of one model's answer), so the stream ends with this error. Its kind
 * is `network` and the engine's record and the target's breaker count the failure; its subclass
 * {@link InvalidStreamOutputError} (kind `validation_failed`, no breaker verdict) is a stream whose
 * output parser rejected the reply.
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

  /**
   * @param fields what ended which stream
   * @param as a subclass's own message, kind and code (default: a network break)
   */
  constructor(fields: StreamInterruptedFields, as?: { message: string; kind: ErrorKind; code: string }) {
    super(
      as?.message ??
        `The stream from '${fields.target}' broke after ${fields.chunksReceived} chunk(s); no fallback is possible once ` +
          'output has reached the caller. Retry the whole request, or use invoke() where a break can still fall back.',
      { kind: as?.kind ?? 'network', code: as?.code ?? 'ERR_LLMR_STREAM_INTERRUPTED', cause: fields.cause },
    );
    this.target = fields.target;
    this.chunksReceived = fields.chunksReceived;
    this.record = fields.record;
  }
}
