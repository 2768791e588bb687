/**
 * `@llm-resilience/testing`: a fake OpenAI/Anthropic-compatible LLM provider with real limits,
 * real rate-limit headers and scripted faults, for tests, demos, benchmarks and chaos testing.
 *
 * @example
 * ```ts
 * import { createFakeProvider } from '@llm-resilience/testing';
 * const fake = createFakeProvider({ models: { 'fast-a': { contextWindow: 16_000 } } });
 * const { baseURL } = await fake.start();
 * ```
 *
 * @packageDocumentation
 */
export { createFakeProvider } from './server';
export { FAULT_KINDS } from './faults';
export { validateConfig, validateFaults, FakeProviderConfigError, type ConfigIssue } from './config';
export { estimateTokens, replyTag } from './replies';
export { valueFromSchema } from './jsonFromSchema';
export { formatOpenAIDuration, formatRfc3339 } from './headers';
export { createRandom, hashText, type Random } from './random';
export type {
  FakeClock,
  FakeLatency,
  FakeModelConfig,
  FakeModelLimits,
  FakeProvider,
  FakeProviderAddress,
  FakeProviderConfig,
  FakeProviderCounters,
  FakeProviderKind,
  FakeProviderOptions,
  FaultKind,
  FaultRule,
  StreamErrorType,
} from './types';
