/**
 * `@llm-resilience/langchain`: `withResilience(runnable, options)` wraps any LangChain.js Runnable in
 * the policy engine of `@llm-resilience/core` (limits, Retry-After, budgets, breakers, fallbacks,
 * output validation, usage reconciled from `usage_metadata`). The `.withResilience()` method on
 * every Runnable is opt-in: `import '@llm-resilience/langchain/augment'`.
 *
 * @example
 * ```ts
 * import { withResilience } from '@llm-resilience/langchain';
 * const safe = withResilience(chain, { engine, route: 'summary', fallbacks: [longContextChain] });
 * ```
 *
 * @packageDocumentation
 */
export { withResilience } from './withResilience';
export { ResilientRunnable, DEFAULT_BATCH_CONCURRENCY, type ResilientRunnableFields } from './ResilientRunnable';
export { StreamInterruptedError, type StreamInterruptedFields } from './StreamInterruptedError';
export type { ProviderStreamError } from './providerStreamError';
export { InvalidStreamOutputError } from './InvalidStreamOutputError';
export { ResilientRunnableConfigError } from './ResilientRunnableConfigError';
export { UnmappedTargetError } from './UnmappedTargetError';
export { OutputValidationError } from './OutputValidationError';
export { UsageCollector, type UsageCollectorInput } from './UsageCollector';
export { engineInputOf, toChatMessage } from './engineInput';
export { findInnerRetries, type InnerRetries } from './findInnerRetries';
export { REPAIR_CONFIG_KEY, repairOf } from './repair';
export { TRACED_EVENTS, type TracedEvent } from './RequestEventRouter';
export type {
  InnerRetriesCheck,
  InputEstimate,
  RepairRequest,
  ResilienceCallOptions,
  ResilientCallOptions,
  ResilientResult,
  TargetRunnable,
  WithResilienceOptions,
} from './types';
