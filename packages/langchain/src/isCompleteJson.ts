/**
 * Whether `text` is one complete JSON value, read leniently as LangChain reads streamed tool-call
 * arguments: raw control characters inside a string (a literal newline in a `code` argument, as models
 * without strict JSON decoding write it) are accepted, where `JSON.parse` rejects them. Anything cut off
 * (an open string, object or array, a dangling key) is not complete.
 *
 * @example
 * ```ts
 * isCompleteJson('{"code":"print(1)\nprint(2)"}'); // true: a raw newline inside a string
 * isCompleteJson('{"code":"print(1)\nprint(');     // false: cut off
 * isCompleteJson('{"q": 1');                       // false
 * ```
 */
export function isCompleteJson(text: string): boolean {
  return parses(text) || parses(escapeControlCharactersInStrings(text));
}

/**
 * Whether strict `JSON.parse` accepts `text`.
 *
 * @example
 * ```ts
 * parses('{"a":1}'); // true
 * parses('{"a":'); // false
 * ```
 */
export function parses(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

/** `text` with each raw control character (U+0000 to U+001F) inside a JSON string written as its `\u` escape. */
function escapeControlCharactersInStrings(text: string): string {
  let out = '';
  let inString = false;
  let escaped = false;
  for (const char of text) {
    if (inString) {
      if (escaped) escaped = false;
      else if (char === '\\') escaped = true;
      else if (char === '"') inString = false;
      else if (char < ' ') {
        out += `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`;
        continue;
      }
    } else if (char === '"') inString = true;
    out += char;
  }
  return out;
}
