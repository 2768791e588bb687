import { closestName } from '@llm-resilience/core';

/**
 * Unknown keys of option objects. A misspelt option (`limts`, `identiy`, `rout`) would otherwise be
 * ignored without a word, and what it meant to set silently not happen.
 */

/**
 * The known key closest to `key` (core's `closestName`: at most two edits away, case ignored), if any.
 *
 * @example
 * ```ts
 * closestKey('limts', ['limits', 'identity']); // 'limits'
 * closestKey('colour', ['limits']);            // undefined
 * ```
 */
export const closestKey: (key: string, known: readonly string[]) => string | undefined = closestName;

/**
 * The first own enumerable key of `value` that is not in `known`, with the end of a message about it:
 * `"not an option (did you mean 'limits'?); known: engine, policy, ..."`. Undefined when every key is known.
 *
 * @example
 * ```ts
 * const u = unknownKey({ limts: [] }, ['engine', 'limits']);
 * if (u) throw invalid(`${where} ${u.key}: ${u.problem}.`); // "limts: not an option (did you mean 'limits'?); known: engine, limits."
 * ```
 */
export function unknownKey(value: object, known: readonly string[]): { key: string; problem: string } | undefined {
  for (const key of Object.keys(value)) {
    if (known.includes(key)) continue;
    const near = closestKey(key, known);
    const shownKey = key.length > 40 ? `${key.slice(0, 40)}...` : key;
    return { key: shownKey, problem: `not an option${near ? ` (did you mean '${near}'?)` : ''}; known: ${known.join(', ')}` };
  }
  return undefined;
}
