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
 * A call whose own `resilience` options are wrong (`invoke(input, { resilience: { priorty: 'live' } })`,
 * a `deadline` that is not a number, ...) is rejected with it too, before anything is sent, and so is
 * an `estimateInput` that returns a token count that is not a finite number >= 0.
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

  /**
   * @param problems one sentence each
   * @param source `'call'` when the problems are in one call's `resilience` options (the call is
   *   rejected; nothing is sent), else the options of `withResilience()`
   */
  constructor(problems: readonly string[], source: 'options' | 'call' = 'options') {
    const what = source === 'call' ? "The call's `resilience` options are" : 'withResilience() options are';
    super(
      `${what} invalid (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n` +
        problems.map((p) => `  - ${p}`).join('\n'),
      { kind: 'invalid_request', code: 'ERR_LLMR_LANGCHAIN_CONFIG' },
    );
    this.problems = problems;
  }
}
