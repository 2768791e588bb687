import { createHash } from 'node:crypto';
import type { LimitContext, LimitRule } from './LimitRule';

/**
 * Escaped values longer than this are replaced by `#` + a SHA-256 digest, bounding key size.
 *
 * @example
 * ```ts
 * if (tenantId.length > MAX_KEY_VALUE_LENGTH) console.warn('tenant ids this long are hashed in limit keys');
 * ```
 */
export const MAX_KEY_VALUE_LENGTH = 128;

/**
 * Characters that never appear raw in a key value: the key's own separators (`|`, `=`), the escape
 * character (`%`), the hash marker (`#`, so that no id can pose as the digest of another id), Redis
 * Cluster hash-tag braces (`{`, `}`), the Redis namespace separator (`:`), control characters, and
 * surrogates (lone surrogates would all turn into U+FFFD once encoded as UTF-8, so two ids could meet;
 * well-formed pairs take the slow path and are kept).
 */
const NEEDS_ESCAPE = /[%|={}:#\u0000-\u001f\u007f\ud800-\udfff]/;
const ESCAPE_CHARS = /[%|={}:#\u0000-\u001f\u007f]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

function percent(ch: string): string {
  const code = ch.charCodeAt(0);
  // Lone surrogates are not bytes: write them as %uXXXX (unambiguous, since %XX is always two hex digits).
  if (code >= 0xd800 && code <= 0xdfff) return `%u${code.toString(16).toUpperCase()}`;
  return `%${code.toString(16).toUpperCase().padStart(2, '0')}`;
}

/**
 * Makes one dimension value safe to place in a store key: separators and control characters are
 * percent-encoded, and values longer than {@link MAX_KEY_VALUE_LENGTH} (after escaping) become
 * `#` + base64url(SHA-256(value)). Distinct values always give distinct results.
 *
 * @example
 * ```ts
 * escapeKeyValue('a|b=c'); // 'a%7Cb%3Dc'
 * escapeKeyValue('x'.repeat(500)); // '#…43 base64url chars…'
 * ```
 */
export function escapeKeyValue(value: string): string {
  let out = value;
  if (NEEDS_ESCAPE.test(value)) out = value.replace(ESCAPE_CHARS, percent);
  if (out.length > MAX_KEY_VALUE_LENGTH) {
    // Hash the escaped form: it is well-formed (no lone surrogates), so UTF-8 encoding is injective.
    out = `#${createHash('sha256').update(out, 'utf8').digest('base64url')}`;
  }
  return out;
}

/**
 * Builds the store key of `rule` for one request: `` `${rule.id}|dim=value|...` `` with the dimensions
 * in the rule's scope order and every value escaped with {@link escapeKeyValue} (the rule id too).
 *
 * Returns `undefined` when a scope dimension has no value in `ctx` (missing or empty string): a rule
 * scoped by `user` does not apply to a request without a user. It is *not* charged to a shared
 * "anonymous" bucket; add a rule without that dimension if anonymous traffic must be limited.
 *
 * @example
 * ```ts
 * limitKey({ id: 'user-rpm', scope: ['user'], metric: 'requests', limit: 20, windowMs: 60_000 }, { user: 'u1' });
 * // 'user-rpm|user=u1'
 * ```
 */
export function limitKey(rule: Pick<LimitRule, 'id' | 'scope'>, ctx: LimitContext): string | undefined {
  let key = escapeKeyValue(rule.id);
  for (const dim of rule.scope) {
    const value = ctx[dim];
    if (value === undefined || value === '') return undefined;
    key += `|${dim}=${escapeKeyValue(value)}`;
  }
  return key;
}
