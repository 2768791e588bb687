import { StreamInterruptedError, type StreamInterruptedFields } from './StreamInterruptedError';

/**
 * A streamed reply was found unusable after chunks had reached the caller, where `invoke()` rejects the
 * same reply as invalid:
 *
 * - the wrapped runnable's output parser rejected it part-way through the stream (an
 *   `OutputParserException`, or a `SyntaxError` of an output-parser run): the parser's error is `cause`;
 * - it ended with tool calls cut off, which arrived as partial arguments: a tool-call parser
 *   (`withStructuredOutput`'s `functionCalling`) yielded partial objects of calls its `invoke()` rejects
 *   (none with arguments that are complete JSON), or a chat model's own chunks (`bindTools()`) add up to
 *   a reply the provider says was cut off by its output-token limit (`finish_reason: 'length'`,
 *   `stop_reason: 'max_tokens'`, `status: 'incomplete'`, ...) that lists a call with incomplete
 *   arguments among its `tool_calls`. No `cause`;
 * - it was JSON cut off by the output-token limit: `JsonOutputParser` yielded the partial object of a
 *   reply the provider says hit its limit and whose text is not JSON, which its `invoke()` rejects. No
 *   `cause`.
 *
 * The caller holds part of an answer that cannot be used, and no fallback is possible any more, so the
 * stream ends with this error. Kind `validation_failed`, code `ERR_LLMR_STREAM_INVALID_OUTPUT`: the reply
 * was wrong, the target answered, so the engine records the request as failed without a breaker
 * verdict, and nothing is retried. A subclass of {@link StreamInterruptedError}: code that handles
 * broken streams handles this one too. (Before the first chunk, an unusable reply falls back like any
 * invalid reply.)
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
  /** Why the reply was rejected, in words that do not quote it. */
  readonly reason: string;

  constructor(fields: StreamInterruptedFields & { reason: string }) {
    super(fields, {
      message:
        `The reply streamed from '${fields.target}' was rejected after ${fields.chunksReceived} chunk(s): ${fields.reason}. ` +
        'No fallback is possible once output has reached the caller: retry the whole request, or use invoke() where an invalid reply can still fall back.',
      kind: 'validation_failed',
      code: 'ERR_LLMR_STREAM_INVALID_OUTPUT',
    });
    this.reason = fields.reason;
  }
}
