import type { RunnableConfig } from '@langchain/core/runnables';
import type { RepairRequest } from './types';

/**
 * The `configurable` key under which the wrapped runnable receives the engine's repair request on a
 * stricter retry (`onInvalidOutput: 'retry-stricter'`). Absent on every other attempt.
 *
 * @example
 * ```ts
 * config.configurable?.[REPAIR_CONFIG_KEY]; // { reason: 'the reply is not valid JSON' } on the stricter retry
 * ```
 */
export const REPAIR_CONFIG_KEY = 'llmr_repair';

/**
 * The repair request in a runnable's config, if this attempt is the stricter retry after a reply the
 * route's output schema rejected. Use it inside the wrapped chain to ask more strictly.
 *
 * @example
 * ```ts
 * const strict = RunnableLambda.from((messages: BaseMessage[], config) => {
 *   const repair = repairOf(config);
 *   return repair
 *     ? [...messages, new SystemMessage(`Your last reply was rejected (${repair.reason}). Answer with one JSON object only.`)]
 *     : messages;
 * });
 * const safe = withResilience(strict.pipe(model), { engine, route: 'classify' });
 * ```
 */
export function repairOf(config: RunnableConfig | undefined): RepairRequest | undefined {
  const value: unknown = config?.configurable?.[REPAIR_CONFIG_KEY];
  if (typeof value !== 'object' || value === null) return undefined;
  const reason = (value as { reason?: unknown }).reason;
  return typeof reason === 'string' ? { reason } : undefined;
}
