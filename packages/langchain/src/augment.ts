/**
 * Opt-in: `import '@llm-resilience/langchain/augment'` adds `.withResilience(options)` to every
 * LangChain Runnable (prototype and types), so any chain can be wrapped where it is built.
 *
 * @example
 * ```ts
 * import '@llm-resilience/langchain/augment';
 * const safe = prompt.pipe(model).withResilience({ engine, route: 'summary', fallbacks: [longContextChain] });
 * ```
 *
 * @packageDocumentation
 */
import { Runnable, type RunnableConfig } from '@langchain/core/runnables';
import type { ResilientRunnable } from './ResilientRunnable';
import type { WithResilienceOptions } from './types';
import { withResilience } from './withResilience';

declare module '@langchain/core/runnables' {
  interface Runnable<RunInput, RunOutput, CallOptions extends RunnableConfig> {
    /**
     * Wraps this runnable in the policy of one route of the engine (see `withResilience`).
     *
     * @example
     * ```ts
     * const safe = chain.withResilience({ engine, route: 'summary', fallbacks: [longContextChain] });
     * ```
     */
    withResilience(options: WithResilienceOptions<RunInput, RunOutput>): ResilientRunnable<RunInput, RunOutput, CallOptions>;
  }
}

const proto = Runnable.prototype as unknown as {
  withResilience?: (this: Runnable, options: WithResilienceOptions) => ResilientRunnable;
};
if (typeof proto.withResilience !== 'function') {
  Object.defineProperty(proto, 'withResilience', {
    value: function withResilienceMethod(this: Runnable, options: WithResilienceOptions): ResilientRunnable {
      return withResilience(this, options);
    },
    writable: true,
    configurable: true,
    enumerable: false,
  });
}

export {};
