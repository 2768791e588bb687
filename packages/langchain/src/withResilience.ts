import type { Runnable, RunnableConfig } from '@langchain/core/runnables';
import { ResilientRunnable } from './ResilientRunnable';
import type { WithResilienceOptions } from './types';

/**
 * Wraps any Runnable (a chat model, a prompt | model | parser chain, an agent step) in the policy of
 * one route of the engine: limits and budgets, retries on provider hints, fallbacks to other
 * runnables, breakers, output validation and usage settled from `usage_metadata`. Build wrapped
 * models with `maxRetries: 0`: the engine owns retries. Every option is checked here: unknown keys,
 * bad values, a `priority` that is not a traffic class of the engine's policy or an unknown `route`
 * throw a `ResilientRunnableConfigError` that lists each problem.
 *
 * @example
 * ```ts
 * const model = new ChatOpenAI({ model: 'gpt-4o-mini', maxRetries: 0 });
 * const longContext = new ChatOpenAI({ model: 'gpt-4.1', maxRetries: 0 });
 * const safe = withResilience(prompt.pipe(model), { engine, route: 'summary', fallbacks: [prompt.pipe(longContext)] });
 * const answer = await safe.invoke({ document });
 * ```
 */
export function withResilience<RunInput, RunOutput, CallOptions extends RunnableConfig = RunnableConfig>(
  runnable: Runnable<RunInput, RunOutput, CallOptions>,
  options: WithResilienceOptions<RunInput, RunOutput>,
): ResilientRunnable<RunInput, RunOutput, CallOptions> {
  return new ResilientRunnable<RunInput, RunOutput, CallOptions>({ ...options, bound: runnable });
}
