import { shownValue as shown, valueType as typeOf } from '@llm-resilience/core';

/**
 * How messages of this package show a value they did not expect. Values are never serialised
 * (`JSON.stringify` throws on a BigInt, and an identity or an options object may hold user ids or
 * keys): a message names the type, and shows only numbers, booleans and short strings of options.
 */

// `typeOf` and `shown` are core's `valueType` and `shownValue`: one way to show a value in every adapter's messages.
export { shown, typeOf };

/**
 * True for a non-null object or function with a `then` method (a Promise or any thenable).
 *
 * @example
 * ```ts
 * isThenable(Promise.resolve(1)); // true
 * isThenable({ user: 'u1' });     // false
 * ```
 */
export function isThenable(v: unknown): v is PromiseLike<unknown> {
  return (typeof v === 'object' || typeof v === 'function') && v !== null && typeof (v as { then?: unknown }).then === 'function';
}

/**
 * True for an object literal (or `Object.create(null)`), not an array, class instance or function.
 *
 * @example
 * ```ts
 * isPlainObject({ retries: 2 }); // true
 * isPlainObject([]);             // false
 * ```
 */
export function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null;
}

/**
 * What a function returned instead of a string or `undefined`, by type only (a Promise is named as
 * such: the function must not be async); `undefined` when the result is fine. `what` names the
 * expected result in the Promise case (`key`, `data class`).
 *
 * @example
 * ```ts
 * nonStringResult('u1', 'key');          // undefined
 * nonStringResult(42, 'key');            // 'a number'
 * nonStringResult(Promise.resolve('u1'), 'key'); // 'a Promise (the function must return the key itself)'
 * ```
 */
export function nonStringResult(value: unknown, what: string): string | undefined {
  if (value === undefined || typeof value === 'string') return undefined;
  return isThenable(value) ? `a Promise (the function must return the ${what} itself)` : typeOf(value);
}
