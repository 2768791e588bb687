import type { Resilience } from '@llm-resilience/core';

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
 * The engine of an {@link EngineSource}.
 *
 * @example
 * ```ts
 * engineOf(service) === service.engine; // true
 * ```
 */
export function engineOf(source: EngineSource): Resilience {
  return 'engine' in source ? source.engine : source;
}
