import type { FallbackOptions, InboundLimitRule, RateLimitedOptions } from '../types';

/**
 * Metadata key of `@RateLimited` options (on the class, and on the method function).
 *
 * @example
 * ```ts
 * // class first, then method: the guard merges them field by field (the method's win)
 * const [onClass, onHandler] = reflector.getAll<[RateLimitedOptions | undefined, RateLimitedOptions | undefined]>(RATE_LIMITED_METADATA, [context.getClass(), context.getHandler()]);
 * const options = mergeRateLimited(onClass, onHandler);
 * ```
 */
export const RATE_LIMITED_METADATA = 'llm-resilience:rate-limited';
/**
 * Metadata key of the `@Fallback` options of a method (an array: `@Fallback` may be applied twice).
 *
 * @example
 * ```ts
 * Reflect.getMetadata(FALLBACK_METADATA, SupportService.prototype.reply); // [{ chain: true }]
 * ```
 */
export const FALLBACK_METADATA = 'llm-resilience:fallback';
/**
 * Metadata key of `@SkipResilience()`.
 *
 * @example
 * ```ts
 * reflector.getAllAndOverride<boolean>(SKIP_RESILIENCE_METADATA, [context.getHandler(), context.getClass()]);
 * ```
 */
export const SKIP_RESILIENCE_METADATA = 'llm-resilience:skip';
/**
 * Metadata key (on prototype + method name) of the `@Target()` parameter index.
 *
 * @example
 * ```ts
 * Reflect.getMetadata(TARGET_PARAM_METADATA, SupportService.prototype, 'reply'); // 2
 * ```
 */
export const TARGET_PARAM_METADATA = 'llm-resilience:target-param';
/**
 * Metadata key (on prototype + method name) of the `@AttemptCtx()` parameter index.
 *
 * @example
 * ```ts
 * Reflect.getMetadata(ATTEMPT_CTX_PARAM_METADATA, SupportService.prototype, 'reply'); // 3
 * ```
 */
export const ATTEMPT_CTX_PARAM_METADATA = 'llm-resilience:attempt-ctx-param';

/**
 * Class defaults overridden field by field by the method's options; `limits` of both apply (a method
 * rule with the same id as a class rule replaces it). `identity` and `key` are one setting, who the
 * call is for: a method that sets either of them replaces both of the class's (so a method `key`
 * wins over a class `identity`); `identity` wins over `key` only when they are set at the same level.
 *
 * @example
 * ```ts
 * mergeRateLimited({ route: 'chat', priority: 'live' }, { priority: 'batch' }); // { route: 'chat', priority: 'batch' }
 * mergeRateLimited({ route: 'chat', identity: byTenant }, { key: byUser });      // { route: 'chat', key: byUser }
 * ```
 */
export function mergeRateLimited(
  onClass: RateLimitedOptions | undefined,
  onMethod: RateLimitedOptions | undefined,
): RateLimitedOptions | undefined {
  if (!onClass) return onMethod;
  if (!onMethod) return onClass;
  const merged: RateLimitedOptions = { ...onClass, ...onMethod };
  if (onMethod.identity !== undefined || onMethod.key !== undefined) {
    if (onMethod.identity === undefined) delete merged.identity;
    if (onMethod.key === undefined) delete merged.key;
  }
  if (onClass.limits && onMethod.limits) merged.limits = mergeLimits(onClass.limits, onMethod.limits);
  else if (onClass.limits) merged.limits = onClass.limits;
  return merged;
}

function mergeLimits(base: readonly InboundLimitRule[], over: readonly InboundLimitRule[]): InboundLimitRule[] {
  const overIds = new Set(over.map((r) => r.id).filter((id): id is string => id !== undefined));
  return [...base.filter((r) => r.id === undefined || !overIds.has(r.id)), ...over];
}

/**
 * The `@Fallback` options of a method function, in the order they were written.
 *
 * @example
 * ```ts
 * fallbacksOf(SupportService.prototype.reply); // [{ chain: true }, { method: 'cannedReply' }]
 * ```
 */
export function fallbacksOf(fn: Function): readonly FallbackOptions[] {
  return (Reflect.getMetadata(FALLBACK_METADATA, fn) as FallbackOptions[] | undefined) ?? [];
}
