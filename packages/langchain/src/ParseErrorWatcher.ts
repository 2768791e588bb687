import { BaseCallbackHandler, type BaseCallbackHandlerInput } from '@langchain/core/callbacks/base';
import type { Serialized } from '@langchain/core/load/serializable';
import type { BaseMessage } from '@langchain/core/messages';
import type { LLMResult } from '@langchain/core/outputs';

/** Shared between copies of one watcher (LangChain may copy handlers). */
interface Seen {
  /** Output-parser runs (run type `parser`) and chat-model runs asked for structured output. */
  parsingRuns: Set<string>;
  /** Errors those runs ended with. */
  errors: WeakSet<object>;
  /** An output-parser run started below the handler. */
  parser: boolean;
  /** The text of the last model reply (of the last model run that ended). */
  replyText: string | undefined;
}

/**
 * A callback handler that remembers which errors were raised while a reply was being parsed: by an
 * output-parser run (`JsonOutputParser`'s `JSON.parse`, any parser of a chain), or by a chat-model
 * run asked for structured output (`withStructuredOutput`: the provider SDK parses the reply itself,
 * e.g. OpenAI's `chat.completions.parse` throws a `SyntaxError`). The same error thrown by other code
 * (a `RunnableLambda` of the chain, a plain model call) is not remembered. It also keeps the text of
 * the last model reply of a chain with an output parser ({@link ParseErrorWatcher.parsedReplyText}):
 * streamed, `JsonOutputParser` and the tool-call parsers skip what they cannot parse instead of
 * throwing, so a reply they could not parse shows only as a stream that yielded nothing.
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
    this.seen = input?.seen ?? { parsingRuns: new Set(), errors: new WeakSet(), parser: false, replyText: undefined };
  }

  /** LangChain may copy handlers: the copy shares what this one saw. */
  override copy(): ParseErrorWatcher {
    return new ParseErrorWatcher({ seen: this.seen });
  }

  /**
   * The run type is the 7th argument at run time in every @langchain/core 1.x (the callback manager
   * passes `chain, inputs, runId, parentRunId, tags, metadata, runType, runName`), whatever the
   * declared order: read it there, and at the declared 4th position too.
   */
  override handleChainStart(_chain: Serialized, _inputs: unknown, runId: string, ...rest: unknown[]): void {
    if (rest[3] === 'parser' || rest[0] === 'parser') {
      this.seen.parsingRuns.add(runId);
      this.seen.parser = true;
    }
  }

  override handleChainError(err: unknown, runId: string): void {
    this.remember(err, runId);
  }

  override handleChatModelStart(_llm: Serialized, _messages: BaseMessage[][], runId: string, _parentRunId?: string, extra?: Record<string, unknown>): void {
    const options = extra?.options as { ls_structured_output_format?: unknown } | undefined;
    if (options?.ls_structured_output_format !== undefined) this.seen.parsingRuns.add(runId);
  }

  override handleLLMError(err: unknown, runId: string): void {
    this.remember(err, runId);
  }

  override handleLLMEnd(output: LLMResult, runId: string): void {
    this.seen.parsingRuns.delete(runId);
    const text = output.generations[0]?.[0]?.text;
    this.seen.replyText = typeof text === 'string' ? text : undefined;
  }

  /**
   * The text of the last model reply when an output-parser run started below this handler (what the
   * parser was given), else undefined.
   *
   * @example
   * ```ts
   * const parsing = new ParseErrorWatcher();
   * for await (const _ of await model.pipe(new JsonOutputParser()).stream(input, { callbacks: [parsing] }));
   * parsing.parsedReplyText(); // 'Sure! Here is the JSON:' (the stream yielded nothing)
   * ```
   */
  parsedReplyText(): string | undefined {
    return this.seen.parser ? this.seen.replyText : undefined;
  }

  /** Whether `error` was raised by an output-parser run or a structured-output model run below this handler. */
  raised(error: unknown): boolean {
    return typeof error === 'object' && error !== null && this.seen.errors.has(error);
  }

  private remember(err: unknown, runId: string): void {
    if (!this.seen.parsingRuns.delete(runId)) return;
    if (typeof err === 'object' && err !== null) this.seen.errors.add(err);
  }
}
