/**
 * What a breaker guards: one target (provider + model) or a whole provider.
 *
 * @example
 * ```ts
 * const scope: BreakerScope = 'provider';
 * ```
 */
export type BreakerScope = 'target' | 'provider';

/**
 * The key of a breaker in a `BreakerRegistry`, in events and in shared state: `target:<id>` or
 * `provider:<name>`.
 *
 * @example
 * ```ts
 * breakerKey('target', 'fast-a'); // 'target:fast-a'
 * breakerKey('provider', 'openai'); // 'provider:openai'
 * ```
 */
export function breakerKey(scope: BreakerScope, id: string): string {
  return `${scope}:${id}`;
}

/**
 * Splits a key made by {@link breakerKey}; `undefined` when it names no scope or no id. The id may
 * itself contain `:`.
 *
 * @example
 * ```ts
 * parseBreakerKey('target:openai/gpt-x:2025'); // { scope: 'target', id: 'openai/gpt-x:2025' }
 * parseBreakerKey('oops'); // undefined
 * ```
 */
export function parseBreakerKey(key: string): { scope: BreakerScope; id: string } | undefined {
  const i = key.indexOf(':');
  if (i < 0) return undefined;
  const scope = key.slice(0, i);
  const id = key.slice(i + 1);
  if ((scope !== 'target' && scope !== 'provider') || id === '') return undefined;
  return { scope, id };
}
