import { BaseCallbackHandler, type BaseCallbackHandlerInput } from '@langchain/core/callbacks/base';
import type { Serialized } from '@langchain/core/load/serializable';
import type { LLMResult } from '@langchain/core/outputs';
import type { Usage } from '@llm-resilience/core';
import { addUsage, usageFromMetadata } from './usage';

/** Shared between copies of one collector (LangChain may copy handlers). */
interface Tally {
  usage: Usage | undefined;
  llmRuns: number;
  /** Model runs of its own (not a nested attempt's) that started. */
  ownStarts: number;
  /** Nested attempts of the collector's engine (runs tagged {@link ATTEMPT_TAG}) that started below the handler. */
  nestedAttempts: number;
  /** Runs inside a nested attempt (the attempt run and every run below it), until they end. */
  nested: Set<string>;
}

/**
 * The tag of an attempt's run (`startAttemptRun`; not inherited by the runs below it). Seen by a
 * collector, it is a nested `ResilientRunnable`'s attempt: the collector's own attempt run starts
 * before the collector is attached, so it never sees its own.
 */
const ATTEMPT_TAG = 'llmr:attempt';

/** The attempt run's metadata naming its engine (`ENGINE_METADATA_KEY` of attemptRun.ts). */
const ENGINE_KEY = 'llmr_engine';

/**
 * Fields of a {@link UsageCollector}.
 *
 * @example
 * ```ts
 * const usage = new UsageCollector({ engineId: 'a1b2c3' }); // skips nested attempts of that engine only
 * ```
 */
export interface UsageCollectorInput extends BaseCallbackHandlerInput {
  /**
   * The id of the engine the collecting attempt charges (`engineIdOf(engine)`, the `llmr_engine`
   * metadata of its attempt runs): only nested attempts of that engine are skipped, a nested attempt
   * on another engine is counted (each engine is charged the call once). Without it, every nested
   * attempt is skipped.
   */
  engineId?: string;
}

/** What an attempt reports when every model run below it was a nested attempt's (that request charged them). */
const NOTHING: Usage = Object.freeze({ inputTokens: 0, outputTokens: 0 });

function fromTokenUsage(tu: unknown): Usage | undefined {
  if (typeof tu !== 'object' || tu === null) return undefined;
  const { promptTokens, completionTokens } = tu as { promptTokens?: unknown; completionTokens?: unknown };
  const input = typeof promptTokens === 'number' ? promptTokens : undefined;
  const output = typeof completionTokens === 'number' ? completionTokens : undefined;
  if (input === undefined && output === undefined) return undefined;
  return { inputTokens: input ?? 0, outputTokens: output ?? 0 };
}

/** The usage with more tokens in all (the first of equals). */
function larger(a: Usage | undefined, b: Usage | undefined): Usage | undefined {
  if (!a) return b;
  if (!b) return a;
  return b.inputTokens + b.outputTokens > a.inputTokens + a.outputTokens ? b : a;
}

/**
 * The usage of one LLM run (one provider response). A response with several choices (`n: 2`) has one
 * usage for all of them, and `@langchain/openai` puts it on every choice's message: the generations
 * of a run are never added up. In order: the largest `usage_metadata` of the run's generated messages
 * (where every chat model puts the provider's usage; a streamed reply with several choices has it on
 * one of them), else `llmOutput.tokenUsage`, else `llmOutput.estimatedTokenUsage` (counted by
 * LangChain, e.g. ChatOpenAI with `streaming: true`). `usage_metadata` comes first: for a stream whose
 * usage arrives in pieces (Anthropic's input tokens at `message_start`, output at `message_delta`),
 * @langchain/core 1.4 sets `tokenUsage` from the last piece only, while the message adds them up.
 */
function usageOfRun(output: LLMResult): Usage | undefined {
  let found: Usage | undefined;
  for (const generations of output.generations) {
    for (const g of generations) {
      const message = (g as { message?: { usage_metadata?: unknown } }).message;
      found = larger(found, usageFromMetadata(message?.usage_metadata));
    }
  }
  return found ?? fromTokenUsage(output.llmOutput?.tokenUsage) ?? fromTokenUsage(output.llmOutput?.estimatedTokenUsage);
}

/**
 * A callback handler that sums the token usage of every LLM run below it (all models of a chain,
 * map-reduce steps included). Each run counts once, however many choices it generated (`n: 2`): the
 * largest `usage_metadata` among the run's generated messages, else `llmOutput.tokenUsage`, else
 * `llmOutput.estimatedTokenUsage`. The adapter attaches one per attempt, so usage is reconciled even when
 * the chain's output is a plain string. Model runs of a nested `ResilientRunnable`'s attempts (below a run
 * tagged `llmr:attempt` other than the collector's own attempt, which starts before it is attached) are
 * not counted when that attempt is on the collector's engine (`engineId`; any engine without one): that
 * nested request charges them to the engine (see {@link UsageCollector.attemptUsage}). A nested attempt
 * on another engine charges that engine, and its model runs are counted here too: each engine is charged
 * the call once.
 *
 * @example
 * ```ts
 * const usage = new UsageCollector();
 * await chain.invoke(input, { callbacks: [usage] });
 * usage.usage(); // { inputTokens: 1800, outputTokens: 420 }
 * ```
 */
export class UsageCollector extends BaseCallbackHandler {
  name = 'llm_resilience_usage';
  private readonly tally: Tally;
  private readonly engineId: string | undefined;

  constructor(input?: UsageCollectorInput & { tally?: Tally }) {
    super(input);
    this.engineId = input?.engineId;
    // Usage must be counted before the attempt settles: never run in the background queue.
    this.awaitHandlers = true;
    this.tally = input?.tally ?? { usage: undefined, llmRuns: 0, ownStarts: 0, nestedAttempts: 0, nested: new Set() };
  }

  /** LangChain may copy handlers: the copy shares this tally. */
  override copy(): UsageCollector {
    return new UsageCollector({ tally: this.tally, ...(this.engineId !== undefined ? { engineId: this.engineId } : {}) });
  }

  /**
   * Whether a run starting below `parentRunId` with `tags` and `metadata` is a nested attempt's: the
   * attempt run of a `ResilientRunnable` on the collector's engine inside the collected runnable, or a
   * run below one. Such runs are remembered until they end. An attempt run on another engine (its
   * `llmr_engine` metadata names another) is not: its model runs are counted here too.
   */
  private enter(runId: string, parentRunId: unknown, tags: unknown, metadata?: unknown): boolean {
    if (typeof parentRunId === 'string' && this.tally.nested.has(parentRunId)) {
      this.tally.nested.add(runId);
      return true;
    }
    if (!Array.isArray(tags) || !tags.includes(ATTEMPT_TAG)) return false;
    if (this.engineId !== undefined) {
      const engine = typeof metadata === 'object' && metadata !== null ? (metadata as Record<string, unknown>)[ENGINE_KEY] : undefined;
      if (typeof engine === 'string' && engine !== this.engineId) return false;
    }
    this.tally.nested.add(runId);
    this.tally.nestedAttempts++;
    return true;
  }

  /** `parentRunId`, `tags` and `metadata` follow `runId` at run time in every @langchain/core 1.x. */
  override handleChainStart(_chain: Serialized, _inputs: unknown, runId: string, ...rest: unknown[]): void {
    this.enter(runId, rest[0], rest[1], rest[2]);
  }

  override handleChainEnd(_outputs: unknown, runId: string): void {
    this.tally.nested.delete(runId);
  }

  override handleChainError(_err: unknown, runId: string): void {
    this.tally.nested.delete(runId);
  }

  override handleToolStart(_tool: Serialized, _input: string, runId: string, parentRunId?: string, tags?: string[], metadata?: Record<string, unknown>): void {
    this.enter(runId, parentRunId, tags, metadata);
  }

  override handleToolEnd(_output: unknown, runId: string): void {
    this.tally.nested.delete(runId);
  }

  override handleToolError(_err: unknown, runId: string): void {
    this.tally.nested.delete(runId);
  }

  override handleRetrieverStart(_retriever: Serialized, _query: string, runId: string, parentRunId?: string, tags?: string[], metadata?: Record<string, unknown>): void {
    this.enter(runId, parentRunId, tags, metadata);
  }

  override handleRetrieverEnd(_documents: unknown, runId: string): void {
    this.tally.nested.delete(runId);
  }

  override handleRetrieverError(_err: unknown, runId: string): void {
    this.tally.nested.delete(runId);
  }

  override handleLLMStart(
    _llm: Serialized,
    _prompts: string[],
    runId: string,
    parentRunId?: string,
    _extra?: Record<string, unknown>,
    tags?: string[],
    metadata?: Record<string, unknown>,
  ): void {
    if (!this.enter(runId, parentRunId, tags, metadata)) this.tally.ownStarts++;
  }

  override handleChatModelStart(
    _llm: Serialized,
    _messages: unknown[][],
    runId: string,
    parentRunId?: string,
    _extra?: Record<string, unknown>,
    tags?: string[],
    metadata?: Record<string, unknown>,
  ): void {
    if (!this.enter(runId, parentRunId, tags, metadata)) this.tally.ownStarts++;
  }

  override handleLLMError(_err: unknown, runId: string): void {
    this.tally.nested.delete(runId);
  }

  /** A model run of a nested attempt is that attempt's request's to charge: not counted here. */
  override handleLLMEnd(output: LLMResult, runId?: string): void {
    if (runId !== undefined && this.tally.nested.delete(runId)) return;
    this.tally.llmRuns++;
    this.tally.usage = addUsage(this.tally.usage, usageOfRun(output));
  }

  /** Usage summed so far, or undefined when no model reported any. */
  usage(): Usage | undefined {
    return this.tally.usage;
  }

  /** LLM runs that ended below this handler (not counting those of nested attempts). */
  get llmRuns(): number {
    return this.tally.llmRuns;
  }

  /**
   * Whether a nested attempt on the collector's engine (of a `ResilientRunnable` inside the collected
   * runnable) started below this handler: its request charged the usage on its output.
   */
  get nested(): boolean {
    return this.tally.nestedAttempts > 0;
  }

  /**
   * Whether every model call below this handler was a nested attempt's (on the collector's engine): one started, and
   * no model run of the handler's own did.
   */
  get onlyNested(): boolean {
    return this.tally.nestedAttempts > 0 && this.tally.ownStarts === 0;
  }

  /**
   * What an attempt reports to its engine: {@link UsageCollector.usage}, else zero tokens when every
   * model call was a nested attempt's (see {@link UsageCollector.onlyNested}: that attempt's request
   * charged it), else undefined (nothing known: the engine keeps its estimate).
   */
  attemptUsage(): Usage | undefined {
    return this.tally.usage ?? (this.onlyNested ? { ...NOTHING } : undefined);
  }
}
