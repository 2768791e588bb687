import { escapeKeyValue } from './limitKey';
import type { LimitCharge } from './LimiterStore';
import type { LimitContext, ScopeDimension } from './LimitRule';

/**
 * The store keys of one scope-value combination, one per rule of the group, with the store handles
 * the store handed out for them (see {@link LimitCharge.handle}).
 *
 * @example
 * ```ts
 * const entry = cache.lookup({ user: 'u1' });
 * if (entry) console.log(entry.keys[0], entry.handles[0]);
 * ```
 */
export interface ScopeKeys {
  readonly keys: readonly string[];
  /** Filled in by the limiter after each reservation; `undefined` until the store has handed one out. */
  readonly handles: unknown[];
}

type Node = Map<string, Node | ScopeKeys>;

/**
 * Store keys of every rule sharing one scope, cached by the scope's values. Returns the *same* string
 * objects for the same values, so the store's map finds them by a cached hash and pointer equality
 * instead of flattening and hashing a freshly concatenated key on every request (most of the cost of
 * an in-memory reservation). Next to the keys it keeps the store's handles for them, so a store that
 * hands out handles (the memory store: the key's counter) is not asked to look the key up again. The
 * cache is a trie of maps, one level per dimension, and is dropped whole when it holds more than
 * `maxEntries` value combinations.
 *
 * Keys are exactly those of {@link limitKey}.
 *
 * @example
 * ```ts
 * const cache = new ScopeKeyCache(['user'], ['user-rpm', 'user-tpm']);
 * cache.lookup({ user: 'u1' })?.keys; // ['user-rpm|user=u1', 'user-tpm|user=u1']
 * ```
 */
export class ScopeKeyCache {
  private root: Node = new Map();
  private entries = 0;
  private readonly escapedIds: readonly string[];
  private readonly constant: ScopeKeys | undefined;

  constructor(
    private readonly scope: readonly ScopeDimension[],
    ruleIds: readonly string[],
    private readonly maxEntries = 50_000,
  ) {
    this.escapedIds = ruleIds.map(escapeKeyValue);
    this.constant = scope.length === 0 ? entry(this.escapedIds) : undefined;
  }

  /** Keys of the rules (in constructor order), or `undefined` when a scope value is missing or empty. */
  lookup(ctx: LimitContext): ScopeKeys | undefined {
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
    let found = node.get(v) as ScopeKeys | undefined;
    if (found === undefined) {
      const keys = this.build(ctx);
      if (keys === undefined) return undefined;
      found = entry(keys);
      if (++this.entries > this.maxEntries) {
        this.root = new Map();
        this.entries = 0;
      } else {
        node.set(v, found);
      }
    }
    return found;
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

function entry(keys: readonly string[]): ScopeKeys {
  return { keys, handles: new Array<unknown>(keys.length).fill(undefined) };
}

/** Forces a concatenated string into one flat string (V8 otherwise keeps a rope until first use). */
function flatten(s: string): string {
  return s.length > 0 ? (s.charCodeAt(0), s) : s;
}
