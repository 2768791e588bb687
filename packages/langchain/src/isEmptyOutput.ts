/**
 * Whether a value a chain yielded holds nothing of an answer: `undefined`, `null`, `''`, an empty plain
 * object or array, or an array of such. Streaming, LangChain's JSON and tool-call parsers yield such
 * values before the reply has any: `withStructuredOutput`'s `functionCalling` parser yields `{}` on the
 * tool call's header, before its first argument, `JsonOutputParser` yields `{}` on a lone `{`, and
 * `JsonOutputToolsParser` yields `[]` for a reply without tool calls and `[{ type: 'summary', args: {} }]`
 * (with `id` under `returnId`) on a tool call's header: a tool call whose `args` hold nothing is empty
 * too. Class instances (a message, a `Date`) are never empty here.
 *
 * @example
 * ```ts
 * isEmptyOutput({});              // true: the header of a tool call, no argument yet
 * isEmptyOutput([]);              // true
 * isEmptyOutput([{ type: 'summary', args: {} }]); // true: JsonOutputToolsParser on the header
 * isEmptyOutput({ title: '' });   // false: an argument has started
 * isEmptyOutput(0);               // false
 * ```
 */
export function isEmptyOutput(value: unknown): boolean {
  if (value === undefined || value === null || value === '') return true;
  if (Array.isArray(value)) return value.every(isEmptyOutput);
  if (typeof value !== 'object') return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  if (proto !== Object.prototype && proto !== null) return false;
  const keys = Object.keys(value);
  return keys.length === 0 || isToolCallHeader(value as Record<string, unknown>, keys);
}

/** `{ type, args, id? }` with `args` empty: a tool call of `JsonOutputToolsParser` before its first argument. */
function isToolCallHeader(value: Record<string, unknown>, keys: readonly string[]): boolean {
  if (typeof value.type !== 'string' || !('args' in value)) return false;
  if (!keys.every((k) => k === 'type' || k === 'args' || (k === 'id' && (typeof value.id === 'string' || value.id === undefined)))) return false;
  return isEmptyOutput(value.args);
}
