import { redactSecrets } from '@llm-resilience/core';

/** How deep an error payload is walked; a provider's error object is two or three levels deep. */
const MAX_DEPTH = 8;

/**
 * A copy of `payload` (parsed JSON: an upstream's error object or in-stream error event) with every
 * occurrence of each of `secrets` cut out of its strings, property names included (core's
 * `redactSecrets`: exact strings of at least 8 characters, replaced by `[redacted]`). Works on the
 * parsed value rather than the JSON text, so a key the JSON escapes differently (`\u002e`, `\/`) is cut
 * too. Below 8 levels what is left is dropped (`null`): no provider nests its error that deep.
 *
 * @example
 * ```ts
 * withoutSecrets({ message: `Received API Key = ${apiKey}`, code: 'invalid_api_key' }, [apiKey]);
 * // { message: 'Received API Key = [redacted]', code: 'invalid_api_key' }
 * ```
 */
export function withoutSecrets(payload: unknown, secrets: readonly string[]): unknown {
  return copy(payload, secrets, 0);
}

function copy(value: unknown, secrets: readonly string[], depth: number): unknown {
  if (typeof value === 'string') return redactSecrets(value, secrets);
  if (value === null || typeof value !== 'object') return value;
  if (depth >= MAX_DEPTH) return null;
  if (Array.isArray(value)) return value.map((v) => copy(v, secrets, depth + 1));
  const out: Record<string, unknown> = {};
  // defineProperty: a `__proto__` key of the JSON stays a property, not the copy's prototype.
  for (const [k, v] of Object.entries(value)) {
    Object.defineProperty(out, redactSecrets(k, secrets), { value: copy(v, secrets, depth + 1), enumerable: true, writable: true, configurable: true });
  }
  return out;
}
