import { StreamInterruptedError, type StreamInterruptedFields } from './StreamInterruptedError';

/**
 * The wrapped runnable's output parser rejected a streamed reply after chunks had reached the caller
 * (an `OutputParserException`, or a `SyntaxError` of an output-parser run, part-way through the
 * stream). The caller holds part of an answer that cannot be used, and no fallback is possible any
 * more, so the stream ends with this error. Kind `validation_failed`, code
 * `ERR_LLMR_STREAM_INVALID_OUTPUT`, the parser's error as `cause`: the reply was wrong, the target
 * answered, so the engine records the request as failed without a breaker verdict, and nothing is
 * retried. A subclass of {@link StreamInterruptedError}: code that handles broken streams handles
 * this one too. (Before the first chunk, an unparsable reply falls back like any invalid reply.)
 *
 * @example
 * ```ts
 * try {
 *   for await (const row of await safe.stream(input)) table.add(row);
 * } catch (e) {
 *   if (e instanceof InvalidStreamOutputError) table.markIncomplete(e.reason);
 *   else throw e;
 * }
 * ```
 */
export class InvalidStreamOutputError extends StreamInterruptedError {
  /** Why the parser rejected the reply, in words that do not quote it. */
  readonly reason: string;

  constructor(fields: StreamInterruptedFields & { reason: string }) {
    super(fields, {
      message:
        `The output parser rejected the stream from '${fields.target}' after ${fields.chunksReceived} chunk(s): ${fields.reason}. ` +
        'No fallback is possible once output has reached the caller: retry the whole request, or use invoke() where an invalid reply can still fall back.',
      kind: 'validation_failed',
      code: 'ERR_LLMR_STREAM_INVALID_OUTPUT',
    });
    this.reason = fields.reason;
  }
}
