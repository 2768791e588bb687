import { BaseCallbackHandler, type BaseCallbackHandlerInput } from '@langchain/core/callbacks/base';
import type { Serialized } from '@langchain/core/load/serializable';
import type { BaseMessage } from '@langchain/core/messages';
import type { LLMResult } from '@langchain/core/outputs';
import type { ChainValues } from '@langchain/core/utils/types';
import { parseFailureOfSkippedReply, type ParseFailure } from './parseFailureOf';

/**
 * LangChain's parsers that, streaming, skip what they cannot parse instead of throwing (cumulative
 * JSON and tool-call parsers: `withStructuredOutput`'s `functionCalling` uses the key-tools one). Known
 * by their serialized class name or run name (a subclass without its own `lc_name` runs under its
 * parent's name).
 */
const SKIPPING_PARSERS: ReadonlySet<string> = new Set(['JsonOutputParser', 'JsonOutputToolsParser', 'JsonOutputKeyToolsParser', 'JsonOutputFunctionsParser']);

/** Shared between copies of one watcher (LangChain may copy handlers). */
interface Seen {
  /** Output-parser runs (run type `parser`) and chat-model runs asked for structured output, until they end. */
  parsingRuns: Set<string>;
  /** Runs of a {@link SKIPPING_PARSERS} parser, until they end. */
  skippingRuns: Set<string>;
  /** Errors those runs raised: the reply could not be parsed. */
  errors: WeakSet<object>;
  /** Errors first seen failing a model run that does not parse (the provider's, its SDK's): never a parse error. */
  modelErrors: WeakSet<object>;
  /** The first reply a skipping parser run turned into nothing because it could not read it (not blank, not JSON). */
  skipped: ParseFailure | undefined;
  /** The text of the last model reply (of the last model run that ended). */
  replyText: string | undefined;
}

/** Whether a run's reported inputs hold anything: LangChain reports `{ input: undefined }` for a run given nothing. */
function receivedInput(inputs: Record<string, unknown>): boolean {
  const keys = Object.keys(inputs);
  return !(keys.length === 0 || (keys.length === 1 && keys[0] === 'input' && inputs.input === undefined));
}

/** What a parser run ended with when it yielded nothing: LangChain reports `{}` (or nothing) then. */
function isNothing(outputs: unknown): boolean {
  if (outputs === undefined || outputs === null) return true;
  return typeof outputs === 'object' && Object.getPrototypeOf(outputs) === Object.prototype && Object.keys(outputs).length === 0;
}

/**
 * A callback handler that tells, for one attempt, when the reply could not be parsed rather than the
 * call failing:
 *
 * - {@link ParseErrorWatcher.raised}: the error was raised while the reply was being parsed, by an
 *   output-parser run (`JsonOutputParser`'s `JSON.parse`, any parser of a chain) or by a chat-model run
 *   asked for structured output (`withStructuredOutput`: the provider SDK parses the reply itself, e.g.
 *   OpenAI's `chat.completions.parse` throws a `SyntaxError`). The same error thrown by other code (a
 *   `RunnableLambda` of the chain) is not remembered, and neither is a model's own error (a malformed
 *   event of the provider's stream is the SDK's `SyntaxError`) that merely passes through a parser run
 *   after failing the model run.
 * - {@link ParseErrorWatcher.skippedReply}: streaming, LangChain's JSON and tool-call parsers skip what
 *   they cannot parse instead of throwing, so a reply they could not parse shows only as a stream that
 *   yielded nothing. A run of such a parser that yielded nothing from text `invoke()` would have
 *   rejected (not blank, not JSON) is remembered here.
 *
 * @example
 * ```ts
 * const parsing = new ParseErrorWatcher();
 * try { await model.pipe(new JsonOutputParser()).invoke(input, { callbacks: [parsing] }); }
 * catch (e) { parsing.raised(e); } // true: the parser threw it
 * ```
 */
export class ParseErrorWatcher extends BaseCallbackHandler {
  name = 'llm_resilience_parse_errors';
  private readonly seen: Seen;

  constructor(input?: BaseCallbackHandlerInput & { seen?: Seen }) {
    super(input);
    // The error must be remembered before the attempt's catch reads it: never run in the background queue.
    this.awaitHandlers = true;
    this.seen = input?.seen ?? {
      parsingRuns: new Set(),
      skippingRuns: new Set(),
      errors: new WeakSet(),
      modelErrors: new WeakSet(),
      skipped: undefined,
      replyText: undefined,
    };
  }

  /** LangChain may copy handlers: the copy shares what this one saw. */
  override copy(): ParseErrorWatcher {
    return new ParseErrorWatcher({ seen: this.seen });
  }

  /**
   * The run type is the 7th argument at run time in every @langchain/core 1.x (the callback manager
   * passes `chain, inputs, runId, parentRunId, tags, metadata, runType, runName`), whatever the
   * declared order (`chain, inputs, runId, runType, tags, metadata, runName`): read it, and the run
   * name after it, at both positions.
   */
  override handleChainStart(chain: Serialized, _inputs: unknown, runId: string, ...rest: unknown[]): void {
    if (rest[3] !== 'parser' && rest[0] !== 'parser') return;
    const runName = rest[3] === 'parser' ? rest[4] : rest[3];
    this.seen.parsingRuns.add(runId);
    const className = Array.isArray(chain?.id) ? chain.id[chain.id.length - 1] : undefined;
    if ((typeof className === 'string' && SKIPPING_PARSERS.has(className)) || (typeof runName === 'string' && SKIPPING_PARSERS.has(runName))) {
      this.seen.skippingRuns.add(runId);
    }
  }

  /**
   * A skipping parser's run that yielded nothing (LangChain then reports `{}`) from a reply that is
   * neither blank nor JSON: the reply could not be parsed. The reply is the model's (the last model run's
   * text): the run's own input is no help, since `JsonOutputParser` keeps only the last chunk of it. A
   * parser run that was given nothing at all (an earlier step yielded nothing) had nothing to parse.
   */
  override handleChainEnd(outputs: ChainValues, runId: string, _parentRunId?: string, _tags?: string[], kwargs?: { inputs?: Record<string, unknown> }): void {
    this.seen.parsingRuns.delete(runId);
    if (!this.seen.skippingRuns.delete(runId) || !isNothing(outputs) || this.seen.skipped !== undefined) return;
    if (kwargs?.inputs !== undefined && !receivedInput(kwargs.inputs)) return;
    this.seen.skipped = parseFailureOfSkippedReply(this.seen.replyText);
  }

  override handleChainError(err: unknown, runId: string): void {
    this.seen.skippingRuns.delete(runId);
    if (!this.seen.parsingRuns.delete(runId)) return;
    // A model's error passing through the parser run (its input stream failed) is not the parser's.
    if (typeof err === 'object' && err !== null && !this.seen.modelErrors.has(err)) this.seen.errors.add(err);
  }

  override handleChatModelStart(_llm: Serialized, _messages: BaseMessage[][], runId: string, _parentRunId?: string, extra?: Record<string, unknown>): void {
    const options = extra?.options as { ls_structured_output_format?: unknown } | undefined;
    if (options?.ls_structured_output_format !== undefined) this.seen.parsingRuns.add(runId);
  }

  override handleLLMError(err: unknown, runId: string): void {
    if (typeof err !== 'object' || err === null) {
      this.seen.parsingRuns.delete(runId);
      return;
    }
    // A run asked for structured output parses the reply itself (OpenAI's `parse`): its error is a parse
    // error. Any other model run's error is the model's, wherever it is seen next.
    if (this.seen.parsingRuns.delete(runId)) this.seen.errors.add(err);
    else if (!this.seen.errors.has(err)) this.seen.modelErrors.add(err);
  }

  override handleLLMEnd(output: LLMResult, runId: string): void {
    this.seen.parsingRuns.delete(runId);
    const text = output.generations[0]?.[0]?.text;
    this.seen.replyText = typeof text === 'string' ? text : undefined;
  }

  /**
   * The reply a skipping parser (LangChain's JSON and tool-call parsers) turned into nothing while
   * streaming because it could not read it (text that is neither blank nor JSON), else undefined. A parser that yielded anything, valid JSON such as `null`, and chains without such a
   * parser (`StringOutputParser`, a later step that drops what it is given) never count.
   *
   * @example
   * ```ts
   * const parsing = new ParseErrorWatcher();
   * for await (const _ of await model.pipe(new JsonOutputParser()).stream(input, { callbacks: [parsing] }));
   * parsing.skippedReply(); // { reason: 'the reply is not valid JSON', text: 'Sure! Here is the JSON:' }
   * ```
   */
  skippedReply(): ParseFailure | undefined {
    return this.seen.skipped;
  }

  /** Whether `error` was raised by an output-parser run or a structured-output model run below this handler. */
  raised(error: unknown): boolean {
    return typeof error === 'object' && error !== null && this.seen.errors.has(error);
  }
}
