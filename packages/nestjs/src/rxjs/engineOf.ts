import type { Resilience } from '@llm-resilience/core';
import { engineProblem } from '../engineCheck';
import { NestConfigError } from '../NestConfigError';

/**
 * An engine, or anything that holds one (`ResilienceService`).
 *
 * @example
 * ```ts
 * const source: EngineSource = app.get(ResilienceService);
 * ```
 */
export type EngineSource = Resilience | { readonly engine: Resilience };

/**
 * The engine of an {@link EngineSource}: the engine itself, or the `engine` of what holds one. Anything
 * else throws `ERR_LLMR_NEST_INVALID_OPTIONS` naming `where` (the operator and its option), so an
 * operator given a wrong engine fails when it is created, not at its first subscription.
 *
 * @example
 * ```ts
 * engineOf(service) === service.engine; // true
 * engineOf({}, 'rateLimited engine');   // throws: rateLimited engine: expected a Resilience engine ... got an object without execute()
 * ```
 */
export function engineOf(source: EngineSource, where = 'engine'): Resilience {
  const problem = engineProblem(source);
  if (problem === undefined) return source as Resilience;
  const held = typeof source === 'object' && source !== null && 'engine' in source ? (source as { engine: unknown }).engine : undefined;
  if (held !== undefined && engineProblem(held) === undefined) return held as Resilience;
  const got = held !== undefined ? `an object whose engine is ${engineProblem(held)}` : problem;
  throw new NestConfigError(
    'ERR_LLMR_NEST_INVALID_OPTIONS',
    `${where}: expected a Resilience engine (from createResilience) or a ResilienceService, got ${got}.`,
  );
}
