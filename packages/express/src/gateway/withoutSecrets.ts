import { redactSecrets } from '@llm-resilience/core';

/** How deep an error payload is walked; a provider's error object is two or three levels deep. */
const MAX_DEPTH = 8;

/** How many entries of one array, or fields of one object, are copied at most; the rest are left out. */
const MAX_ENTRIES = 100;

/**
 * How many values (strings, numbers, objects, ...) of an error payload are copied at most. A provider's
 * error object has a few dozen; an upstream that sends megabytes of them (a 200 000-entry `details`)
 * would otherwise block the event loop for most of a second while each string is scrubbed.
 */
const MAX_VALUES = 10_000;

/**
 * A copy of `payload` (parsed JSON: an upstream's error object or in-stream error event) with every
 * occurrence of each of `secrets` cut out of its strings, property names included (core's
 * `redactSecrets`: exact strings of at least 8 characters, replaced by `[redacted]`). Works on the
 * parsed value rather than the JSON text, so a key the JSON escapes differently (`\u002e`, `\/`) is cut
 * too.
 *
 * Bounded, since an upstream may send anything: an array keeps its first 100 entries and an object its
 * first 100 fields; the payload is copied level by level (every field of the top object before any
 * nested one, so `message`, `type` and `code` come first), 10 000 values in all at most, and an object
 * or array reached after that is left empty; below 8 levels what is left is dropped (`null`). No
 * provider nests its error that deep or that wide. What is left out is dropped, never kept unscrubbed.
 * With no secret to cut (none given, or all shorter than 8 characters) `payload` itself is returned:
 * there is nothing to copy it for.
 *
 * @example
 * ```ts
 * withoutSecrets({ message: `Received API Key = ${apiKey}`, code: 'invalid_api_key' }, [apiKey]);
 * // { message: 'Received API Key = [redacted]', code: 'invalid_api_key' }
 * ```
 */
export function withoutSecrets(payload: unknown, secrets: readonly string[]): unknown {
  // What core's redactSecrets would cut (it skips short strings): a secret it would cut redacts itself.
  const cut = secrets.filter((s) => typeof s === 'string' && redactSecrets(s, s) !== s);
  if (cut.length === 0) return payload;
  if (typeof payload === 'string') return redactSecrets(payload, cut);
  if (payload === null || typeof payload !== 'object') return payload;
  const root = emptyLike(payload);
  // Breadth first: the values nearest the top (the error's message, type, code) are copied first.
  const queue: Array<{ from: object; to: Record<string, unknown> | unknown[]; depth: number }> = [{ from: payload, to: root, depth: 0 }];
  let left = MAX_VALUES - 1;
  for (let i = 0; i < queue.length && left > 0; i++) {
    const { from, to, depth } = queue[i]!;
    const copyOf = (value: unknown): unknown => {
      left--;
      if (typeof value === 'string') return redactSecrets(value, cut);
      if (value === null || typeof value !== 'object') return value;
      if (depth + 1 >= MAX_DEPTH) return null;
      const copy = emptyLike(value);
      queue.push({ from: value, to: copy, depth: depth + 1 });
      return copy;
    };
    if (Array.isArray(from)) {
      const out = to as unknown[];
      for (let j = 0; j < from.length && j < MAX_ENTRIES && left > 0; j++) out.push(copyOf(from[j]));
    } else {
      const out = to as Record<string, unknown>;
      const keys = Object.keys(from);
      for (let j = 0; j < keys.length && j < MAX_ENTRIES && left > 0; j++) {
        const k = keys[j]!;
        // defineProperty: a `__proto__` key of the JSON stays a property, not the copy's prototype.
        Object.defineProperty(out, redactSecrets(k, cut), { value: copyOf((from as Record<string, unknown>)[k]), enumerable: true, writable: true, configurable: true });
      }
    }
  }
  return root;
}

function emptyLike(value: object): Record<string, unknown> | unknown[] {
  return Array.isArray(value) ? [] : {};
}
