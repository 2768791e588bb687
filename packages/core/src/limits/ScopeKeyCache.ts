import { escapeKeyValue } from './limitKey';
import type { LimitContext, ScopeDimension } from './LimitRule';

type Node = Map<string, Node | readonly string[]>;

/**
 * Store keys of every rule sharing one scope, cached by the scope's values. Returns the *same* string
 * objects for the same values, so the store's map finds them by a cached hash and pointer equality
 * instead of flattening and hashing a freshly concatenated key on every request (most of the cost of
 * an in-memory reservation). The cache is a trie of maps, one level per dimension, and is dropped
 * whole when it holds more than `maxEntries` value combinations.
 *
 * Keys are exactly those of {@link limitKey}.
 *
 * @example
 * ```ts
 * const cache = new ScopeKeyCache(['user'], ['user-rpm', 'user-tpm']);
 * cache.keys({ user: 'u1' }); // ['user-rpm|user=u1', 'user-tpm|user=u1']
 * ```
 */
export class ScopeKeyCache {
  private root: Node = new Map();
  private entries = 0;
  private readonly escapedIds: readonly string[];
  private readonly constant: readonly string[] | undefined;

  constructor(
    private readonly scope: readonly ScopeDimension[],
    ruleIds: readonly string[],
    private readonly maxEntries = 50_000,
  ) {
    this.escapedIds = ruleIds.map(escapeKeyValue);
    this.constant = scope.length === 0 ? this.escapedIds : undefined;
  }

  /** Keys of the rules (in constructor order), or `undefined` when a scope value is missing or empty. */
  keys(ctx: LimitContext): readonly string[] | undefined {
    if (this.constant !== undefined) return this.constant;
    const scope = this.scope;
    const last = scope.length - 1;
    let node = this.root;
    for (let d = 0; d < last; d++) {
      const v = ctx[scope[d]!];
      if (v === undefined || v === '') return undefined;
      let child = node.get(v) as Node | undefined;
      if (child === undefined) {
        child = new Map();
        node.set(v, child);
      }
      node = child;
    }
    const v = ctx[scope[last]!];
    if (v === undefined || v === '') return undefined;
    let keys = node.get(v) as readonly string[] | undefined;
    if (keys === undefined) {
      keys = this.build(ctx);
      if (keys === undefined) return undefined;
      if (++this.entries > this.maxEntries) {
        this.root = new Map();
        this.entries = 0;
      } else {
        node.set(v, keys);
      }
    }
    return keys;
  }

  private build(ctx: LimitContext): string[] | undefined {
    let suffix = '';
    for (const dim of this.scope) {
      const v = ctx[dim];
      if (v === undefined || v === '') return undefined;
      suffix += `|${dim}=${escapeKeyValue(v)}`;
    }
    // Flatten now: the store hashes each key once and reuses the hash.
    return this.escapedIds.map((id) => flatten(id + suffix));
  }
}

/** Forces a concatenated string into one flat string (V8 otherwise keeps a rope until first use). */
function flatten(s: string): string {
  return s.length > 0 ? (s.charCodeAt(0), s) : s;
}
