/**
 * Whether `value` is an object (arrays included) whose fields may be read: what the adapter checks
 * before reading a field of something LangChain, an SDK or a schema library handed it.
 *
 * @example
 * ```ts
 * isRecord({ finish_reason: 'length' }); // true
 * isRecord(null); // false
 * ```
 */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}
