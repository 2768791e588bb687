import { parseJsonMarkdown } from '@langchain/core/output_parsers';
import { parseJsonReply } from '@llm-resilience/core';
import { isCompleteJson, parses } from './isCompleteJson';
import { describeSchemaIssues, parserSchemaIssues } from './parserSchemaIssues';
import type { ToolCallSchemaParser } from './toolCallSchemaParsers';
import { truncationOf, type Truncation } from './truncationOf';
import { isRecord } from './isRecord';

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
const TOOL_ARGS_NOT_JSON = "the reply's tool call arguments are not valid JSON";
const NOT_PARSER_SCHEMA = "the reply does not match the output parser's schema";

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
    const reason = text !== undefined && parseJsonReply(text).ok ? NOT_PARSER_SCHEMA : NOT_JSON;
    return { reason, ...(text !== undefined ? { text } : {}) };
  }
  if (error instanceof Error && error.name === 'SyntaxError' && raisedByParsing(error)) return { reason: NOT_JSON };
  return undefined;
}

/**
 * A reply that one of LangChain's JSON or tool-call parsers turned into nothing while streaming.
 * Streaming, those parsers (`JsonOutputParser`, and `withStructuredOutput`'s `functionCalling` parsers)
 * skip what they cannot parse instead of throwing, so a reply that is not JSON gives a stream without
 * a single chunk where `JsonOutputParser.invoke()` would have thrown. `text` is the model's reply the parser was given.
 * Only a reply that could not be read is a failure: text that is blank (nothing to parse) or valid JSON
 * (`null`, `""`, also in a Markdown fence, as `JsonOutputParser.invoke()` reads it) is not.
 *
 * @example
 * ```ts
 * parseFailureOfSkippedReply('Sure! Here is'); // { reason: 'the reply is not valid JSON', text: 'Sure! Here is' }
 * parseFailureOfSkippedReply('null');          // undefined: valid JSON, the parser's output is null
 * parseFailureOfSkippedReply('');              // undefined
 * ```
 */
export function parseFailureOfSkippedReply(text: string | undefined): ParseFailure | undefined {
  if (text === undefined || text.trim() === '') return undefined;
  return isJsonText(text) ? undefined : { reason: NOT_JSON, text };
}

/**
 * A model's reply that the provider says was cut off by its output-token limit (`truncation`, see
 * {@link truncationOf}: `finish_reason: 'length'`, `stop_reason: 'max_tokens'`, ...) and whose text is not
 * JSON as `JsonOutputParser.invoke()` reads it (JSON, possibly in a Markdown fence): its `invoke()` throws
 * for such a reply, where, streaming, it yields the partial object (`{ title: 'Quarterly res' }`) and ends
 * as if it were whole. Blank text counts too when the reply was cut (the output budget was spent before the
 * answer began): `invoke()` throws for it as well. Without the provider's word nothing counts here (the
 * other rules, {@link parseFailureOfSkippedReply}, still apply): only the truncation signal decides.
 *
 * @example
 * ```ts
 * parseFailureOfCutJsonReply('{"title":"Quarterly res', { field: 'response_metadata.finish_reason', value: 'length' });
 * // { reason: 'the reply is not valid JSON', text: '{"title":"Quarterly res' }
 * parseFailureOfCutJsonReply('{"title":"Quarterly results"}', { field: 'response_metadata.finish_reason', value: 'length' }); // undefined: whole
 * parseFailureOfCutJsonReply('{"title":"Quarterly res', undefined); // undefined: nobody said it was cut
 * ```
 */
export function parseFailureOfCutJsonReply(text: string | undefined, truncation: Truncation | undefined): ParseFailure | undefined {
  if (truncation === undefined || text === undefined) return undefined;
  return text.trim() !== '' && isJsonText(text) ? undefined : { reason: NOT_JSON, text };
}

/**
 * A reply whose tool calls LangChain's tool-call parsers (`JsonOutputToolsParser`,
 * `JsonOutputKeyToolsParser`: `withStructuredOutput`'s `functionCalling`) turned into nothing while
 * streaming where their `invoke()` would have thrown. `invoke()` of those parsers returns an empty result
 * (`[]`, `undefined`) for a reply without tool calls, prose included, also when the model was told to call
 * the tool (`tool_choice`): that is no failure. It throws an `OutputParserException` only when the reply
 * has tool calls (`additional_kwargs.tool_calls`, as OpenAI-style models report them) and none of them
 * has arguments that are complete JSON (a call cut off by `max_tokens`): then the parser reads the raw
 * calls and fails on the first one with a function. `rawToolCalls` is the model reply's
 * `additional_kwargs.tool_calls`.
 *
 * @example
 * ```ts
 * parseFailureOfSkippedToolCalls([{ id: 'call_1', type: 'function', function: { name: 'summary', arguments: '{"ti' } }]);
 * // { reason: "the reply's tool call arguments are not valid JSON", text: '{"ti' }
 * parseFailureOfSkippedToolCalls(undefined); // undefined: no tool call (a reply in prose), invoke() returns nothing
 * ```
 */
export function parseFailureOfSkippedToolCalls(rawToolCalls: unknown): ParseFailure | undefined {
  if (!Array.isArray(rawToolCalls)) return undefined;
  const fns = rawToolCalls.map((call) => (isRecord(call) && isRecord(call.function) ? call.function : undefined));
  // One call with complete arguments is a parsed tool call: invoke() reads those and does not throw.
  if (fns.some((f) => f !== undefined && isJson(f.arguments))) return undefined;
  const bad = fns.find((f) => f !== undefined);
  if (bad === undefined) return undefined;
  return { reason: TOOL_ARGS_NOT_JSON, ...(typeof bad.arguments === 'string' ? { text: bad.arguments } : {}) };
}

/** A tool call as a tool-call parser reads it: the tool's name, the parsed arguments, the call's id. */
interface ParsedToolCall {
  name: unknown;
  args: unknown;
  id: unknown;
}

/**
 * The tool calls of `message` whose arguments are JSON, as `invoke()` of a tool-call parser reads them:
 * from the raw calls (`additional_kwargs.tool_calls`, as OpenAI-style models report them) those whose
 * arguments `JSON.parse` accepts — the calls LangChain lists in `tool_calls` of a whole reply; the rest are
 * its `invalid_tool_calls` — else the message's `tool_calls`. A streamed message's `tool_calls` are read
 * from its chunks as partial JSON, so the raw calls come first.
 */
function parsedToolCalls(message: unknown): ParsedToolCall[] {
  if (!isRecord(message)) return [];
  const raw = isRecord(message.additional_kwargs) ? message.additional_kwargs.tool_calls : undefined;
  if (Array.isArray(raw)) {
    return raw.flatMap((call) => {
      const fn = isRecord(call) && isRecord(call.function) ? call.function : undefined;
      return fn !== undefined && isJson(fn.arguments) ? [{ name: fn.name, args: JSON.parse(fn.arguments as string) as unknown, id: call.id }] : [];
    });
  }
  const calls = message.tool_calls;
  return Array.isArray(calls) ? calls.filter(isRecord).map((c) => ({ name: c.name, args: c.args, id: c.id })) : [];
}

/**
 * A reply whose tool-call arguments the schema of a tool-call parser (`JsonOutputKeyToolsParser` with a
 * `zodSchema` or a Standard Schema: `withStructuredOutput(schema)` in its default `functionCalling`
 * mode) rejects, checked as the parser's `invoke()` checks them (`parseResult`): the calls of the parser's
 * tool (`keyName`) among those whose arguments are JSON (see `parsedToolCalls`), the first one
 * (`returnSingle`) or each, their arguments (or `{ type, args, id }` with `returnId`) validated with the
 * parser's own schema object (see {@link parserSchemaIssues}). Streaming, the parser never checks them:
 * it yields the arguments as they come (`{ title: 5 }`) where its `invoke()` throws an
 * `OutputParserException`. No call of the tool, or arguments that are not JSON (the JSON rule's matter,
 * {@link parseFailureOfSkippedToolCalls}), is no failure here. `parsers` are the parsers the run may have
 * been (see `toolCallSchemaParsersOf`): the reply fails only when each of them rejects it. The reason
 * names where and what the schema expected, never the reply's values.
 *
 * @example
 * ```ts
 * const parser = new JsonOutputKeyToolsParser({ keyName: 'summary', returnSingle: true, zodSchema: z.object({ title: z.string() }) });
 * await parseFailureOfToolCallSchema(new AIMessage({ content: '', tool_calls: [{ name: 'summary', args: { title: 5 }, id: 'c1' }] }), [parser]);
 * // { reason: "the reply does not match the output parser's schema: title: expected string, got a number", text: '{"title":5}' }
 * ```
 */
export async function parseFailureOfToolCallSchema(message: unknown, parsers: ReadonlyArray<ToolCallSchemaParser>): Promise<ParseFailure | undefined> {
  if (parsers.length === 0) return undefined;
  const calls = parsedToolCalls(message);
  const failures = await Promise.all(parsers.map((parser) => schemaFailureOf(calls, parser)));
  return failures.every((f) => f !== undefined) ? failures[0] : undefined;
}

/** The first value `parser`'s `invoke()` would return from `calls` that its schema rejects, as a failure. */
async function schemaFailureOf(calls: ReadonlyArray<ParsedToolCall>, parser: ToolCallSchemaParser): Promise<ParseFailure | undefined> {
  const mine = calls.filter((c) => c.name === parser.keyName);
  const values = mine.map((c) => (parser.returnId === true ? { type: c.name, args: c.args, id: c.id } : c.args));
  for (const value of parser.returnSingle === true ? values.slice(0, 1) : values) {
    const issues = await parserSchemaIssues(parser, value);
    if (issues !== undefined) return { reason: `${NOT_PARSER_SCHEMA}: ${describeSchemaIssues(issues, value)}`, text: JSON.stringify(value) };
  }
  return undefined;
}

/** One tool call of a streamed message: its `tool_call_chunks` pieces, grouped as LangChain groups them. */
interface StreamedToolCall {
  /** The `id` and `index` of the call's first piece, which later pieces are matched against. */
  id?: unknown;
  index?: unknown;
  /** Whether the call's first piece names the tool (the piece that opens a call). */
  named: boolean;
  args: string;
  /** A custom tool (OpenAI's Responses API): its input is raw text, not JSON. */
  custom: boolean;
}

/**
 * A chat model's streamed reply (the chunks added up: an `AIMessageChunk`) that the provider says was cut
 * off by its output-token limit (see {@link truncationOf}: `finish_reason: 'length'`, `stop_reason:
 * 'max_tokens'`, `status: 'incomplete'`, ...) with a tool call whose arguments are incomplete. Streaming,
 * LangChain reads the arguments of `tool_call_chunks` as partial JSON, so the message the chunks add up to
 * lists such a call among its `tool_calls`, with the arguments it had (`{ title: '[summary-a] re' }`),
 * where `invoke()` of the same reply lists it under `invalid_tool_calls`.
 *
 * - Without the provider's word that the reply was cut off, nothing counts, as LangChain judges nothing
 *   either: arguments that end incomplete then are a provider's or SDK's matter (a custom tool's raw input
 *   streamed without its `isCustomTool` mark by `@langchain/openai` before 1.4.7, say), not a cut reply.
 * - The pieces are grouped as LangChain groups them (by `id` and `index`); only a call whose first piece
 *   names the tool counts (pieces without an opening one are no call LangChain can run); arguments that
 *   are blank count as `{}` (as LangChain reads them), and a custom tool's raw input (`isCustomTool`) is
 *   not JSON by design.
 * - Arguments are incomplete when they are no complete JSON value read leniently ({@link isCompleteJson}:
 *   a raw newline inside a string is complete, as LangChain reads it).
 *
 * @example
 * ```ts
 * parseFailureOfStreamedToolCalls(aggregatedChunk); // { reason: "the reply's tool call arguments are not valid JSON", text: '{"title":"[summary-a] re' }
 * parseFailureOfStreamedToolCalls(new AIMessageChunk('text only')); // undefined
 * ```
 */
export function parseFailureOfStreamedToolCalls(message: unknown): ParseFailure | undefined {
  const pieces = isRecord(message) ? message.tool_call_chunks : undefined;
  if (!Array.isArray(pieces) || truncationOf(message) === undefined) return undefined;
  const calls: StreamedToolCall[] = [];
  for (const piece of pieces) {
    if (!isRecord(piece)) continue;
    const { id, index } = piece;
    const hasId = typeof id === 'string' && id !== '';
    const hasIndex = index !== undefined && index !== null;
    // LangChain's `collapseToolCallChunks`: by id and index, else by id, else by index; neither is a call of its own.
    const same = calls.find((c) => (hasId && hasIndex ? c.id === id && c.index === index : hasId ? c.id === id : hasIndex ? c.index === index : false));
    const args = typeof piece.args === 'string' ? piece.args : '';
    const custom = piece.isCustomTool === true;
    if (same) {
      same.args += args;
      same.custom ||= custom;
    } else {
      const named = typeof piece.name === 'string' && piece.name !== '';
      calls.push({ ...(hasId ? { id } : {}), ...(hasIndex ? { index } : {}), named, args, custom });
    }
  }
  const cut = calls.find((c) => c.named && !c.custom && c.args.trim() !== '' && !isCompleteJson(c.args));
  return cut && { reason: TOOL_ARGS_NOT_JSON, text: cut.args };
}

/** Whether `value` is a string `JSON.parse` accepts, as the tool-call parsers read arguments. */
function isJson(value: unknown): boolean {
  return typeof value === 'string' && parses(value);
}

/** Whether `JsonOutputParser.invoke()` accepts `text`: JSON, possibly in a Markdown fence (LangChain's own reading). */
function isJsonText(text: string): boolean {
  try {
    parseJsonMarkdown(text, (s: string) => JSON.parse(s) as unknown);
    return true;
  } catch {
    return false;
  }
}
