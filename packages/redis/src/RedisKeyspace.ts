import { createHash } from 'node:crypto';

/**
 * Escaped keys longer than this are replaced by `#` + SHA-256 (base64url), bounding key size.
 *
 * @example
 * ```ts
 * escapeStoreKey('u'.repeat(MAX_STORE_KEY_LENGTH + 1)).startsWith('#'); // true
 * ```
 */
export const MAX_STORE_KEY_LENGTH = 512;

const NEEDS_ESCAPE = /[%{}#]/;
const ESCAPE_CHARS = /[%{}#]/g;

function percent(ch: string): string {
  return `%${ch.charCodeAt(0).toString(16).toUpperCase()}`;
}

/**
 * Makes a key received from the core safe inside a Redis key: `%`, `{`, `}` and `#` are
 * percent-encoded, so a key can never open or close a Redis Cluster hash tag, and keys longer than
 * {@link MAX_STORE_KEY_LENGTH} become `#` + SHA-256. The core already escapes dimension values; this is
 * defence in depth for keys built elsewhere. Distinct inputs always give distinct outputs.
 *
 * @example
 * ```ts
 * escapeStoreKey('user=a}{b'); // 'user=a%7D%7Bb'
 * ```
 */
export function escapeStoreKey(key: string): string {
  return escapeWith(key, NEEDS_ESCAPE, ESCAPE_CHARS);
}

/** Also `:` (see {@link escapeUntaggedPrefix}). */
const PREFIX_NEEDS_ESCAPE = /[%{}#:]/;
const PREFIX_ESCAPE_CHARS = /[%{}#:]/g;

function escapeWith(key: string, needs: RegExp, chars: RegExp): string {
  let out = needs.test(key) ? key.replace(chars, percent) : key;
  if (out.length > MAX_STORE_KEY_LENGTH) out = `#${createHash('sha256').update(out, 'utf8').digest('base64url')}`;
  return out;
}

/**
 * The namespace of a keyspace without hash tag: as {@link escapeStoreKey}, and `:` percent-encoded too
 * (`%3A`). The first `:` of every key then ends the namespace, so one prefix's namespace is never the
 * start of another's (prefix `P` with key `r:x` and prefix `P:r` with key `x` would both be `P:r:r:x`),
 * and `pattern()` matches the keys of its own prefix only. With the hash tag the closing `}` does that.
 */
function escapeUntaggedPrefix(prefix: string): string {
  return escapeWith(prefix, PREFIX_NEEDS_ESCAPE, PREFIX_ESCAPE_CHARS);
}

/**
 * Options of {@link RedisKeyspace}.
 *
 * @example
 * ```ts
 * const opts: RedisKeyspaceOptions = { prefix: 'llmr', hashTag: true };
 * ```
 */
export interface RedisKeyspaceOptions {
  /** Namespace of every key. Default `'llmr'`. */
  prefix?: string;
  /**
   * Wrap the namespace in a Redis Cluster hash tag (`{llmr}:...`). Default `true`. Without it the
   * namespace is the prefix with `:` percent-encoded too (`app:eu` gives `app%3Aeu:...`).
   */
  hashTag?: boolean;
}

/**
 * What a Redis key holds: `r` rate bucket, `c` concurrency leases, `w` per-window counter (budgets),
 * `a` the record of an adjust run (its id, kept a minute so that a copy ioredis sends again changes
 * nothing), `s` shared state (`RedisStateStore`), `b` shared breaker states, `p` shared pacing
 * snapshots, `h` the key the store's recovery probe writes.
 *
 * @example
 * ```ts
 * const kind: RedisKeyKind = 'w';
 * ```
 */
export type RedisKeyKind = 'r' | 'c' | 'w' | 'a' | 's' | 'b' | 'p' | 'h';

/**
 * Builds the Redis keys of the store: `{<prefix>}:<kind>:<escaped key>`, where kind is a
 * {@link RedisKeyKind}. With the default hash tag every key of the
 * namespace lives in one Cluster slot, which is what makes a multi-key reservation atomic on Cluster.
 * Without it (`hashTag: false`) keys are `<prefix>:<kind>:<escaped key>`, `:` in the prefix
 * percent-encoded. Distinct (prefix, hash tag, kind, key) always give distinct Redis keys, and
 * `pattern()` matches the keys of its own namespace only.
 *
 * @example
 * ```ts
 * new RedisKeyspace({ prefix: 'llmr' }).key('r', 'user-rpm|user=u1'); // '{llmr}:r:user-rpm|user=u1'
 * ```
 */
export class RedisKeyspace {
  /** `{prefix}:` or `prefix:`; everything the store writes starts with it. */
  readonly base: string;

  constructor(options: RedisKeyspaceOptions = {}) {
    const prefix = options.prefix ?? 'llmr';
    // Each namespace ends where no prefix can go on: at the `}` of its hash tag (no escaped prefix holds
    // one), or, without it, at the first `:` (escaped in the prefix). The kind and `:` follow, then the
    // escaped key, whatever it holds: a Redis key names one (prefix, kind, key) only.
    this.base = options.hashTag === false ? `${escapeUntaggedPrefix(prefix)}:` : `{${escapeStoreKey(prefix)}}:`;
  }

  /**
   * The Redis key of a store key of one kind.
   *
   * @example
   * ```ts
   * keyspace.key('c', 'api-concurrency|team=t1');
   * ```
   */
  key(kind: RedisKeyKind, key: string): string {
    return `${this.base}${kind}:${escapeStoreKey(key)}`;
  }

  /**
   * A SCAN pattern matching every key of this namespace (for cleanup and inspection).
   *
   * @example
   * ```ts
   * const keys = await redis.keys(keyspace.pattern());
   * ```
   */
  pattern(): string {
    return `${this.base.replace(/[*?[\]\\]/g, (c) => `\\${c}`)}*`;
  }
}
