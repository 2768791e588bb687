import { BaseCallbackHandler, type BaseCallbackHandlerInput } from '@langchain/core/callbacks/base';
import type { LLMResult } from '@langchain/core/outputs';
import type { Usage } from '@llm-resilience/core';
import { addUsage, usageFromMetadata } from './usage';

/** Shared between copies of one collector (LangChain may copy handlers). */
interface Tally {
  usage: Usage | undefined;
  llmRuns: number;
}

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
 * the chain's output is a plain string.
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

  constructor(input?: BaseCallbackHandlerInput & { tally?: Tally }) {
    super(input);
    // Usage must be counted before the attempt settles: never run in the background queue.
    this.awaitHandlers = true;
    this.tally = input?.tally ?? { usage: undefined, llmRuns: 0 };
  }

  /** LangChain may copy handlers: the copy shares this tally. */
  override copy(): UsageCollector {
    return new UsageCollector({ tally: this.tally });
  }

  override handleLLMEnd(output: LLMResult): void {
    this.tally.llmRuns++;
    this.tally.usage = addUsage(this.tally.usage, usageOfRun(output));
  }

  /** Usage summed so far, or undefined when no model reported any. */
  usage(): Usage | undefined {
    return this.tally.usage;
  }

  /** LLM runs that ended below this handler. */
  get llmRuns(): number {
    return this.tally.llmRuns;
  }
}
