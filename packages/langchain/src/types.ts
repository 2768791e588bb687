import type { Runnable, RunnableConfig } from '@langchain/core/runnables';
import type {
  ChatMessage,
  Identity,
  RequestRecord,
  Resilience,
  ResolvedTarget,
  StandardSchemaLike,
} from '@llm-resilience/core';

/**
 * The runnable that serves one target of the route: a Runnable, or a factory called once (lazily)
 * with the resolved target, e.g. to build a `ChatOpenAI` for `target.model`.
 *
 * @example
 * ```ts
 * const longContext: TargetRunnable = (t) => new ChatOpenAI({ model: t.model, maxRetries: 0 });
 * ```
 */
export type TargetRunnable<RunInput = any, RunOutput = any> =
  | Runnable<RunInput, RunOutput>
  | ((target: ResolvedTarget) => Runnable<RunInput, RunOutput>);

/**
 * What the engine estimates input tokens from: chat messages, a plain prompt, or a known count.
 *
 * @example
 * ```ts
 * const est: InputEstimate = { messages: [{ role: 'user', content: document }] };
 * const known: InputEstimate = 1_800;
 * ```
 */
export type InputEstimate = { messages?: readonly ChatMessage[]; prompt?: string; system?: string } | number;

/**
 * What to do when a wrapped model retries on its own (`maxRetries > 0`, e.g. `ChatOpenAI`'s default 6;
 * or its SDK client does, e.g. `ChatOpenAI`'s `configuration: { maxRetries: 2 }`), or a `withRetry()`
 * sits inside the wrapped runnable. Inner retries hide 429s and 503s from the engine, so limits,
 * breakers and the retry budget cannot see them. `warn` (default) emits one process warning
 * (`LLMR_INNER_RETRIES`) per model and source of retries, `error`
 * throws a {@link ResilientRunnableConfigError}, `ignore` does nothing.
 *
 * @example
 * ```ts
 * withResilience(model, { engine, route: 'chat', innerRetries: 'error' });
 * ```
 */
export type InnerRetriesCheck = 'warn' | 'error' | 'ignore';

/**
 * Options of `withResilience(runnable, options)` and `runnable.withResilience(options)`.
 *
 * @example
 * ```ts
 * const safe = withResilience(summaryChain, {
 *   engine,
 *   route: 'summary',
 *   fallbacks: [longContextChain],
 *   identity: (input, config) => ({ user: config.configurable?.userId }),
 *   maxOutputTokens: 400,
 * });
 * ```
 */
export interface WithResilienceOptions<RunInput = any, RunOutput = any> {
  /** The engine (`createResilience(policy)`): limits, retries, fallbacks, breakers, validation, records. */
  engine: Resilience;
  /** Route of the policy whose chain, retry and output rules apply. */
  route: string;
  /**
   * Runnables per target id of the route's chain. Targets not listed here are served positionally:
   * the wrapped runnable serves the chain's first target and `fallbacks[i]` the (i+2)-th.
   * Every target of the chain must end up with a runnable.
   */
  targets?: Record<string, TargetRunnable<RunInput, RunOutput>>;
  /** Runnables serving the chain's 2nd, 3rd, ... targets, in order. Default: none. */
  fallbacks?: ReadonlyArray<Runnable<RunInput, RunOutput>>;
  /** Who the request is for (keys user/team/tenant limits and budgets): fixed, or read from each call. */
  identity?: Identity | ((input: RunInput, config: RunnableConfig) => Identity | undefined);
  /** Traffic class of `invoke` and `stream` (a name in the policy's `trafficClasses`). Default: the route's priority. */
  priority?: string;
  /** Traffic class of `batch`. Default `'batch'`. */
  batchPriority?: string;
  /** Data class of the content; only targets approved for it are tried, on every fallback step. */
  dataClass?: string;
  /**
   * An output schema checked by the adapter on every attempt, in addition to the route's `output`
   * (which the engine checks). A reply that fails it counts as `validation_failed` and falls back.
   * Default: none.
   */
  output?: StandardSchemaLike;
  /**
   * Output-token cap reserved per call (a finite number >= 0). Default: the target's `maxOutputTokens`,
   * else the engine's default (1024).
   */
  maxOutputTokens?: number;
  /** Who reads failure messages. Default: the route's audience. */
  audience?: 'internal' | 'customer';
  /**
   * Input for token estimation. Default: messages read from the input (a string, BaseMessages,
   * message-likes, a PromptValue, or the string values of a prompt-variables object).
   */
  estimateInput?: (input: RunInput) => InputEstimate | undefined;
  /** Items of one `batch()` in flight at once (a whole number >= 1, or `Infinity`; the engine still paces them). Default 16. */
  maxConcurrency?: number;
  /** Check for models that retry on their own. Default `'warn'`. */
  innerRetries?: InnerRetriesCheck;
  /** Name of the runnable in traces. Default `'ResilientRunnable'`. */
  name?: string;
}

/**
 * Per-call overrides, passed as `resilience` in the call options of `invoke`, `batch` or `stream`.
 *
 * @example
 * ```ts
 * await safe.invoke(input, { resilience: { identity: { user: 'u42' }, priority: 'live' } });
 * ```
 */
export interface ResilienceCallOptions {
  identity?: Identity;
  priority?: string;
  dataClass?: string;
  /**
   * Correlates the engine's record; default: the LangChain run id of this call. In `batch()` with one
   * options object for all inputs, the first input's id; input `i` (from 1) gets `<requestId>#<i>`.
   */
  requestId?: string;
  /**
   * Absolute deadline (epoch ms by the engine's clock), queue wait included. A RunnableConfig
   * `timeout` of the call (or bound with `withConfig`) sets one too, `timeout` ms after the call
   * starts; the earlier of the two applies.
   */
  deadline?: number;
  maxOutputTokens?: number;
  audience?: 'internal' | 'customer';
}

/**
 * Call options of a {@link ResilientRunnable}: the wrapped runnable's plus `resilience`.
 *
 * @example
 * ```ts
 * const opts: ResilientCallOptions = { signal: controller.signal, resilience: { priority: 'live' } };
 * ```
 */
export type ResilientCallOptions<CallOptions extends RunnableConfig = RunnableConfig> = Partial<CallOptions> & {
  resilience?: ResilienceCallOptions;
};

/**
 * What `invokeWithResult` resolves with: the runnable's output plus the engine's view of the call.
 *
 * @example
 * ```ts
 * const { value, target, record } = await safe.invokeWithResult(input);
 * console.log(record.fallback_used, target.id);
 * ```
 */
export interface ResilientResult<RunOutput> {
  value: RunOutput;
  /** The validated structured output (route `output` schema, else the adapter's `output` schema). */
  output?: unknown;
  /** The target that answered. */
  target: ResolvedTarget;
  /** The engine's request record (no prompt text). */
  record: RequestRecord;
}

/**
 * Set as `config.configurable.llmr_repair` on the stricter retry of a route with
 * `onInvalidOutput: 'retry-stricter'`: the previous reply of this target was rejected by the output
 * schema, and `reason` says why. Read it with `repairOf(config)` to ask more strictly.
 *
 * @example
 * ```ts
 * const repair: RepairRequest = { reason: 'the reply does not match the schema: intent: Required' };
 * ```
 */
export interface RepairRequest {
  /** Why the previous reply was rejected (the validator's first issues). */
  readonly reason: string;
}
