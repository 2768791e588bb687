import { BaseCallbackHandler, type BaseCallbackHandlerInput } from '@langchain/core/callbacks/base';
import type { LLMResult } from '@langchain/core/outputs';
import type { Usage } from '@llm-resilience/core';
import { addUsage, usageFromMetadata } from './usage';

/** Shared between copies of one collector (LangChain may copy handlers). */
interface Tally {
  usage: Usage | undefined;
  llmRuns: number;
}

function fromLlmOutput(llmOutput: Record<string, unknown> | undefined): Usage | undefined {
  const tu = (llmOutput?.tokenUsage ?? llmOutput?.estimatedTokenUsage) as { promptTokens?: unknown; completionTokens?: unknown } | undefined;
  if (!tu) return undefined;
  const input = typeof tu.promptTokens === 'number' ? tu.promptTokens : undefined;
  const output = typeof tu.completionTokens === 'number' ? tu.completionTokens : undefined;
  if (input === undefined && output === undefined) return undefined;
  return { inputTokens: input ?? 0, outputTokens: output ?? 0 };
}

/**
 * A callback handler that sums the token usage of every LLM run below it (all models of a chain,
 * map-reduce steps included), from `usage_metadata` of the generated messages or, failing that,
 * `llmOutput.tokenUsage`. The adapter attaches one per attempt, so usage is reconciled even when
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
    let found: Usage | undefined;
    for (const generations of output.generations) {
      for (const g of generations) {
        const message = (g as { message?: { usage_metadata?: unknown } }).message;
        found = addUsage(found, usageFromMetadata(message?.usage_metadata));
      }
    }
    found ??= fromLlmOutput(output.llmOutput);
    this.tally.usage = addUsage(this.tally.usage, found);
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
