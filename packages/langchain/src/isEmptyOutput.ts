/**
 * Whether a value a chain yielded holds nothing of an answer: `undefined`, `null`, `''`, an empty plain
 * object or array, or an array of such. Streaming, LangChain's JSON and tool-call parsers yield such
 * values before the reply has any: `withStructuredOutput`'s `functionCalling` parser yields `{}` on the
 * tool call's header, before its first argument, `JsonOutputParser` yields `{}` on a lone `{`, and
 * `JsonOutputToolsParser` yields `[]` for a reply without tool calls. Class instances (a message, a
 * `Date`) are never empty here.
 *
 * @example
 * ```ts
 * isEmptyOutput({});              // true: the header of a tool call, no argument yet
 * isEmptyOutput([]);              // true
 * isEmptyOutput({ title: '' });   // false: an argument has started
 * isEmptyOutput(0);               // false
 * ```
 */
export function isEmptyOutput(value: unknown): boolean {
  if (value === undefined || value === null || value === '') return true;
  if (Array.isArray(value)) return value.every(isEmptyOutput);
  if (typeof value !== 'object') return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return (proto === Object.prototype || proto === null) && Object.keys(value).length === 0;
}
