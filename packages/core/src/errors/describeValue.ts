/**
 * What a value is, without its contents: `'a string'`, `'an object'`, `'an array'`, `'a bigint'`,
 * `'a Promise'`, `'null'`. For error messages about configuration and callback results: values are
 * never serialised (`JSON.stringify` throws on a bigint, and an options object or an identity may hold
 * keys or user ids).
 *
 * @example
 * ```ts
 * valueType('u1');         // 'a string'
 * valueType({ id: 'u1' }); // 'an object'
 * valueType(10n);          // 'a bigint'
 * ```
 */
export function valueType(v: unknown): string {
  if (v === null) return 'null';
  if (v === undefined) return 'undefined';
  if (Array.isArray(v)) return 'an array';
  if (typeof (v as { then?: unknown }).then === 'function') return 'a Promise';
  const t = typeof v;
  return t === 'object' ? 'an object' : `a ${t}`;
}

/**
 * An option's value as an error message shows it: numbers and booleans as they are, strings of up to
 * 20 characters in quotes (an enum value, a short name), anything else by {@link valueType}. Only for
 * option values that are never secret; what a user's function returned is shown with
 * {@link valueType}.
 *
 * @example
 * ```ts
 * shownValue(-1);         // '-1'
 * shownValue('everyone'); // "'everyone'"
 * shownValue('3');        // "'3'" (a string, not the number 3)
 * shownValue(10n);        // 'a bigint'
 * ```
 */
export function shownValue(v: unknown): string {
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (typeof v === 'string') return v.length <= 20 ? `'${v}'` : `a string of ${v.length} characters`;
  return valueType(v);
}
