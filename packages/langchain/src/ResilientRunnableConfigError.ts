import { ResilienceError } from '@llm-resilience/core';

/**
 * `withResilience` was given options that cannot work: an unknown option key, a value of the wrong
 * type or out of range (`maxConcurrency: 2.5`, `audience: 'everyone'`, `output` not a Standard
 * Schema, ...), a `priority` or `batchPriority` that is not a traffic class of the policy, a
 * `dataClass` no target is approved for, an unknown route, a chain target with no runnable, a
 * `targets` entry that is not in the chain, more fallbacks than the chain has targets, or (with
 * `innerRetries: 'error'`) a model that retries on its own. Thrown at construction, so a
 * misconfiguration fails at start-up rather than on the first call or outage. Lists every problem,
 * each naming the option (`priority: expected a traffic class of the policy (...), got 'vip'`).
 *
 * @example
 * ```ts
 * try { withResilience(model, { engine, route: 'sumary' }); }
 * catch (e) { if (e instanceof ResilientRunnableConfigError) console.error(e.problems); }
 * ```
 */
export class ResilientRunnableConfigError extends ResilienceError {
  /** Each problem, one sentence each. */
  readonly problems: readonly string[];

  constructor(problems: readonly string[]) {
    super(
      `withResilience() options are invalid (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n` +
        problems.map((p) => `  - ${p}`).join('\n'),
      { kind: 'invalid_request', code: 'ERR_LLMR_LANGCHAIN_CONFIG' },
    );
    this.problems = problems;
  }
}
