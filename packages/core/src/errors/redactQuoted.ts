/**
 * @internal Quoted text this long in a provider's message is most likely the request quoted back (a schema error
 * that echoes a message's content), and in a validation reason the reply. Parameter names, enum values
 * and short keys are shorter and stay.
 */
export const ECHO_MIN_CHARS = 32;
const QUOTED = new Map<number, RegExp>();

/**
 * `text` with quoted runs of at least `minChars` (default 32) characters replaced by their length: what
 * a provider message or a validation reason may quote of a prompt or a reply, kept out of errors,
 * events and logs.
 *
 * @example
 * ```ts
 * redactQuoted(`'My SSN is 123-45-6789, please draft my appeal' is not of type 'array'`);
 * // "'[45 chars]' is not of type 'array'"
 * ```
 */
export function redactQuoted(text: string, minChars = ECHO_MIN_CHARS): string {
  if (text.length < minChars) return text;
  let quoted = QUOTED.get(minChars);
  if (quoted === undefined) QUOTED.set(minChars, (quoted = new RegExp(`(["'\u201c\u2018])([^"'\u201d\u2019]{${minChars},})(["'\u201d\u2019])`, 'g')));
  return text.replace(quoted, (_match, open: string, body: string, close: string) => `${open}[${body.length} chars]${close}`);
}
