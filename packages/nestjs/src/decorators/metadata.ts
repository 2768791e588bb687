import type { FallbackOptions, InboundLimitRule, RateLimitedOptions } from '../types';

/**
 * Metadata key of `@RateLimited` options (on the class, and on the method function).
 *
 * @example
 * ```ts
 * // class (its prototype chain, base first), then method: merged field by field (the method's win)
 * const options = mergeRateLimited(classRateLimited(context.getClass()), reflector.get(RATE_LIMITED_METADATA, context.getHandler()));
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
 * Where inbound rules were declared: the `limits` of one `@RateLimited`, on a class or a method.
 *
 * @example
 * ```ts
 * const d: InboundRuleDeclaration = {
 *   owner: 'ExportController.bulk',
 *   rules: [{ id: 'per-user', scope: ['user'], limit: 600, window: '1m' }],
 *   className: 'ExportController',
 *   defaultIds: [false],
 * };
 * ```
 */
export interface InboundRuleDeclaration {
  /** The class (`ExportController`) or method (`ExportController.bulk`) whose `@RateLimited` declared the rules. */
  readonly owner: string;
  /** The rules as stored in the metadata (each with its id, a default one filled in). */
  readonly rules: readonly InboundLimitRule[];
  /** The name of the class declaring them as `owner` spells it (`ExportController`; `class` or `anonymous class` for a class without one). */
  readonly className?: string;
  /**
   * For each rule, whether its id is the default one of `owner` (it was written without an `id`): two
   * classes of one name give their rules without `id` the same default ids, which a conflict names.
   */
  readonly defaultIds?: readonly boolean[];
}

/**
 * The declarations a `limits` array is made of, keyed by the array itself (kept by whatever copies
 * the options around it): one for the array `@RateLimited` stores, the class's then the method's for
 * the array {@link mergeRateLimited} builds. Arrays made elsewhere (an overridden `getOptions`) have none.
 */
const declarationsOfLimits = new WeakMap<readonly InboundLimitRule[], readonly InboundRuleDeclaration[]>();

/**
 * Notes that `rules` (the array stored in the metadata) were declared by `owner`'s `@RateLimited`;
 * `declaration` names its class, and says which rules got the default id of `owner`.
 *
 * @example
 * ```ts
 * declareInboundRules(limits, 'ExportController.bulk', { className: 'ExportController', defaultIds: [false] });
 * inboundRuleDeclarationsOf(limits); // [{ owner: 'ExportController.bulk', rules: limits, className: 'ExportController', defaultIds: [false] }]
 * ```
 */
export function declareInboundRules(
  rules: readonly InboundLimitRule[],
  owner: string,
  declaration: Omit<InboundRuleDeclaration, 'owner' | 'rules'> = {},
): void {
  declarationsOfLimits.set(rules, [{ owner, rules, ...declaration }]);
}

/**
 * The declarations, from the most general (the class) to the most specific (the method), that the
 * `limits` array of some `@RateLimited` options comes from: one for a class's or method's own, two for
 * a class's and a method's merged by {@link mergeRateLimited}; `undefined` for an array built
 * elsewhere. It says which rule replaced which, which the merged array alone no longer tells.
 *
 * @example
 * ```ts
 * const merged = mergeRateLimited(onClass, onHandler);
 * inboundRuleDeclarationsOf(merged!.limits!); // [{ owner: 'ExportController', rules }, { owner: 'ExportController.bulk', rules }]
 * ```
 */
export function inboundRuleDeclarationsOf(limits: readonly InboundLimitRule[]): readonly InboundRuleDeclaration[] | undefined {
  return declarationsOfLimits.get(limits);
}

/**
 * Class defaults overridden field by field by the method's options; `limits` of both apply (a method
 * rule with the same id as a class rule replaces it; the merged array remembers both declarations,
 * see {@link inboundRuleDeclarationsOf}, for the bucket the replacing rule counts in). `identity` and `key` are one setting, who the
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

/**
 * The `@RateLimited` options of a class as its decorated methods, `ResilienceGuard` and
 * `ResilienceInterceptor` read them: those of every class of its prototype chain merged with
 * {@link mergeRateLimited}, the base class's first, each subclass's overriding them field by field
 * (so a subclass adding `@RateLimited({ priority: 'batch' })` keeps its base's `route`; `limits` of
 * both apply, a subclass rule replacing the base rule of its `id`). `undefined` when no class of the
 * chain has any. `Reflect.getMetadata` alone would return the nearest class's options only.
 *
 * @example
 * ```ts
 * // @RateLimited({ route: 'chat' }) class Base {}  @RateLimited({ priority: 'batch' }) class Batch extends Base {}
 * classRateLimited(Batch); // { route: 'chat', priority: 'batch' }
 * ```
 */
export function classRateLimited(cls: unknown): RateLimitedOptions | undefined {
  if (typeof cls !== 'function') return undefined;
  const chain: RateLimitedOptions[] = [];
  for (let c: unknown = cls; typeof c === 'function' && c !== Function.prototype; c = Object.getPrototypeOf(c)) {
    const own: unknown = Reflect.getOwnMetadata(RATE_LIMITED_METADATA, c as Function);
    if (typeof own === 'object' && own !== null) chain.push(own as RateLimitedOptions);
  }
  let merged: RateLimitedOptions | undefined;
  for (let i = chain.length - 1; i >= 0; i--) merged = mergeRateLimited(merged, chain[i]);
  return merged;
}

function mergeLimits(base: readonly InboundLimitRule[], over: readonly InboundLimitRule[]): InboundLimitRule[] {
  const overIds = new Set(over.map((r) => r.id).filter((id): id is string => id !== undefined));
  const merged = [...base.filter((r) => r.id === undefined || !overIds.has(r.id)), ...over];
  const fromBase = inboundRuleDeclarationsOf(base);
  const fromOver = inboundRuleDeclarationsOf(over);
  if (fromBase && fromOver) declarationsOfLimits.set(merged, [...fromBase, ...fromOver]);
  return merged;
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
