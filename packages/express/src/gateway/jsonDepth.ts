import { ChatRequestError } from './ChatRequestError';

/**
 * The deepest nesting of arrays and objects the gateway forwards, the request body itself counting
 * as level 1. `JSON.parse` takes any depth, but `JSON.stringify` (and every recursive walk of the
 * body: the Anthropic translation, token estimation) overflows the stack at a few thousand levels, a
 * body of ~40 KB. 128 is the limit of common JSON parsers (serde_json); a legitimate chat request,
 * tool JSON schemas included, stays far below it.
 *
 * @example
 * ```ts
 * MAX_JSON_DEPTH; // 128
 * ```
 */
export const MAX_JSON_DEPTH = 128;

/** A top-level key that may be shown as `param` (the client's own field names, if plain). */
const PLAIN_KEY = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;

/**
 * Throws a {@link ChatRequestError} (`invalid_value`) when `body` nests arrays and objects deeper
 * than `maxDepth` levels. Its `param` is the top-level field holding the nesting (when its name is
 * plain); its message names the limit, never any content. Walks the body without recursion, so the
 * check itself cannot overflow the stack, and stops at the first level too deep.
 *
 * @example
 * ```ts
 * assertJsonDepth({ model: 'x', messages: [] }); // passes
 * assertJsonDepth(JSON.parse(`{"extra":${'['.repeat(200)}${']'.repeat(200)}}`));
 * // throws: Invalid value for 'extra': it nests arrays and objects more than 128 levels deep; ...
 * ```
 */
export function assertJsonDepth(body: unknown, maxDepth: number = MAX_JSON_DEPTH): void {
  if (typeof body !== 'object' || body === null) return;
  const pending: Array<{ value: object; depth: number; top: string | undefined }> = [{ value: body, depth: 1, top: undefined }];
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    const { value, depth, top } = next;
    if (depth > maxDepth) throw tooDeep(top, maxDepth);
    // Only nested arrays and objects are queued: strings, numbers and the like cost a type check each.
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) {
        const child: unknown = value[i];
        if (typeof child === 'object' && child !== null) pending.push({ value: child, depth: depth + 1, top: top ?? String(i) });
      }
    } else {
      for (const key in value) {
        if (!Object.prototype.hasOwnProperty.call(value, key)) continue;
        const child = (value as Record<string, unknown>)[key];
        if (typeof child === 'object' && child !== null) pending.push({ value: child, depth: depth + 1, top: top ?? key });
      }
    }
  }
}

function tooDeep(top: string | undefined, maxDepth: number): ChatRequestError {
  const what = `nests arrays and objects more than ${maxDepth} levels deep; the gateway forwards at most ${maxDepth}.`;
  if (top !== undefined && PLAIN_KEY.test(top)) return new ChatRequestError(top, 'invalid_value', `Invalid value for '${top}': it ${what}`);
  return new ChatRequestError('', 'invalid_value', `Invalid request body: it ${what}`);
}
