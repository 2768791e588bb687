import type { Usage } from './types';

/**
 * Usage to charge for a streamed reply that did not finish: its reader stopped early, its client
 * disconnected, or it broke off after it started. The provider bills the prompt and what it generated
 * until the connection closed, and usage seen mid-stream may be partial (Anthropic's first event says
 * `output_tokens: 1`; OpenAI reports usage only in its last chunk). So:
 *
 * - input: the observed count when above 0, else the estimate (no real prompt has 0 tokens; a 0 means
 *   the stream had not reported it yet);
 * - output: the larger of the observed count and the output reserved for the call (its
 *   `max_tokens`), so a stream cut short never settles less than it may have been billed.
 *
 * Pass the result to the stream's `fail(error, usage)` or `complete(usage)`
 * ({@link StreamingResult}); adapters use it for every unfinished stream, so they charge alike.
 *
 * @param observed usage the stream reported so far, if any
 * @param estimate the prompt's estimated input tokens and the output tokens reserved for the call
 *
 * @example
 * ```ts
 * unfinishedUsage({ inputTokens: 812, outputTokens: 1 }, { inputTokens: 800, outputTokens: 400 }); // { inputTokens: 812, outputTokens: 400 }
 * unfinishedUsage(undefined, { inputTokens: 800, outputTokens: 400 }); // { inputTokens: 800, outputTokens: 400 }
 * ```
 */
export function unfinishedUsage(observed: Usage | undefined, estimate: Usage): Usage {
  if (observed === undefined) return { inputTokens: estimate.inputTokens, outputTokens: estimate.outputTokens };
  return {
    inputTokens: observed.inputTokens > 0 ? observed.inputTokens : estimate.inputTokens,
    outputTokens: Math.max(observed.outputTokens, estimate.outputTokens),
  };
}
