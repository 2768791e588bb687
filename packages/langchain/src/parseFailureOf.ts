import { parseJsonReply } from '@llm-resilience/core';

/**
 * A reply the wrapped runnable could not parse: why (in words that do not quote the reply), and the
 * reply's text when the error carries it.
 *
 * @example
 * ```ts
 * const failure: ParseFailure = { reason: 'the reply is not valid JSON', text: 'Sure! Here is' };
 * ```
 */
export interface ParseFailure {
  reason: string;
  /** The text that failed to parse (`OutputParserException.llmOutput`), if known. */
  text?: string;
}

const NOT_JSON = 'the reply is not valid JSON';

/** LangChain's `OutputParserException` of any @langchain/core copy (its `lc_error_code`, else its name). */
function isOutputParserException(error: unknown): error is Error & { llmOutput?: unknown } {
  if (!(error instanceof Error)) return false;
  return (error as { lc_error_code?: unknown }).lc_error_code === 'OUTPUT_PARSING_FAILURE' || error.name === 'OutputParserException';
}

/**
 * Whether an error of the wrapped runnable means its reply could not be parsed, rather than that the
 * call failed: LangChain's `OutputParserException` (thrown by output parsers, whatever runs them), or
 * a `SyntaxError` that an output-parser run or a structured-output model run raised (`raisedByParsing`,
 * see `ParseErrorWatcher`). A `SyntaxError` thrown by other code of the chain is a bug there, not a
 * bad reply: undefined.
 *
 * @example
 * ```ts
 * parseFailureOf(new OutputParserException('Failed to parse', 'Sure!'), () => false); // { reason: 'the reply is not valid JSON', text: 'Sure!' }
 * parseFailureOf(new SyntaxError('Unexpected token'), () => false);                   // undefined
 * ```
 */
export function parseFailureOf(error: unknown, raisedByParsing: (error: unknown) => boolean): ParseFailure | undefined {
  if (isOutputParserException(error)) {
    const text = typeof error.llmOutput === 'string' ? error.llmOutput : undefined;
    // JSON that the parser still rejected failed the parser's own schema.
    const reason = text !== undefined && parseJsonReply(text).ok ? "the reply does not match the output parser's schema" : NOT_JSON;
    return { reason, ...(text !== undefined ? { text } : {}) };
  }
  if (error instanceof Error && error.name === 'SyntaxError' && raisedByParsing(error)) return { reason: NOT_JSON };
  return undefined;
}

/**
 * A streamed reply that the chain's output parser turned into nothing. While streaming,
 * `JsonOutputParser` and the tool-call parsers (`withStructuredOutput`'s `functionCalling`) skip what
 * they cannot parse instead of throwing, so a reply that is not JSON gives a stream without a single
 * chunk, where `invoke()` would have thrown. `replyText` is the model's reply the parser was given
 * (`ParseErrorWatcher.parsedReplyText()`): undefined or blank means there was nothing to parse, not
 * a failure.
 *
 * @example
 * ```ts
 * parseFailureOfEmptyStream('Sure! Here is'); // { reason: 'the reply is not valid JSON', text: 'Sure! Here is' }
 * parseFailureOfEmptyStream('');              // undefined
 * ```
 */
export function parseFailureOfEmptyStream(replyText: string | undefined): ParseFailure | undefined {
  if (replyText === undefined || replyText.trim() === '') return undefined;
  const reason = parseJsonReply(replyText).ok ? 'the output parser produced no output from the reply' : NOT_JSON;
  return { reason, text: replyText };
}
