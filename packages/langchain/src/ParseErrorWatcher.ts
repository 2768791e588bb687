import { BaseCallbackHandler, type BaseCallbackHandlerInput } from '@langchain/core/callbacks/base';
import type { Serialized } from '@langchain/core/load/serializable';
import { isBaseMessage, type BaseMessage } from '@langchain/core/messages';
import type { LLMResult } from '@langchain/core/outputs';
import type { Runnable } from '@langchain/core/runnables';
import type { ChainValues } from '@langchain/core/utils/types';
import { isEmptyOutput } from './isEmptyOutput';
import { parseFailureOfCutJsonReply, parseFailureOfSkippedReply, parseFailureOfSkippedToolCalls, parseFailureOfToolCallSchema, type ParseFailure } from './parseFailureOf';
import { toolCallSchemaParsersOf, toolCallSchemaParsersWithin, type ToolCallSchemaParser } from './toolCallSchemaParsers';
import { truncationOf, type Truncation } from './truncationOf';

/**
 * LangChain's parsers that, streaming, skip what they cannot parse instead of throwing, by what their
 * `invoke()` does with a reply they could not parse:
 *
 * - `json`: it throws on text that is not JSON (`JsonOutputParser`), a reply cut off by the output-token
 *   limit part-way through its JSON included (streaming, it yields the partial object);
 * - `functionCall`: it throws on a reply without a function call, text that is not JSON included
 *   (`JsonOutputFunctionsParser`, OpenAI's legacy `functions`: it parses the call's arguments, not the
 *   reply's text);
 * - `toolCalls`: it returns an empty result for a reply without tool calls, prose included (`[]`,
 *   `undefined`), and throws only on tool calls whose arguments are not JSON (`JsonOutputToolsParser`,
 *   `JsonOutputKeyToolsParser`: `withStructuredOutput`'s `functionCalling`).
 *
 * Known by their serialized class name or run name (a subclass without its own `lc_name` runs under its
 * parent's name).
 */
const SKIPPING_PARSERS: ReadonlyMap<string, SkippingParser> = new Map<string, SkippingParser>([
  ['JsonOutputParser', 'json'],
  ['JsonOutputFunctionsParser', 'functionCall'],
  ['JsonOutputToolsParser', 'toolCalls'],
  ['JsonOutputKeyToolsParser', 'toolCalls'],
]);

type SkippingParser = 'json' | 'functionCall' | 'toolCalls';

/**
 * The structured-output method (`ls_structured_output_format.kwargs.method`, set by `withStructuredOutput`
 * in @langchain/core 1.0 and 1.4 alike) whose model run parses the reply itself: OpenAI's SDK parses a
 * `json_schema` reply (`chat.completions.parse`) when it does not stream. In `json_mode` and
 * `function_calling` the reply is parsed by an output parser of the chain, not by the model run.
 */
const SDK_PARSED_METHOD = 'json_schema';

/** Shared between copies of one watcher (LangChain may copy handlers). */
interface Seen {
  /**
   * Output-parser runs (run type `parser`) and chat-model runs whose SDK parses the reply
   * ({@link SDK_PARSED_METHOD}, not streaming), until they end.
   */
  parsingRuns: Set<string>;
  /** Runs of a {@link SKIPPING_PARSERS} parser, until they end, with how their `invoke()` fails. */
  skippingRuns: Map<string, SkippingParser>;
  /** The tool-call parsers with a schema inside the watched runnable (empty when no runnable was given). */
  schemaParsers: ReadonlyArray<ToolCallSchemaParser>;
  /** Runs of those parsers (`toolCalls` runs told apart by their serialized form), until they end, with the parsers each may be. */
  schemaRuns: Map<string, ToolCallSchemaParser[]>;
  /** Errors those runs raised: the reply could not be parsed. */
  errors: WeakSet<object>;
  /** Errors first seen failing a model run that does not parse (the provider's, its SDK's): never a parse error. */
  modelErrors: WeakSet<object>;
  /** The first reply a skipping parser run let through (turned into nothing, or partial tool-call arguments) where its `invoke()` would have thrown. */
  skipped: ParseFailure | undefined;
  /**
   * The first such reply judged whatever the parser yielded: of a tool-call parser run (`toolCalls`), or
   * a cut-off message given to a JSON parser run (`json`).
   */
  skippedPartial: ParseFailure | undefined;
  /** The text of the last model reply (of the last model run that ended). */
  replyText: string | undefined;
  /**
   * What each step of a running `RunnableSequence` handed on, by the sequence's run and the step's number
   * (its `seq:step:N` tag), once the step's run has ended: what the next step was given in all. Dropped
   * when the sequence's run ends.
   */
  stepOutputs: Map<string, Map<number, StepOutput>>;
  /** The raw tool calls of the last model reply (`additional_kwargs.tool_calls`), if any. */
  replyToolCalls: unknown;
  /** The parent of each chain run below the watcher, until it ends (runs the watcher did not see start have none). */
  parents: Map<string, string | undefined>;
  /**
   * By chain run, until it ends, what the last run to end within it (its descendant, at any depth) handed
   * on, when that run is a model run directly below it (no run between: `.withConfig` and bound runnables
   * add none), else undefined (a chain run ended within it last, or the model ran below another run of
   * it: a sequence, a lambda): what a step that reports no output of its own (LangChain's
   * `RunnableWithFallbacks` of bare models, streamed: `{ output: undefined }`) handed on, when known.
   */
  directModelReply: Map<string, StepOutput | undefined>;
  /**
   * Runs inside a nested attempt (an attempt run of a `ResilientRunnable` inside the watched runnable,
   * tagged {@link ATTEMPT_TAG}, and every run below it), until they end: that attempt's own watcher judges
   * them.
   */
  nested: Set<string>;
}

/**
 * The tag of an attempt's run (`startAttemptRun`; not inherited by the runs below it). Seen by a watcher, it
 * is a nested `ResilientRunnable`'s attempt: the watcher's own attempt run starts before the watcher is
 * attached.
 */
const ATTEMPT_TAG = 'llmr:attempt';

/**
 * What a step of a `RunnableSequence` handed on to the next step, all of it: a message (the model's reply
 * its chunks add up to, a message a step made), with its text and how the provider said it was cut off
 * by its output-token limit, or text.
 */
interface StepOutput {
  /** Whether it was a message (`text` and `cut` are then the message's). */
  message: boolean;
  text: string | undefined;
  cut: Truncation | undefined;
}

/** What a run's output (a chain run's outputs, a model run's generation) hands on to the next step. */
function stepOutputOf(output: unknown, text?: unknown): StepOutput {
  if (typeof output === 'string') return { message: false, text: output, cut: undefined };
  if (!isBaseMessage(output)) return { message: false, text: undefined, cut: undefined };
  const own = typeof text === 'string' ? text : output.text;
  return { message: true, text: typeof own === 'string' ? own : undefined, cut: truncationOf(output) };
}

const SEQUENCE_STEP = /^seq:step:(\d+)$/;

/**
 * The number of the `RunnableSequence` step a run is (the `seq:step:N` tag a sequence gives each step's
 * run, and only it: the tag is not inherited), else undefined (not a step, or a sequence built with
 * `omitSequenceTags`).
 */
function sequenceStepOf(tags: readonly string[] | undefined): number | undefined {
  for (let i = (tags?.length ?? 0) - 1; i >= 0; i--) {
    const match = SEQUENCE_STEP.exec(tags![i]!);
    if (match !== null) return Number(match[1]);
  }
  return undefined;
}

/** Whether a run's reported inputs hold anything: LangChain reports `{ input: undefined }` for a run given nothing. */
function receivedInput(inputs: Record<string, unknown>): boolean {
  const keys = Object.keys(inputs);
  return !(keys.length === 0 || (keys.length === 1 && keys[0] === 'input' && inputs.input === undefined));
}

/** Whether a chain run's reported outputs hold anything: a streamed `RunnableWithFallbacks` reports `{ output: undefined }`. */
function reportedOutput(outputs: Record<string, unknown>): boolean {
  const keys = Object.keys(outputs);
  return !(keys.length === 0 || (keys.length === 1 && keys[0] === 'output' && outputs.output === undefined));
}

/** The structured-output method a chat-model run was started with (`extra.options.ls_structured_output_format`). */
function structuredOutputMethod(extra: Record<string, unknown> | undefined): unknown {
  const options = extra?.options as { ls_structured_output_format?: { kwargs?: { method?: unknown } } } | undefined;
  return options?.ls_structured_output_format?.kwargs?.method;
}

/**
 * A callback handler that tells, for one attempt, when the reply could not be parsed rather than the
 * call failing:
 *
 * - {@link ParseErrorWatcher.raised}: the error was raised while the reply was being parsed, by an
 *   output-parser run (`JsonOutputParser`'s `JSON.parse`, any parser of a chain) or by a chat-model run
 *   whose SDK parses the reply itself (`withStructuredOutput(schema, { method: 'jsonSchema' })` without
 *   streaming: OpenAI's `chat.completions.parse` throws a `SyntaxError`). The same error thrown by other
 *   code (a `RunnableLambda` of the chain) is not remembered, and neither is a model's own error (a
 *   malformed event of the provider's stream, a truncated HTTP body: the SDK's `SyntaxError`) that merely
 *   passes through a parser run after failing the model run.
 * - {@link ParseErrorWatcher.skippedReply}: streaming, LangChain's JSON and tool-call parsers skip what
 *   they cannot parse instead of throwing, so a reply they could not parse shows only as a stream that
 *   yielded nothing, or, for a tool call cut off part-way, the partial arguments it had. A run of such a
 *   parser that ended on a reply its `invoke()` would have rejected is remembered here: text that is
 *   neither blank nor JSON given to a JSON parser that yielded nothing, a reply the provider says was
 *   cut off by its output-token limit, not JSON, given to a JSON parser (the message that parser run was
 *   given, not another run's reply; whatever it yielded: the partial object), tool calls none of which
 *   has complete arguments given to a tool-call parser (whatever it yielded), and, with the attempt's
 *   runnable given, complete arguments the schema of its tool-call parser rejects (whatever it yielded:
 *   streaming, the parser never checks them). Runs inside a nested `ResilientRunnable`'s attempts (below a
 *   run tagged `llmr:attempt`) are left to that attempt's own watcher, for every rule.
 *   {@link ParseErrorWatcher.skippedPartialReply} is the part of it judged whatever the parser yielded.
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

  /**
   * `runnable`: the runnable the attempt runs. Given, the arguments a tool-call parser with a schema inside
   * it (`withStructuredOutput(zodSchema)`'s `JsonOutputKeyToolsParser`) ends its run with are checked
   * against that schema, as the parser's `invoke()` checks them (see {@link ParseErrorWatcher.skippedPartialReply}).
   */
  constructor(input?: BaseCallbackHandlerInput & { seen?: Seen; runnable?: Runnable }) {
    super(input);
    // The error must be remembered before the attempt's catch reads it: never run in the background queue.
    this.awaitHandlers = true;
    this.seen = input?.seen ?? {
      parsingRuns: new Set(),
      skippingRuns: new Map(),
      schemaParsers: input?.runnable !== undefined ? toolCallSchemaParsersWithin(input.runnable) : [],
      schemaRuns: new Map(),
      errors: new WeakSet(),
      modelErrors: new WeakSet(),
      skipped: undefined,
      skippedPartial: undefined,
      replyText: undefined,
      stepOutputs: new Map(),
      replyToolCalls: undefined,
      parents: new Map(),
      directModelReply: new Map(),
      nested: new Set(),
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
    // `parentRunId` and `tags` follow `runId` at run time in every @langchain/core 1.x.
    const parentRunId = typeof rest[0] === 'string' ? rest[0] : undefined;
    this.seen.parents.set(runId, parentRunId);
    if (this.isNested(parentRunId, Array.isArray(rest[1]) ? (rest[1] as unknown[]) : undefined)) {
      this.seen.nested.add(runId);
      return;
    }
    if (rest[3] !== 'parser' && rest[0] !== 'parser') return;
    const runName = rest[3] === 'parser' ? rest[4] : rest[3];
    this.seen.parsingRuns.add(runId);
    const className = Array.isArray(chain?.id) ? chain.id[chain.id.length - 1] : undefined;
    const skipping =
      (typeof className === 'string' ? SKIPPING_PARSERS.get(className) : undefined) ?? (typeof runName === 'string' ? SKIPPING_PARSERS.get(runName) : undefined);
    if (skipping !== undefined) this.seen.skippingRuns.set(runId, skipping);
    if (skipping !== 'toolCalls' || this.seen.schemaParsers.length === 0) return;
    // Callbacks get the parser's serialized form, not the parser: its schema is the instance's.
    const candidates = toolCallSchemaParsersOf(this.seen.schemaParsers, chain);
    if (candidates.length > 0) this.seen.schemaRuns.set(runId, candidates);
  }

  /**
   * A skipping parser's run that ended on a reply its `invoke()` would have rejected: the reply could
   * not be parsed.
   *
   * - `JsonOutputParser` (`json`) counts when the message it was given is one the provider says was cut
   *   off by its output-token limit and whose text is not JSON (see `parseFailureOfCutJsonReply`),
   *   whatever it yielded: the partial object of the cut reply. The message judged is the one this parser
   *   run was given, never another run's reply (a guard model run after the JSON model): what the step
   *   before it in its `RunnableSequence` handed on in all (`seq:step:N`; the model's reply its chunks add
   *   up to, or a message a step made, such as a JSON repair's; for a step that reports no output of its
   *   own, a streamed `RunnableWithFallbacks`, the reply of the last model run that ended inside it, only
   *   when that model run is directly below the step's run: `model.withFallbacks([model2])`). The run's
   *   own reported input is no help:
   *   `JsonOutputParser` keeps only the last chunk of it (`_concatOutputChunks` keeps the second, in
   *   @langchain/core 1.0 and 1.4 alike). A parser run that is no sequence's step, or its first, is not
   *   judged by this rule; neither is one given text a step made of the reply (a tag cut out of it), nor
   *   one after a step that reports no output of its own and wraps more than a bare model
   *   (`model.pipe(repair).withFallbacks([...])`: what it handed on is unknown, and the model's reply
   *   inside it may not be it).
   *   Otherwise it, and `JsonOutputFunctionsParser` (`functionCall`, whose text is not what it parses),
   *   count only when they yielded nothing, or only empty values (LangChain then reports `{}`, or the
   *   `{}` / `[]` it yielded), judged on the last model reply's text.
   * - A tool-call parser (`toolCalls`) counts whatever it yielded: streaming, it yields the partial
   *   arguments of a tool call cut off by `max_tokens` (`{ title: '[summary-a] re' }`), where its
   *   `invoke()` throws. Only the end counts: arguments arrive as partial JSON by design. The tool calls
   *   are those of the run's own input (the message the model's chunks add up to; LangChain reports it
   *   whole for these parsers), else those of the last model reply. Complete arguments that the parser's
   *   schema rejects count too (a parser found in the watched runnable, see `parseFailureOfToolCallSchema`):
   *   streaming, it yields them unchecked (`{ title: 5 }`), where its `invoke()` throws.
   *
   * Runs of a nested attempt (a `ResilientRunnable` inside the watched runnable: below a run tagged
   * {@link ATTEMPT_TAG}) are not judged by any rule: that attempt's own watcher judges them.
   *
   * A parser run that was given nothing at all (an earlier step yielded nothing) had nothing to parse.
   */
  override async handleChainEnd(outputs: ChainValues, runId: string, parentRunId?: string, tags?: string[], kwargs?: { inputs?: Record<string, unknown> }): Promise<void> {
    // A run of a nested attempt: its own watcher judges it.
    if (this.seen.nested.delete(runId)) {
      this.forget(runId);
      this.endedWithin(parentRunId, undefined, undefined);
      return;
    }
    // A sequence that ended: its steps' outputs are of no more use.
    this.seen.stepOutputs.delete(runId);
    const step = sequenceStepOf(tags);
    // A step that reports no output of its own (`{ output: undefined }`: a streamed `RunnableWithFallbacks`)
    // handed on what the last model run within it replied, when that run was directly below it (the
    // fallbacks are bare models); else what it handed on is unknown (see `stepOutputOf`: not judged).
    this.recordStepOutput(parentRunId, step, reportedOutput(outputs) ? stepOutputOf(outputs) : (this.seen.directModelReply.get(runId) ?? stepOutputOf(undefined)));
    this.forget(runId);
    // A chain run that ended after a model run: the chain runs above it were not last handed on a model's reply.
    this.endedWithin(parentRunId, undefined, undefined);
    this.seen.parsingRuns.delete(runId);
    const skipping = this.seen.skippingRuns.get(runId);
    this.seen.skippingRuns.delete(runId);
    const schemaParsers = this.seen.schemaRuns.get(runId) ?? [];
    this.seen.schemaRuns.delete(runId);
    if (skipping === undefined) return;
    const inputs = kwargs?.inputs;
    if (inputs !== undefined && !receivedInput(inputs)) return;
    if (skipping !== 'toolCalls') {
      const given = skipping === 'json' ? this.givenTo(parentRunId, step) : undefined;
      const cut = given?.message === true ? parseFailureOfCutJsonReply(given.text, given.cut) : undefined;
      if (cut !== undefined) this.skip(cut, true);
      else if (isEmptyOutput(outputs)) this.skip(parseFailureOfSkippedReply(this.seen.replyText), false);
      return;
    }
    const message = isBaseMessage(inputs) ? inputs : { additional_kwargs: { tool_calls: this.seen.replyToolCalls } };
    const failure =
      parseFailureOfSkippedToolCalls(message.additional_kwargs?.tool_calls) ??
      (await parseFailureOfToolCallSchema(message, schemaParsers));
    this.skip(failure, true);
  }

  /**
   * Whether a run starting below `parentRunId` with `tags` is a nested attempt's (see {@link Seen.nested}):
   * the attempt run of a `ResilientRunnable` inside the watched runnable, or a run below one.
   */
  private isNested(parentRunId: string | undefined, tags: readonly unknown[] | undefined): boolean {
    return (parentRunId !== undefined && this.seen.nested.has(parentRunId)) || (tags?.includes(ATTEMPT_TAG) ?? false);
  }

  /** Drops what was kept of a chain run that ended. */
  private forget(runId: string): void {
    this.seen.parents.delete(runId);
    this.seen.directModelReply.delete(runId);
  }

  /**
   * A run ended below `parentRunId`: for each chain run above it, the model reply (`reply`, of a model run
   * `modelRunParent` is the parent of) it is last to have been handed directly, else undefined.
   */
  private endedWithin(parentRunId: string | undefined, reply: StepOutput | undefined, modelRunParent: string | undefined): void {
    for (let id = parentRunId; id !== undefined && this.seen.parents.has(id); id = this.seen.parents.get(id)) {
      this.seen.directModelReply.set(id, id === modelRunParent ? reply : undefined);
    }
  }

  /** Remembers what a step of a sequence handed on (`parentRunId`: the sequence's run). */
  private recordStepOutput(parentRunId: string | undefined, step: number | undefined, output: StepOutput): void {
    if (parentRunId === undefined || step === undefined) return;
    let steps = this.seen.stepOutputs.get(parentRunId);
    if (steps === undefined) this.seen.stepOutputs.set(parentRunId, (steps = new Map()));
    steps.set(step, output);
  }

  /**
   * What a parser run that is step `step` of a sequence (`parentRunId`) was given in all: what the step
   * before it handed on (its run has ended before the parser's ends). Undefined for a parser run that is
   * no sequence's step, or its first (given the sequence's own input): `JsonOutputParser` reports only the
   * last chunk of its input, so its own input says nothing of the whole reply.
   */
  private givenTo(parentRunId: string | undefined, step: number | undefined): StepOutput | undefined {
    if (parentRunId === undefined || step === undefined) return undefined;
    return this.seen.stepOutputs.get(parentRunId)?.get(step - 1);
  }

  /** Remembers the first skipped reply, and, when it is judged whatever the parser yielded (`partial`), the first such one. */
  private skip(failure: ParseFailure | undefined, partial: boolean): void {
    if (failure === undefined) return;
    this.seen.skipped ??= failure;
    if (partial) this.seen.skippedPartial ??= failure;
  }

  override handleChainError(err: unknown, runId: string): void {
    this.forget(runId);
    if (this.seen.nested.delete(runId)) return;
    this.seen.stepOutputs.delete(runId);
    this.seen.skippingRuns.delete(runId);
    this.seen.schemaRuns.delete(runId);
    if (!this.seen.parsingRuns.delete(runId)) return;
    // A model's error passing through the parser run (its input stream failed) is not the parser's.
    if (typeof err === 'object' && err !== null && !this.seen.modelErrors.has(err)) this.seen.errors.add(err);
  }

  /**
   * A model run asked for `json_schema` structured output may parse the reply in the provider's SDK
   * (OpenAI's `chat.completions.parse`, used when the request does not stream): a parsing run until it
   * streams a token. Runs asked for `json_mode` or `function_calling` do not parse (an output parser of
   * the chain does): their errors, a truncated HTTP body's `SyntaxError` included, are the model's.
   */
  override handleChatModelStart(_llm: Serialized, _messages: BaseMessage[][], runId: string, parentRunId?: string, extra?: Record<string, unknown>, tags?: string[]): void {
    // A nested attempt's model run: its own watcher judges it.
    if (this.isNested(parentRunId, tags)) {
      this.seen.nested.add(runId);
      return;
    }
    if (structuredOutputMethod(extra) === SDK_PARSED_METHOD) this.seen.parsingRuns.add(runId);
  }

  /** A run that streams is not parsed by the SDK (`parse` is for whole replies): its errors are the model's. */
  override handleLLMNewToken(_token: string, _idx: unknown, runId: string): void {
    this.seen.parsingRuns.delete(runId);
  }

  override handleLLMError(err: unknown, runId: string): void {
    // A nested attempt's model error is still the model's (below), never a parse error of this attempt.
    this.seen.nested.delete(runId);
    if (typeof err !== 'object' || err === null) {
      this.seen.parsingRuns.delete(runId);
      return;
    }
    // A run whose SDK parses the reply (OpenAI's `parse`): its error is a parse error. Any other model
    // run's error is the model's, wherever it is seen next.
    if (this.seen.parsingRuns.delete(runId)) this.seen.errors.add(err);
    else if (!this.seen.errors.has(err)) this.seen.modelErrors.add(err);
  }

  override handleLLMEnd(output: LLMResult, runId: string, parentRunId?: string, tags?: string[]): void {
    this.seen.parsingRuns.delete(runId);
    const generation = output.generations[0]?.[0] as { text?: unknown; message?: { additional_kwargs?: { tool_calls?: unknown } } } | undefined;
    this.seen.replyText = typeof generation?.text === 'string' ? generation.text : undefined;
    this.seen.replyToolCalls = generation?.message?.additional_kwargs?.tool_calls;
    const reply = stepOutputOf(generation?.message ?? generation?.text, generation?.text);
    // The last run to end within each chain run above it: a model's reply directly below its parent only.
    this.endedWithin(parentRunId, reply, parentRunId);
    // A run of a nested attempt: its sequences' steps are its own watcher's.
    if (this.seen.nested.delete(runId)) return;
    // A chat model that is a step of a sequence hands on its reply, the message its chunks add up to.
    this.recordStepOutput(parentRunId, sequenceStepOf(tags), reply);
  }

  /**
   * The reply a skipping parser (LangChain's JSON and tool-call parsers) let through while streaming
   * where its `invoke()` would have thrown, else undefined: for `JsonOutputParser` and
   * `JsonOutputFunctionsParser` text that is neither blank nor JSON, turned into nothing, or a reply the
   * provider says was cut off by its output-token limit (`finish_reason: 'length'`, ...) that is not JSON,
   * the message the parser run was given (not another model run's reply), whatever the parser yielded (the
   * partial object); for the
   * tool-call parsers (`withStructuredOutput`'s `functionCalling`) tool calls none of which has complete
   * JSON arguments, whether the parser yielded nothing (a call cut off before its first argument) or the
   * partial arguments of the call (cut off part-way). A JSON parser that yielded anything from a reply
   * the provider did not say was cut off, valid JSON such as `null`, whole tool calls, a reply without
   * tool calls given to a tool-call parser (its `invoke()` returns nothing then, also when the tool call
   * was forced), and chains without such a parser
   * (`StringOutputParser`, a later step that drops what it is given) never count.
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

  /**
   * The part of {@link ParseErrorWatcher.skippedReply} judged whatever the parser yielded, so that a
   * stream with content can have it (the parser yielded partial values of a reply its `invoke()` rejects):
   *
   * - tool calls a tool-call parser (`JsonOutputToolsParser`, `JsonOutputKeyToolsParser`:
   *   `withStructuredOutput`'s `functionCalling`) was given, none of which has arguments that are complete
   *   JSON (a call cut off part-way), judged on the message the parser run was given, as its `invoke()`
   *   judges it;
   * - complete arguments of such a call that the parser's own schema rejects, when the watcher was given
   *   the runnable the parser is in (`new ParseErrorWatcher({ runnable })`): `JsonOutputKeyToolsParser` with
   *   a `zodSchema` or Standard Schema (`withStructuredOutput(zodSchema)`), checked at the end of its run as
   *   its `invoke()` checks them (streaming, it yields them unchecked: `{ title: 5 }`);
   * - a reply the provider says was cut off by its output-token limit (`finish_reason: 'length'`, ...)
   *   whose text is not JSON, given to a JSON parser (`JsonOutputParser`): the parser yielded the partial
   *   object of it. The message judged is the one that parser run was given (what the step before it in
   *   its sequence handed on), not the reply of the last model run to end (a guard model's after it).
   *
   * Never the JSON parsers' rule for replies nobody said were cut off, which judges the last model reply's
   * text rather than what the parser was given, and so holds only for a stream that yielded nothing.
   *
   * @example
   * ```ts
   * const parsing = new ParseErrorWatcher();
   * for await (const _ of await model.pipe(new JsonOutputKeyToolsParser({ keyName: 'summary' })).stream(input, { callbacks: [parsing] }));
   * parsing.skippedPartialReply(); // { reason: "the reply's tool call arguments are not valid JSON", text: '{"title":"Quarterly res' }
   *
   * const chain = model.withStructuredOutput(z.object({ title: z.string() }));
   * const checked = new ParseErrorWatcher({ runnable: chain });
   * for await (const _ of await chain.stream(input, { callbacks: [checked] }));
   * checked.skippedPartialReply(); // { reason: "the reply does not match the output parser's schema: title: expected string, got a number", text: '{"title":5}' }
   * ```
   */
  skippedPartialReply(): ParseFailure | undefined {
    return this.seen.skippedPartial;
  }

  /** Whether `error` was raised by an output-parser run or a model run whose SDK parses the reply, below this handler. */
  raised(error: unknown): boolean {
    return typeof error === 'object' && error !== null && this.seen.errors.has(error);
  }
}
