import type { CallbackManagerForChainRun } from '@langchain/core/callbacks/manager';
import { isBaseMessage } from '@langchain/core/messages';
import {
  ensureConfig,
  patchConfig,
  Runnable,
  RunnableBinding,
  type RunnableBatchOptions,
  type RunnableConfig,
  type RunnableRetry,
  type RunnableRetryFailedAttemptHandler,
} from '@langchain/core/runnables';
import type { Run } from '@langchain/core/tracers/base';
import type { LogStreamCallbackHandler, RunLogPatch, StreamEvent } from '@langchain/core/tracers/log_stream';
import { AsyncGeneratorWithSetup, IterableReadableStream } from '@langchain/core/utils/stream';
import {
  ResilienceError,
  validateOutput,
  type AttemptContext,
  type ExecuteResult,
  type Resilience,
  type ResilienceRequest,
  type ResolvedTarget,
  type Usage,
  unfinishedUsage,
} from '@llm-resilience/core';
import { engineIdOf, startAttemptRun, type AttemptRun } from './attemptRun';
import { AttemptVerdicts } from './AttemptVerdicts';
import { callOptionProblems, INNER_RETRIES_CHECKS, optionProblems, policyOf } from './checkOptions';
import { engineInputOf } from './engineInput';
import { eventStreamBytes } from './eventStreamBytes';
import { findInnerRetries, type InnerRetries } from './findInnerRetries';
import { InvalidStreamOutputError } from './InvalidStreamOutputError';
import { isEmptyOutput } from './isEmptyOutput';
import { isRecord } from './isRecord';
import { linkSignals } from './linkSignals';
import { LogWriter } from './LogWriter';
import { OutputValidationError } from './OutputValidationError';
import { ParseErrorWatcher } from './ParseErrorWatcher';
import { parseFailureOf, parseFailureOfStreamedToolCalls, type ParseFailure } from './parseFailureOf';
import { providerStreamErrorOf } from './providerStreamError';
import { replyText } from './replyText';
import { RequestEventRouter, TRACED_EVENTS, type TracedEvent } from './RequestEventRouter';
import { REPAIR_CONFIG_KEY } from './repair';
import { ResilientRunnableConfigError } from './ResilientRunnableConfigError';
import { runPool } from './runPool';
import { stopOnCancel } from './stopOnCancel';
import { StreamInterruptedError } from './StreamInterruptedError';
import { TargetRunnables } from './TargetRunnables';
import type { ResilienceCallOptions, ResilientCallOptions, ResilientResult, WithResilienceOptions } from './types';
import { addUsage, usageOfOutput } from './usage';
import { UsageCollector } from './UsageCollector';

/**
 * Items of one `batch()` in flight at once unless configured (call or bound config `maxConcurrency`,
 * batch options, or the `maxConcurrency` option of `withResilience`).
 *
 * @example
 * ```ts
 * await safe.batch(inputs, { maxConcurrency: DEFAULT_BATCH_CONCURRENCY * 2 });
 * ```
 */
export const DEFAULT_BATCH_CONCURRENCY = 16;

/**
 * Constructor fields of {@link ResilientRunnable}: the options of `withResilience` plus the runnable
 * it wraps (and, as for any `RunnableBinding`, bound config).
 *
 * @example
 * ```ts
 * new ResilientRunnable({ bound: model, engine, route: 'chat' });
 * ```
 */
export interface ResilientRunnableFields<RunInput, RunOutput, CallOptions extends RunnableConfig>
  extends WithResilienceOptions<RunInput, RunOutput> {
  bound: Runnable<RunInput, RunOutput, CallOptions>;
  config?: RunnableConfig;
  kwargs?: Partial<CallOptions>;
}

/** What an attempt hands to the engine: the output, its text (for the route's schema) and our own parse. */
interface AttemptEnvelope<T> {
  value: T;
  /** Read by the engine's text extractor for the route's `output` schema. */
  content?: string;
  output?: unknown;
  /** Set when the runnable could not parse the reply (`value` is then not an output): the engine must reject `content`. */
  rejected?: OutputValidationError;
}

/**
 * Text handed to the engine for a reply the wrapped runnable could not parse when the reply's own text
 * is unknown (or the route's schema would accept it): not JSON, so the route's validation rejects it
 * ("the reply is not valid JSON").
 */
const UNPARSED_REPLY = '(the reply could not be parsed)';

/** A stream whose first meaningful chunk arrived (or that ended without one): from here on, no fallback. */
interface OpenedStream<T> {
  iterator: AsyncIterator<T>;
  /** The stream ended while the first chunk with content was awaited: `iterator` has nothing more. */
  done: boolean;
  /** Chunks read so far (empty ones, then the first with content). */
  buffered: T[];
  run: AttemptRun;
  usage: UsageCollector;
  /** Tells a parser's error (the reply was invalid) from a broken stream. */
  parsing: ParseErrorWatcher;
  /** Output tokens the engine reserved for the attempt (`ctx.maxOutputTokens`). */
  outputEstimate: number;
  /** Aborts the model's stream (its provider request) once the request was settled: no cancellation. */
  abort: () => void;
}

type Mode = 'invoke' | 'batch' | 'stream';
type AnyConfig = RunnableConfig & { resilience?: ResilienceCallOptions };

/** Models already warned about, by the source of their retries (one warning per model instance and source). */
const warned = new WeakMap<object, Set<InnerRetries['source']>>();

/**
 * The stop signal of each `streamLog()` / `streamEvents` v1 call of a ResilientRunnable, by its log
 * handler: aborted when the caller leaves early, read by the stream (which finds the handler among its
 * run's handlers) so that it ends through its own generator, its runs' callbacks written while the
 * log is still read (see `_streamLog`).
 */
const logStops = new WeakMap<object, AbortSignal>();

/**
 * The config key under which `streamEvents` v1 hands its stop controller to `_streamLog` (LangChain
 * copies the config's keys into the one it passes there); removed before the stream starts.
 */
const LOG_STOP_KEY = '__llmr_log_stop';

/**
 * The config key under which `stream()` hands its reader's stop signal (aborted as soon as the caller
 * leaves the stream) to `streamAttempts`; removed there before the config reaches the wrapped runnable.
 */
const READER_STOP_KEY = '__llmr_reader_stop';

/**
 * A chunk worth committing to a target for: text, tool-call pieces, or any other value with something of
 * the answer in it. Empty values (see {@link isEmptyOutput}: the `{}` a tool-call parser yields on the
 * call's header, before any argument) are not: a break right after them can still fall back.
 */
function hasContent(chunk: unknown): boolean {
  if (isBaseMessage(chunk)) {
    const c = chunk.content;
    if (c.length > 0) return true;
    const pieces = (chunk as { tool_call_chunks?: unknown[] }).tool_call_chunks;
    return Array.isArray(pieces) && pieces.length > 0;
  }
  return !isEmptyOutput(chunk);
}

/** What the engine records when the caller aborts a stream (its own errors keep their kind). */
function cancelledError(cause: unknown): ResilienceError {
  return new ResilienceError('The stream was cancelled by the caller.', { kind: 'cancelled', code: 'ERR_LLMR_CANCELLED', cause });
}

/**
 * The `resilience` call options of `configs`, merged field by field in order (later ones win), when
 * more than one has them; undefined otherwise (LangChain's own merge is then right). A value that is
 * not an object is left to the call option check.
 *
 * Each field merges as `later ?? earlier`, the rule `request()` applies between call options and the
 * `withResilience` options: a field that is `undefined` (or `null`) means "not given" and keeps an
 * earlier value, so `{ dataClass: ctx.dataClass }` with no class for this call keeps a bound
 * `dataClass` (a nullish value with nothing before it stays, for the call option check). Fields are
 * replaced whole: a later `identity` object replaces an earlier one, as it replaces `withResilience`'s.
 */
function mergedResilience(configs: ReadonlyArray<unknown>): ResilienceCallOptions | undefined {
  const parts: Record<string, unknown>[] = [];
  for (const c of configs) {
    const r = isRecord(c) ? c.resilience : undefined;
    if (r === undefined) continue;
    if (!isRecord(r) || Array.isArray(r)) return undefined;
    parts.push(r);
  }
  if (parts.length < 2) return undefined;
  const merged: Record<string, unknown> = {};
  for (const part of parts) {
    for (const [key, value] of Object.entries(part)) {
      if (value === undefined || (value === null && merged[key] !== undefined && merged[key] !== null)) continue;
      merged[key] = value;
    }
  }
  return merged as ResilienceCallOptions;
}

/**
 * The request id of item `index` (> 0) of a `batch()` whose one options object names `requestId`: the
 * first item keeps `requestId`, later ones get `<requestId>#<index>` (joinable by prefix).
 *
 * @example
 * ```ts
 * batchItemRequestId('job-42', 2); // 'job-42#2'
 * ```
 */
function batchItemRequestId(requestId: string, index: number): string {
  return index === 0 ? requestId : `${requestId}#${index}`;
}

function newRequestId(): string {
  return `lc_${globalThis.crypto.randomUUID()}`;
}

/**
 * A Runnable wrapped in the resilience policy of one route: every call goes through
 * `engine.execute` (limits and spend caps reserved first, then the route's chain tried in order with
 * retries on provider hints, fallbacks, breakers and output validation, then usage settled from
 * `usage_metadata`). A `RunnableBinding` subclass, like LangChain's `RunnableRetry`; each attempt is
 * a child run named `attempt:<targetId>#<n>` and the engine's retry/fallback/skip events are
 * dispatched as custom events (`llmr_retry`, `llmr_fallback`, ...) on the call's run.
 *
 * - `invoke`: one request; the output is the answering target's runnable output.
 * - `batch`: one request per input at priority `batch` (queued, never burst past limits), at most
 *   `maxConcurrency` in flight.
 * - `stream`: falls back only until the first chunk with content arrives; a break after that ends
 *   the stream with a {@link StreamInterruptedError}. A reply the chain's output parser cannot parse
 *   is an invalid reply before that chunk (falls back) and an {@link InvalidStreamOutputError} after it;
 *   so is a reply that was cut off, once the stream has ended: tool calls through a tool-call parser
 *   whose `invoke()` rejects them (arguments cut off, or, for `withStructuredOutput(zodSchema)`'s parser,
 *   arguments its schema rejects), JSON through a JSON parser (`JsonOutputParser`) when the provider says
 *   the reply was cut off by its output-token limit (`finish_reason: 'length'`, `stop_reason:
 *   'max_tokens'`, ...), or, without a parser, such a reply with a call whose arguments are incomplete.
 *   Those errors carry the provider's, SDK's or parser's error as the engine exposes causes (with its
 *   `redact` option, a redacted stand-in).
 *   `streamEvents` (v1, v2, also encoded as `text/event-stream`) and `streamLog()` left early stop the
 *   stream (recorded as cancelled); leaving them never throws.
 * - cancellation: `signal` in the call options cancels queue waits, backoff and the model call. A
 *   RunnableConfig `timeout` (call options or bound config) is also the request's deadline for the
 *   engine (the earlier of it and `resilience.deadline`), so a Retry-After past it falls back at once.
 * - usage: the usage of every model run of an attempt that ended is reported to the engine, also when
 *   the attempt fails afterwards (the provider billed it): charged, not refunded.
 *
 * @example
 * ```ts
 * const safe = new ResilientRunnable({ bound: summaryChain, engine, route: 'summary', fallbacks: [longChain] });
 * const summary = await safe.invoke({ document });
 * ```
 */
export class ResilientRunnable<RunInput = any, RunOutput = any, CallOptions extends RunnableConfig = RunnableConfig> extends RunnableBinding<
  RunInput,
  RunOutput,
  CallOptions
> {
  static override lc_name(): string {
    return 'ResilientRunnable';
  }

  override lc_namespace = ['llm_resilience', 'langchain'];
  /** Holds an engine: not serializable. */
  override lc_serializable = false;

  /** The engine every call goes through. */
  readonly engine: Resilience;
  /** The route whose policy applies. */
  readonly route: string;
  /** The options this runnable was built with. */
  readonly resilience: Readonly<WithResilienceOptions<RunInput, RunOutput>>;
  /** Shared with every `withConfig()` copy: a `targets` factory builds its runnable once for all of them. */
  private runnables: TargetRunnables<RunInput, RunOutput>;

  constructor(fields: ResilientRunnableFields<RunInput, RunOutput, CallOptions>) {
    const { bound, config, kwargs, ...options } = fields;
    super({ bound, config: config ?? {}, ...(kwargs !== undefined ? { kwargs } : {}) });
    const problems = optionProblems(options as Record<string, unknown>);
    const policy = policyOf(options.engine);
    if (!policy) throw new ResilientRunnableConfigError(problems);
    this.engine = options.engine;
    this.route = options.route;
    this.resilience = Object.freeze({ ...options });
    if (options.name !== undefined) this.name = options.name;
    // Bad shapes are reported above; map what can be mapped so that the route's problems are listed too.
    const fallbacks = Array.isArray(options.fallbacks) ? options.fallbacks : [];
    const targets = typeof options.targets === 'object' && options.targets !== null && !Array.isArray(options.targets) ? options.targets : {};
    // Runnables built by `targets` factories are checked when built (first use).
    this.runnables = new TargetRunnables(policy, options.route, bound, fallbacks, targets, (built) => {
      const found = this.innerRetryProblems([built]);
      if (found.length > 0) throw new ResilientRunnableConfigError(found);
    });
    if (typeof options.route === 'string') problems.push(...this.runnables.problems);
    if (options.innerRetries === undefined || INNER_RETRIES_CHECKS.includes(options.innerRetries)) {
      problems.push(...this.innerRetryProblems(this.runnables.direct().filter((r) => Runnable.isRunnable(r))));
    }
    if (problems.length > 0) throw new ResilientRunnableConfigError(problems);
  }

  /**
   * Runnables that retry below the engine (`maxRetries > 0`, an SDK client's `maxRetries > 0`,
   * `withRetry()`): with `innerRetries: 'error'` their problems are returned; with `'warn'` one
   * process warning per runnable and source of retries is emitted.
   */
  private innerRetryProblems(runnables: ReadonlyArray<Runnable>): string[] {
    const check = this.resilience.innerRetries ?? 'warn';
    if (check === 'ignore') return [];
    const problems: string[] = [];
    for (const f of runnables.flatMap((r) => findInnerRetries(r))) {
      const msg =
        f.source === 'withRetry'
          ? `withRetry() around ${f.name} (stopAfterAttempt ${f.maxRetries + 1}) retries inside the wrapped runnable, below the resilience engine: ` +
            "Retry-After, limits, breakers and the retry budget cannot see those retries. Remove the withRetry(): the route's retry policy retries."
          : f.source === 'clientMaxRetries'
            ? `${f.name}'s SDK client retries each request itself (maxRetries ${f.maxRetries} in its client configuration), below the resilience engine: ` +
              'Retry-After, limits, breakers and the retry budget cannot see those retries. Build it with `configuration: { maxRetries: 0 }` (or leave maxRetries out there).'
            : `${f.name} retries failed calls itself (maxRetries ${f.maxRetries}), below the resilience engine: ` +
              'Retry-After, limits, breakers and the retry budget cannot see those retries. Build it with `maxRetries: 0`.';
      if (check === 'error') problems.push(msg);
      else {
        const sources = warned.get(f.model) ?? new Set<InnerRetries['source']>();
        if (!sources.has(f.source)) {
          sources.add(f.source);
          warned.set(f.model, sources);
          process.emitWarning(msg, { code: 'LLMR_INNER_RETRIES' });
        }
      }
    }
    return problems;
  }

  override getName(suffix?: string): string {
    const name = this.name ?? ResilientRunnable.lc_name();
    return suffix ? `${name}${suffix}` : name;
  }

  /**
   * A copy with more bound config; the resilience options are kept, and bound `resilience` call
   * options are merged field by field (`withConfig({ resilience: { priority } })` then
   * `withConfig({ resilience: { identity } })` keeps both). The copy shares this runnable's map of
   * target runnables: a `targets` factory is called once, on first use by any copy (a per-request
   * `withConfig({ metadata })` builds no new model).
   */
  override withConfig(config: Partial<CallOptions>): ResilientRunnable<RunInput, RunOutput, CallOptions> {
    const merged = { ...this.config, ...config };
    const resilience = mergedResilience([this.config, config]);
    if (resilience !== undefined) (merged as AnyConfig).resilience = resilience;
    const copy = new ResilientRunnable<RunInput, RunOutput, CallOptions>({
      ...this.resilience,
      bound: this.bound,
      config: merged,
      ...(this.kwargs !== undefined ? { kwargs: this.kwargs } : {}),
    });
    // Same options, same wrapped runnable: the same targets, and the runnables factories built already.
    copy.runnables = this.runnables;
    return copy;
  }

  /**
   * LangChain's merge, except for `resilience`, which it replaces whole: here a call's `{ deadline }`
   * (or the deadline of its `timeout`) keeps a bound `{ priority, identity }`; later fields win.
   */
  override async _mergeConfig(...options: (Partial<CallOptions> | RunnableConfig | undefined)[]): Promise<Partial<CallOptions>> {
    const merged = await super._mergeConfig(...options);
    const resilience = mergedResilience([this.config, ...options]);
    if (resilience !== undefined) (merged as AnyConfig).resilience = resilience;
    return merged;
  }

  /**
   * Retries the whole resilient call (engine included). Rarely what you want: the route's retry
   * policy already retries with provider hints; this exists so that `withRetry` never drops the policy.
   */
  override withRetry(fields?: {
    stopAfterAttempt?: number;
    onFailedAttempt?: RunnableRetryFailedAttemptHandler;
  }): RunnableRetry<RunInput, RunOutput, CallOptions> {
    return Runnable.prototype.withRetry.call(this, fields) as RunnableRetry<RunInput, RunOutput, CallOptions>;
  }

  /** Listeners around the resilient call (the default binding would attach them to the wrapped runnable only). */
  override withListeners(listeners: {
    onStart?: (run: Run, config?: RunnableConfig) => void | Promise<void>;
    onEnd?: (run: Run, config?: RunnableConfig) => void | Promise<void>;
    onError?: (run: Run, config?: RunnableConfig) => void | Promise<void>;
  }): Runnable<RunInput, RunOutput, CallOptions> {
    return Runnable.prototype.withListeners.call(this, listeners) as Runnable<RunInput, RunOutput, CallOptions>;
  }

  // ------------------------------------------------------------------ invoke / batch

  override async invoke(input: RunInput, options?: ResilientCallOptions<CallOptions>): Promise<RunOutput> {
    return (await this.runOne(input, options, 'invoke')).value;
  }

  /**
   * Like `invoke`, and also returns which target answered, the validated structured output and the
   * engine's record (attempts, fallback_used, tokens, cost; no prompt text).
   *
   * @example
   * ```ts
   * const { value, target, record } = await safe.invokeWithResult(messages);
   * if (record.fallback_used) log.info('answered by', target.id);
   * ```
   */
  async invokeWithResult(input: RunInput, options?: ResilientCallOptions<CallOptions>): Promise<ResilientResult<RunOutput>> {
    return this.runOne(input, options, 'invoke');
  }

  override async batch(
    inputs: RunInput[],
    options?: ResilientCallOptions<CallOptions> | ResilientCallOptions<CallOptions>[],
    batchOptions?: RunnableBatchOptions & { returnExceptions?: false },
  ): Promise<RunOutput[]>;
  override async batch(
    inputs: RunInput[],
    options?: ResilientCallOptions<CallOptions> | ResilientCallOptions<CallOptions>[],
    batchOptions?: RunnableBatchOptions & { returnExceptions: true },
  ): Promise<(RunOutput | Error)[]>;
  override async batch(
    inputs: RunInput[],
    options?: ResilientCallOptions<CallOptions> | ResilientCallOptions<CallOptions>[],
    batchOptions?: RunnableBatchOptions,
  ): Promise<(RunOutput | Error)[]>;
  /**
   * One engine request per input, at the `batch` traffic class unless told otherwise: requests queue
   * for capacity instead of bursting into provider limits. At most `maxConcurrency` (call config,
   * bound config included, then batch options, the `withResilience` option, else 16) are in flight.
   * A `timeout` in the call options is every item's deadline from the start of the batch (LangChain's
   * abort signal for it starts there too); one in bound config, from the start of each item. A
   * `resilience.requestId` in one options object for all inputs (or bound) is the first item's id;
   * later items get `<requestId>#<index>`. With a list of options, an item whose own options name a
   * `requestId` keeps it; a later item whose id is the bound one gets `<requestId>#<index>` too.
   */
  override async batch(
    inputs: RunInput[],
    options?: ResilientCallOptions<CallOptions> | ResilientCallOptions<CallOptions>[],
    batchOptions?: RunnableBatchOptions,
  ): Promise<(RunOutput | Error)[]> {
    // LangChain turns each call `timeout` into a signal here, at the batch's start: its deadline starts there too.
    const timed = Array.isArray(options) ? options.map((o) => this.timeoutAsDeadline(o)) : this.timeoutAsDeadline(options);
    const configs = this._getOptionsList((timed ?? {}) as Partial<CallOptions>, inputs.length) as ResilientCallOptions<CallOptions>[];
    // Config bound with withConfig()/bind() counts, as in any RunnableBinding's batch (merged as each call merges it).
    const first = await this._mergeConfig(ensureConfig(configs[0] as Partial<CallOptions> | undefined), this.kwargs);
    // One options object (or none) is every item's: its `resilience.requestId` (given in the call or bound)
    // names the first item's request only, as LangChain keeps a `runId` for the first item only; later
    // items get `<id>#<index>`, so records and the engine's events of distinct requests never share an id.
    // With a list of options, an item whose own options name a requestId keeps it; one whose id comes
    // from the bound config (the same for every item) is renamed like the items of one options object.
    if (!Array.isArray(options)) {
      const id = (first as AnyConfig).resilience?.requestId;
      if (typeof id === 'string' && id.length > 0) {
        for (let i = 1; i < configs.length; i++) {
          const c = configs[i]!;
          configs[i] = { ...c, resilience: { ...c.resilience, requestId: batchItemRequestId(id, i) } };
        }
      }
    } else {
      for (let i = 1; i < configs.length; i++) {
        const c = configs[i]!;
        const own = isRecord(c) && isRecord(c.resilience) ? c.resilience.requestId : undefined;
        if (own !== undefined) continue;
        const id = ((await this._mergeConfig(ensureConfig(c as Partial<CallOptions> | undefined), this.kwargs)) as AnyConfig).resilience?.requestId;
        if (typeof id === 'string' && id.length > 0) {
          configs[i] = { ...c, resilience: { ...(isRecord(c?.resilience) ? c.resilience : {}), requestId: batchItemRequestId(id, i) } };
        }
      }
    }
    const max = first.maxConcurrency ?? batchOptions?.maxConcurrency ?? this.resilience.maxConcurrency ?? DEFAULT_BATCH_CONCURRENCY;
    return runPool<RunOutput | Error>(inputs.length, max, async (i) => {
      try {
        return (await this.runOne(inputs[i]!, configs[i], 'batch')).value;
      } catch (e) {
        if (batchOptions?.returnExceptions) return e instanceof Error ? e : new Error(String(e));
        throw e;
      }
    });
  }

  private async runOne(input: RunInput, options: ResilientCallOptions<CallOptions> | undefined, mode: Mode): Promise<ResilientResult<RunOutput>> {
    // Bound config merged first: its `timeout` counts too (LangChain keeps the smaller one).
    const config = this.timeoutAsDeadline(await this._mergeConfig(options as Partial<CallOptions> | undefined, this.kwargs));
    let result: ResilientResult<RunOutput> | undefined;
    await this._callWithConfig(
      async (i: RunInput, c?: Partial<CallOptions>, runManager?: CallbackManagerForChainRun) => {
        result = await this.execute(i, (c ?? {}) as AnyConfig, runManager, mode);
        return result.value;
      },
      input,
      config,
    );
    return result!;
  }

  private async execute(input: RunInput, config: AnyConfig, runManager: CallbackManagerForChainRun | undefined, mode: Mode): Promise<ResilientResult<RunOutput>> {
    const { resilience: call, ...rest } = config;
    const request = this.request(input, rest, call, mode, runManager);
    // Each attempt run whose call returned a reply ends with the engine's verdict on it (see AttemptVerdicts).
    const verdicts = new AttemptVerdicts();
    const stopTracing = this.traceEvents(request.requestId!, runManager, verdicts);
    let r: ExecuteResult<AttemptEnvelope<RunOutput>> | undefined;
    try {
      r = await this.engine.execute(request, (target, ctx) => this.attempt(target, ctx, input, rest, runManager, verdicts));
    } finally {
      stopTracing();
      await verdicts.settle(r !== undefined ? 'accepted' : 'rejected');
    }
    // An engine with a custom `text` extractor may not read `content`: a reply that was never parsed is no output.
    if (r.value.rejected) throw r.value.rejected;
    const output = r.output ?? r.value.output;
    return { value: r.value.value, ...(output !== undefined ? { output } : {}), target: r.target, record: r.record };
  }

  private async attempt(
    target: ResolvedTarget,
    ctx: AttemptContext,
    input: RunInput,
    config: RunnableConfig,
    runManager: CallbackManagerForChainRun | undefined,
    verdicts: AttemptVerdicts,
  ): Promise<AttemptEnvelope<RunOutput>> {
    // The engine calls again: the reply of a previous attempt whose verdict never came was not used.
    await verdicts.settle('rejected');
    const runnable = this.runnables.get(target);
    const usage = new UsageCollector({ engineId: engineIdOf(this.engine) });
    const parsing = new ParseErrorWatcher();
    const run = await startAttemptRun(runManager, { target, ctx, fallback: target.id !== this.runnables.primaryId, engine: this.engine }, [usage, parsing]);
    let value: RunOutput;
    try {
      value = await runnable.invoke(input, this.childConfig(config, run, ctx.signal, ctx.repair));
    } catch (e) {
      await run.fail(e);
      const failure = parseFailureOf(e, (err) => parsing.raised(err));
      if (failure === undefined) {
        // Model calls that ended before the failure (a map step, a model before a failing step) were
        // billed: the engine charges usage reported before the attempt throws, instead of refunding it.
        const used = usage.attemptUsage();
        if (used) ctx.reportUsage(used);
        throw e;
      }
      return this.unparsedReply(target, ctx, usage.attemptUsage(), failure, e);
    }
    try {
      // A nested ResilientRunnable's output carries the usage its own request charged: not read again.
      const used = usage.attemptUsage() ?? (usage.nested ? undefined : usageOfOutput(value));
      if (used) ctx.reportUsage(used);
      const content = replyText(value);
      let output: unknown;
      if (this.resilience.output) {
        const v = await validateOutput(content, this.resilience.output);
        if (!v.ok) throw new OutputValidationError(target.id, v.reason);
        output = v.value;
      }
      // Not ended yet: the engine may still reject the reply (the route's `output` schema). The run ends
      // with the engine's verdict: the reply on success, an OutputValidationError when it was rejected.
      verdicts.hold(ctx.attempt, target.id, run, value);
      return { value, ...(content !== undefined ? { content } : {}), ...(output !== undefined ? { output } : {}) };
    } catch (e) {
      await run.fail(e);
      throw e;
    }
  }

  /**
   * An attempt whose reply the wrapped runnable could not parse (see {@link parseFailureOf}). The
   * provider answered and billed it: its usage is reported first. On a route with an `output` schema
   * the engine gets text its validation rejects (the reply itself when the schema rejects it too, else
   * {@link UNPARSED_REPLY}), so the route's `onInvalidOutput` applies as to any invalid reply; on other
   * routes an {@link OutputValidationError} (a `validation_failed` attempt error) is thrown. The error the
   * engine gets carries the parser's error as `cause`; the one the envelope carries (thrown to the caller
   * by `execute` when the engine accepted the envelope) carries it as the engine exposes causes (see
   * `Resilience.exposedCause`).
   */
  private async unparsedReply(
    target: ResolvedTarget,
    ctx: AttemptContext,
    used: Usage | undefined,
    failure: ParseFailure,
    cause: unknown,
  ): Promise<AttemptEnvelope<RunOutput>> {
    if (used) ctx.reportUsage(used);
    const schema = this.engine.policy.routes[this.route]?.output;
    if (!schema) throw new OutputValidationError(target.id, failure.reason, cause);
    const own = failure.text !== undefined && !(await validateOutput(failure.text, schema)).ok;
    const rejected = new OutputValidationError(target.id, failure.reason, this.engine.exposedCause(cause));
    return { value: undefined as RunOutput, content: own ? failure.text! : UNPARSED_REPLY, rejected };
  }

  // ------------------------------------------------------------------ stream

  /**
   * The resilient call's stream. Leaving it early (`break`, `return()`, `cancel()`) settles the request
   * at once as a success with what was used (see `streamAttempts`) and aborts the model's stream:
   * LangChain's stream reads one chunk ahead, so without the stop the caller's `break` would wait for
   * the provider's next chunk, the request holding its reservations and the connection open meanwhile.
   */
  override async stream(input: RunInput, options?: ResilientCallOptions<CallOptions>): Promise<IterableReadableStream<RunOutput>> {
    const stop = new AbortController();
    const config = { ...ensureConfig(this.timeoutAsDeadline(options)), [READER_STOP_KEY]: stop.signal };
    const generator = new AsyncGeneratorWithSetup({ generator: this._streamIterator(input, config), config });
    await generator.setup;
    return stopOnCancel(IterableReadableStream.fromAsyncGenerator(generator), stop);
  }

  override async *_streamIterator(input: RunInput, options?: ResilientCallOptions<CallOptions>): AsyncGenerator<Awaited<RunOutput>, void, any> {
    // The call's `timeout` (when not called through `stream()`), then the bound config's, become deadlines.
    const config = this.timeoutAsDeadline(await this._mergeConfig(ensureConfig(this.timeoutAsDeadline(options)), this.kwargs));
    async function* single(): AsyncGenerator<RunInput> {
      yield input;
    }
    yield* this._transformStreamWithConfig(
      single(),
      (inputs, runManager, cfg) => this.streamAttempts(inputs, (cfg ?? {}) as AnyConfig, runManager),
      config,
    ) as AsyncGenerator<Awaited<RunOutput>>;
  }

  /** Streams in a sequence (`prompt.pipe(safe)`) come through here: buffer the input, then stream through the engine. */
  override async *transform(generator: AsyncGenerator<RunInput>, options?: ResilientCallOptions<CallOptions>): AsyncGenerator<RunOutput> {
    yield* Runnable.prototype.transform.call(this, generator, options as Partial<CallOptions>) as AsyncGenerator<RunOutput>;
  }

  override streamEvents(
    input: RunInput,
    options: Partial<CallOptions> & { version: 'v1' | 'v2' },
    streamOptions?: Parameters<Runnable['streamEvents']>[2],
  ): IterableReadableStream<StreamEvent>;
  override streamEvents(
    input: RunInput,
    options: Partial<CallOptions> & { version: 'v1' | 'v2'; encoding: 'text/event-stream' },
    streamOptions?: Parameters<Runnable['streamEvents']>[2],
  ): IterableReadableStream<Uint8Array>;
  /**
   * Events of the resilient call (the default binding would stream the wrapped runnable's, bypassing the
   * engine). Leaving them early (`break`, `return()`, `cancel()`) stops the stream first, then closes
   * LangChain's event stream, and never throws:
   *
   * - `v1` reads the events from the log (see `_streamLog`): the stop ends the stream at once, also while
   *   the request still waits for admission (LangChain's event stream reads one event ahead, so its own
   *   `return()` would wait for the next log entry);
   * - `v2` gets the stop as its signal: the request is cancelled at once, and the error its end leaves in
   *   LangChain's cleanup (which rethrows it from the caller's `break`) is dropped.
   *
   * With `encoding: 'text/event-stream'` the events are encoded as LangChain encodes them (see
   * {@link eventStreamBytes}), after the stop was put around them.
   */
  override streamEvents(
    input: RunInput,
    options: Partial<CallOptions> & { version: 'v1' | 'v2'; encoding?: 'text/event-stream' },
    streamOptions?: Parameters<Runnable['streamEvents']>[2],
  ): IterableReadableStream<StreamEvent | Uint8Array> {
    const events = Runnable.prototype.streamEvents as (...a: unknown[]) => IterableReadableStream<StreamEvent>;
    const { encoding, ...rest } = this.timeoutAsDeadline(options);
    const stop = new AbortController();
    // v1: the log's stop signal, handed to `_streamLog` through the config LangChain passes it. v2: the signal.
    const config = rest.version === 'v1' ? { ...rest, [LOG_STOP_KEY]: stop } : { ...rest, signal: linkSignals(rest.signal, stop.signal) };
    const stream = stopOnCancel(events.call(this, input, config, streamOptions), stop);
    return encoding === 'text/event-stream' ? eventStreamBytes(stream) : stream;
  }

  private async *streamAttempts(
    inputs: AsyncGenerator<RunInput>,
    config: AnyConfig,
    runManager: CallbackManagerForChainRun | undefined,
  ): AsyncGenerator<RunOutput> {
    let input: RunInput | undefined;
    let got = false;
    for await (const i of inputs) {
      input = got ? this._concatOutputChunks(input as RunInput, i as RunInput) : (i as RunInput);
      got = true;
    }
    const { resilience: call, [READER_STOP_KEY]: readerStopGiven, ...given } = config as AnyConfig & { [READER_STOP_KEY]?: unknown };
    // stream() hands its reader's stop: aborted as soon as the caller leaves the stream.
    const readerStop = readerStopGiven instanceof AbortSignal ? readerStopGiven : undefined;
    // Under streamLog() / streamEvents v1 of this runnable, leaving the log early stops the stream too.
    const logStop = runManager?.handlers.map((h) => logStops.get(h)).find((s) => s !== undefined);
    const rest: RunnableConfig = logStop ? { ...given, signal: linkSignals(given.signal, logStop)! } : given;
    const request = { ...this.request(input as RunInput, rest, call, 'stream', runManager), stream: true as const };
    const stopTracing = this.traceEvents(request.requestId!, runManager);
    let result;
    try {
      result = await this.engine.execute(request, (target, ctx) => this.openStream(target, ctx, input as RunInput, rest, runManager));
    } finally {
      stopTracing();
    }
    const opened = result.value;
    const streamResult = result;
    let chunks = 0;
    let chunkUsage: Usage | undefined;
    let aggregate: RunOutput | undefined;
    /** Whether `aggregate` adds up every chunk (chunks that do not concatenate leave only the last). */
    let whole = true;
    let settled = false;
    /**
     * The usage the attempt's model runs reported (zero when they were all a nested ResilientRunnable's,
     * whose request charged them), else the chunks' (not when a nested one streamed them: its request
     * charged that usage), else undefined.
     */
    const knownUsage = (): Usage | undefined => opened.usage.attemptUsage() ?? (opened.usage.nested ? undefined : chunkUsage);
    const seen = (chunk: RunOutput): void => {
      chunks++;
      chunkUsage = addUsage(chunkUsage, usageOfOutput(chunk));
      try {
        aggregate = aggregate === undefined ? chunk : this._concatOutputChunks(aggregate, chunk);
      } catch {
        aggregate = chunk;
        whole = false;
      }
    };
    const closeUpstream = async (): Promise<void> => {
      try {
        await opened.iterator.return?.();
      } catch {
        // already closed
      }
    };
    // LangChain's stream wrapper (AsyncGeneratorWithSetup) and streamEvents() stop on an abort without
    // resuming or returning this generator, so its catch/finally may never run: settle from the signal.
    const signal = rest.signal;
    const onAbort = (): void => {
      cancel(signal?.reason).catch(() => undefined);
    };
    /** Settles once: later calls (abort listener, catch, finally) are no-ops. */
    const settle = (): boolean => {
      if (settled) return false;
      settled = true;
      signal?.removeEventListener('abort', onAbort);
      readerStop?.removeEventListener('abort', onReaderStop);
      return true;
    };
    /**
     * What a stream that did not finish is charged (its reader stopped or cancelled, or it broke off):
     * the provider billed what it generated until the stream closed (core's {@link unfinishedUsage}).
     */
    const stoppedUsage = (): Usage =>
      opened.usage.onlyNested
        ? knownUsage()!
        : unfinishedUsage(knownUsage(), { inputTokens: streamResult.record.input_tokens, outputTokens: opened.outputEstimate });
    /** The cancellation's end (its run failed, the model's stream closed), awaited wherever the abort is seen. */
    let cancelling: Promise<void> | undefined;
    const cancel = (cause: unknown): Promise<void> => {
      if (cancelling !== undefined) return cancelling;
      if (!settle()) return Promise.resolve();
      // The engine records the raw cause (the abort reason, the SDK's abort error); the attempt's run (its
      // callbacks: tracers, handlers that log) gets it as the engine exposes causes.
      streamResult.fail(cancelledError(cause), stoppedUsage());
      cancelling = Promise.all([opened.run.fail(cancelledError(this.engine.exposedCause(cause))), closeUpstream()]).then(() => undefined);
      return cancelling;
    };
    /**
     * The caller left the stream (stream()'s reader stop): settle what was used at once, as a success,
     * end the attempt's run and abort the model's stream. The generator may be waiting on the model's
     * next chunk (LangChain's stream reads one ahead): the abort ends that wait, and the error it ends
     * with is dropped (the request is settled already; nobody reads what comes after a break).
     */
    let leaving: Promise<void> | undefined;
    function onReaderStop(): void {
      if (!settle()) return;
      streamResult.complete(stoppedUsage());
      opened.abort();
      leaving = Promise.all([opened.run.end(aggregate), closeUpstream()]).then(() => undefined);
    }
    if (signal?.aborted === true) await cancel(signal.reason);
    else signal?.addEventListener('abort', onAbort, { once: true });
    if (readerStop?.aborted === true) onReaderStop();
    else readerStop?.addEventListener('abort', onReaderStop, { once: true });
    let state: 'streaming' | 'done' | 'failed' = 'streaming';
    try {
      for (const chunk of opened.buffered) {
        seen(chunk);
        yield chunk;
      }
      for (;;) {
        if (settled || opened.done) break;
        const next = await opened.iterator.next();
        if (next.done) break;
        seen(next.value);
        yield next.value;
      }
      state = 'done';
    } catch (e) {
      state = 'failed';
      // The caller left: the request is settled, the error is the model's stream ending on its abort.
      if (leaving !== undefined) return;
      if (signal?.aborted === true) {
        // The caller cancelled: record a cancellation (not a provider failure) and rethrow the abort.
        await cancel(e);
        throw e;
      }
      if (!settle()) throw e;
      const fields = { target: result.target.id, chunksReceived: chunks, record: result.record };
      // A parser that rejected the reply is the reply's fault, not the target's: kind validation_failed,
      // so the engine gives its breaker no verdict. An error event the provider sent in the stream keeps
      // its kind (a rate limit is no health failure, an overload is); anything else is a broken stream (network).
      const failure = parseFailureOf(e, (err) => opened.parsing.raised(err));
      const provider = failure ? undefined : providerStreamErrorOf(e);
      let errorWith: (cause: unknown) => StreamInterruptedError;
      if (provider) {
        // The provider billed what it generated before the break, like a stream its reader stopped. The
        // engine records the provider's own error as it records a failed attempt: its kind and its code,
        // the code cut by the engine's `redact` option. The error takes that code, never the raw one.
        const recorded = result.fail(e, stoppedUsage()).error_code;
        const said = {
          kind: provider.kind,
          ...(typeof recorded === 'string' ? { code: recorded } : {}),
          ...(provider.retryAfterMs !== undefined ? { retryAfterMs: provider.retryAfterMs } : {}),
        };
        errorWith = (cause) => new StreamInterruptedError({ ...fields, cause, provider: said });
      } else {
        errorWith = (cause) => (failure ? new InvalidStreamOutputError({ ...fields, cause, reason: failure.reason }) : new StreamInterruptedError({ ...fields, cause }));
        result.fail(errorWith(e), stoppedUsage());
      }
      // The engine got the raw error (above). The caller, and the run's callbacks, get the provider's or
      // SDK's error as the errors the engine throws carry it: with its `redact` option, a redacted
      // stand-in (it may quote the app's key: an echoing 401 body, headers), `originalCauseOf` gives it back.
      const error = errorWith(this.engine.exposedCause(e));
      await opened.run.fail(error);
      throw error;
    } finally {
      if (leaving !== undefined) await leaving;
      else if (state === 'streaming') {
        // The caller stopped reading (or aborted between chunks): close the model's stream, then
        // settle what was used so far, or record the cancellation.
        if (signal?.aborted === true) await cancel(signal.reason);
        else if (settle()) {
          await closeUpstream();
          result.complete(stoppedUsage());
          await opened.run.end(aggregate);
        }
      }
    }
    if (signal?.aborted === true && settled) {
      await cancelling;
      signal.throwIfAborted();
    }
    // Only the end counts (tool-call arguments and JSON arrive partial by design): a reply that was cut off
    // is an invalid reply, as for invoke(), though its chunks are out. A JSON or tool-call parser let
    // through a reply its invoke() rejects, judged whatever it yielded (`skippedPartialReply`: tool calls
    // none of which is complete or whose arguments the parser's schema rejects, or JSON the provider cut
    // off); or the model's own chunks add up to a reply
    // the provider says was cut off (`finish_reason: 'length'`, ...) with a call left incomplete. The JSON
    // parsers' rule for replies nobody said were cut off judges the last model reply, not what the parser
    // was given: it holds only for a stream that yielded nothing (`openStream`).
    const unparsed = opened.parsing.skippedPartialReply() ?? (whole ? parseFailureOfStreamedToolCalls(aggregate) : undefined);
    if (unparsed !== undefined && settle()) {
      const error = new InvalidStreamOutputError({ target: result.target.id, chunksReceived: chunks, record: result.record, reason: unparsed.reason });
      // The reply was generated to its end and billed: the usage the provider reported, else as a broken stream.
      result.fail(error, knownUsage() ?? stoppedUsage());
      await opened.run.fail(error);
      throw error;
    }
    if (settle()) {
      result.complete(knownUsage());
      await opened.run.end(aggregate);
    }
  }

  /**
   * One streamed attempt, read up to its first chunk with content. A reply the wrapped runnable could
   * not parse before that chunk (a parser's error, see {@link parseFailureOf}, a JSON or tool-call
   * parser that skipped the whole reply, see {@link ParseErrorWatcher.skippedReply}, or one whose run
   * ended on a reply its `invoke()` rejects, see {@link ParseErrorWatcher.skippedPartialReply}) fails the
   * attempt with an {@link OutputValidationError} (`validation_failed`): nothing reached the caller, so
   * the engine falls back as on any invalid reply, without a retry or a breaker verdict, and charges the
   * usage reported.
   */
  private async openStream(
    target: ResolvedTarget,
    ctx: AttemptContext,
    input: RunInput,
    config: RunnableConfig,
    runManager: CallbackManagerForChainRun | undefined,
  ): Promise<OpenedStream<RunOutput>> {
    const runnable = this.runnables.get(target);
    const usage = new UsageCollector({ engineId: engineIdOf(this.engine) });
    // Streaming, a tool-call parser never checks its schema: the watcher checks the arguments its run ends with.
    const parsing = new ParseErrorWatcher({ runnable });
    const run = await startAttemptRun(runManager, { target, ctx, fallback: target.id !== this.runnables.primaryId, engine: this.engine }, [usage, parsing]);
    // After the first chunk the engine's attempt is over: keep the caller's signal linked for the rest.
    // The stop of a stream whose caller left (`OpenedStream.abort`): closes the provider's request.
    const stop = new AbortController();
    const signal = linkSignals(ctx.signal, config.signal, stop.signal);
    let iterator: AsyncIterator<RunOutput> | undefined;
    let failure: ParseFailure | undefined;
    let cause: unknown;
    try {
      const stream = await runnable.stream(input, this.childConfig(config, run, signal, ctx.repair));
      iterator = stream[Symbol.asyncIterator]();
      const buffered: RunOutput[] = [];
      let done = false;
      for (;;) {
        const next = await iterator.next();
        if (next.done) {
          done = true;
          break;
        }
        buffered.push(next.value);
        if (hasContent(next.value)) break;
      }
      // Ended without content: a JSON or tool-call parser may have skipped a reply it could not parse. With
      // content not yet passed on: a parser run that already ended may have let through a reply its
      // invoke() rejects (a later step held its partial values back until the end).
      failure = done ? parsing.skippedReply() : parsing.skippedPartialReply();
      if (failure === undefined) return { iterator, done, buffered, run, usage, parsing, outputEstimate: ctx.maxOutputTokens, abort: () => stop.abort() };
    } catch (e) {
      cause = e;
      failure = parseFailureOf(e, (err) => parsing.raised(err));
    }
    const rejected = failure && new OutputValidationError(target.id, failure.reason, cause);
    // The provider answered (and billed) the reply that was rejected, and any model run of the attempt
    // that ended before another step failed: the engine charges what is reported before the throw.
    const used = usage.attemptUsage();
    if (used) ctx.reportUsage(used);
    await run.fail(cause ?? rejected);
    try {
      await iterator?.return?.();
    } catch {
      // already closed
    }
    throw rejected ?? cause;
  }

  /** The log of the resilient call's stream; the call's `timeout` bounds the request as a deadline too (see `stream`). */
  override streamLog(
    input: RunInput,
    options?: Partial<CallOptions>,
    streamOptions?: Parameters<Runnable['streamLog']>[2],
  ): AsyncGenerator<RunLogPatch> {
    return super.streamLog(input, this.timeoutAsDeadline(options as AnyConfig | undefined) as Partial<CallOptions> | undefined, streamOptions);
  }

  /**
   * `streamLog()` and `streamEvents({ version: 'v1' })` read the stream through LangChain's log
   * handler, whose writes wait until they are read. Left early (`break`), LangChain's own version waits
   * for the rest of the stream while nobody reads the log: the writes, the stream and the caller's
   * `break` never finished, and the request kept its reservations (a concurrency slot) for good. Here
   * leaving early stops the stream (the request is recorded as cancelled and its reservations
   * released, as when `streamEvents` v2 is left early) and the rest of the log is read and dropped
   * until LangChain's own cleanup has ended.
   */
  protected override async *_streamLog(
    input: RunInput,
    logStreamCallbackHandler: LogStreamCallbackHandler,
    config: Partial<CallOptions>,
  ): AsyncGenerator<RunLogPatch> {
    // streamEvents v1 brings its own stop (aborted as soon as its events are left); streamLog() does not.
    const given = (config as Record<string, unknown>)[LOG_STOP_KEY];
    delete (config as Record<string, unknown>)[LOG_STOP_KEY];
    const stop = given instanceof AbortController ? given : new AbortController();
    logStops.set(logStreamCallbackHandler, stop.signal);
    // Left early, the log is closed before the stream's runs have ended: their writes are dropped.
    logStreamCallbackHandler.writer = new LogWriter(logStreamCallbackHandler.writer);
    const log = super._streamLog(input, logStreamCallbackHandler, config);
    let ended = false;
    try {
      for (;;) {
        const next = await log.next();
        if (next.done === true) {
          ended = true;
          return;
        }
        yield next.value;
      }
    } catch (e) {
      ended = true;
      throw e;
    } finally {
      if (!ended) {
        stop.abort();
        try {
          while ((await log.next()).done !== true);
        } catch {
          // The stop ends the stream with an abort; nobody reads what comes after a break.
        }
      }
    }
  }

  // ------------------------------------------------------------------ shared

  /**
   * `config` with its RunnableConfig `timeout` also given to the engine as the request's deadline
   * (`resilience.deadline`, the earlier of the two when both are set): LangChain turns `timeout` into
   * an abort signal only (`ensureConfig`, which removes it), so the engine would otherwise wait out a
   * Retry-After longer than the time left, or queue past it, and end cancelled where it would have
   * fallen back. `timeout` stays for LangChain's signal. A `deadline` that is not a number is left for
   * the call option check to report.
   */
  private timeoutAsDeadline<C extends AnyConfig | undefined>(config: C): C {
    const timeout = config?.timeout;
    if (config === undefined || typeof timeout !== 'number' || !(timeout > 0)) return config;
    const call = config.resilience;
    if (call !== undefined && (!isRecord(call) || Array.isArray(call))) return config; // reported by the call option check
    const byTimeout = this.engine.clock.now() + timeout;
    const given = call?.deadline;
    const deadline = given === undefined ? byTimeout : typeof given === 'number' ? Math.min(given, byTimeout) : given;
    return { ...config, resilience: { ...call, deadline } };
  }

  private request(
    input: RunInput,
    config: RunnableConfig,
    call: ResilienceCallOptions | undefined,
    mode: Mode,
    runManager: CallbackManagerForChainRun | undefined,
  ): ResilienceRequest {
    const callProblems = callOptionProblems(call, this.engine.policy);
    if (callProblems.length > 0) throw new ResilientRunnableConfigError(callProblems, 'call');
    const o = this.resilience;
    const identity = call?.identity ?? (typeof o.identity === 'function' ? o.identity(input, config) : o.identity);
    const priority = call?.priority ?? (mode === 'batch' ? (o.batchPriority ?? 'batch') : o.priority);
    const dataClass = call?.dataClass ?? o.dataClass;
    const maxOutputTokens = call?.maxOutputTokens ?? o.maxOutputTokens;
    const audience = call?.audience ?? o.audience;
    const estimate = o.estimateInput ? o.estimateInput(input) : engineInputOf(input);
    if (typeof estimate === 'number' && !(estimate >= 0 && estimate < Infinity)) {
      throw new ResilientRunnableConfigError([`estimateInput(input): expected a finite number of tokens >= 0, got ${estimate}`], 'call');
    }
    return {
      route: this.route,
      requestId: call?.requestId ?? runManager?.runId ?? newRequestId(),
      ...(identity !== undefined ? { identity } : {}),
      ...(priority !== undefined ? { priority } : {}),
      ...(dataClass !== undefined ? { dataClass } : {}),
      ...(maxOutputTokens !== undefined ? { maxOutputTokens } : {}),
      ...(audience !== undefined ? { audience } : {}),
      ...(call?.deadline !== undefined ? { deadline: call.deadline } : {}),
      ...(typeof estimate === 'number' ? { inputTokens: estimate } : estimate !== undefined ? { input: estimate } : {}),
      ...(config.signal !== undefined ? { signal: config.signal } : {}),
    };
  }

  /**
   * The wrapped runnable's config for one attempt: the attempt's callbacks and signal, and, on the
   * stricter retry after a rejected reply (`onInvalidOutput: 'retry-stricter'`), the engine's
   * `ctx.repair` as `configurable.llmr_repair` (see {@link REPAIR_CONFIG_KEY}).
   */
  private childConfig(
    config: RunnableConfig,
    run: AttemptRun,
    signal: AbortSignal | undefined,
    repair: AttemptContext['repair'],
  ): Partial<CallOptions> {
    const patched = patchConfig(config as Partial<CallOptions>, {
      callbacks: run.callbacks,
      ...(repair !== undefined ? { configurable: { [REPAIR_CONFIG_KEY]: { reason: repair.reason } } } : {}),
    });
    if (signal !== undefined) patched.signal = signal;
    return patched;
  }

  /**
   * Forwards the engine's retry/fallback/skip/limited/validation events of this request to the call's
   * run, and hands its `attempt` and `validation` events to `verdicts` (the attempt runs' verdicts).
   */
  private traceEvents(requestId: string, runManager: CallbackManagerForChainRun | undefined, verdicts?: AttemptVerdicts): () => void {
    // Without a run, attempt runs report to nobody: held ones are settled when the request ends.
    if (!runManager) return () => undefined;
    return RequestEventRouter.of(this.engine).watch(requestId, (name, payload) => {
      verdicts?.onEvent(name, payload);
      if ((TRACED_EVENTS as readonly string[]).includes(name)) {
        runManager.handleCustomEvent(`llmr_${name as TracedEvent}`, payload).catch(() => undefined);
      }
    });
  }
}
