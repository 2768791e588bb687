import { KeySlot } from './KeySlot';
import { escapeKeyValue } from './limitKey';
import type { LimitContext, ScopeDimension } from './LimitRule';

/**
 * The store keys of one scope-value combination, one per rule of the group, each with the handle the
 * store handed out for it (see {@link KeySlot}).
 *
 * @example
 * ```ts
 * const entry = cache.lookup({ user: 'u1' });
 * if (entry) console.log(entry[0].key, entry[0].handle);
 * ```
 */
export type ScopeKeys = readonly KeySlot[];

type Node = Map<string, Node | ScopeKeys>;

/**
 * Default bound of a {@link ScopeKeyCache}: value combinations (e.g. users) per scope whose keys stay
 * cached. Measured: about 300 bytes per combination for a scope with two rules, key strings included
 * (the memory store's map holds the same strings), so at most about 60 MB for 200 000 users.
 */
const DEFAULT_KEY_CACHE_SIZE = 200_000;

/**
 * Store keys of every rule sharing one scope, cached by the scope's values. Returns the *same* string
 * objects for the same values, so the store's map finds them by a cached hash and pointer equality
 * instead of flattening and hashing a freshly concatenated key on every request (most of the cost of
 * an in-memory reservation). Each key is a {@link KeySlot} that also keeps the store's handle for it,
 * so a store that hands out handles (the memory store: the key's counter) is not asked to look the
 * key up again. The cache is a trie of maps, one level per dimension.
 *
 * It holds at most `maxEntries` value combinations, in two generations: new entries go into the
 * current one; when it holds half of `maxEntries` it becomes the previous one and a new one starts. An
 * entry found in the previous generation moves to the current one with its handles, so a value looked
 * up again before `maxEntries / 2` other entries were added stays cached, and a population larger than
 * the cache costs a rebuild per miss instead of losing every entry at once.
 *
 * Keys are exactly those of {@link limitKey}.
 *
 * @example
 * ```ts
 * const cache = new ScopeKeyCache(['user'], ['user-rpm', 'user-tpm']);
 * cache.lookup({ user: 'u1' })?.map((s) => s.key); // ['user-rpm|user=u1', 'user-tpm|user=u1']
 * ```
 */
export class ScopeKeyCache {
  private root: Node = new Map();
  /** The previous generation, looked up on a miss in {@link root}; undefined until the first turn. */
  private previous: Node | undefined;
  /** Entries in the current generation. */
  private entries = 0;
  private readonly generationSize: number;
  private readonly escapedIds: readonly string[];
  private readonly constant: ScopeKeys | undefined;

  constructor(
    private readonly scope: readonly ScopeDimension[],
    ruleIds: readonly string[],
    maxEntries = DEFAULT_KEY_CACHE_SIZE,
  ) {
    if (!(maxEntries >= 2) || !Number.isFinite(maxEntries)) {
      throw new RangeError(`ScopeKeyCache: maxEntries must be a finite number >= 2, got ${maxEntries}.`);
    }
    this.generationSize = Math.ceil(maxEntries / 2);
    this.escapedIds = ruleIds.map(escapeKeyValue);
    this.constant = scope.length === 0 ? this.escapedIds.map((id) => new KeySlot(id)) : undefined;
  }

  /** Keys of the rules (in constructor order), or `undefined` when a scope value is missing or empty. */
  lookup(ctx: LimitContext): ScopeKeys | undefined {
    if (this.constant !== undefined) return this.constant;
    const scope = this.scope;
    const last = scope.length - 1;
    // Hot path: walk existing nodes only. Nothing is created before every value is known to be
    // present (see `insert`): a later dimension missing must not leave nodes behind.
    let node = this.root;
    for (let d = 0; d < last; d++) {
      const v = ctx[scope[d]!];
      if (v === undefined || v === '') return undefined;
      const child = node.get(v) as Node | undefined;
      if (child === undefined) return this.insert(ctx);
      node = child;
    }
    const v = ctx[scope[last]!];
    if (v === undefined || v === '') return undefined;
    const found = node.get(v) as ScopeKeys | undefined;
    return found !== undefined ? found : this.insert(ctx);
  }

  /**
   * @internal Trie nodes (maps) in both generations, the roots included: what the cache holds besides
   * its entries. For tests and diagnostics; it walks the whole trie.
   */
  get nodeCount(): number {
    const count = (node: Node, depth: number): number => {
      let n = 1;
      if (depth < this.scope.length - 1) for (const child of node.values()) n += count(child as Node, depth + 1);
      return n;
    };
    if (this.constant !== undefined) return 0;
    return count(this.root, 0) + (this.previous === undefined ? 0 : count(this.previous, 0));
  }

  /**
   * A miss of {@link lookup}: checks that every scope value is present before creating any node, then
   * adds the entry (moved from the previous generation, or built) to the current one.
   */
  private insert(ctx: LimitContext): ScopeKeys | undefined {
    const scope = this.scope;
    for (let d = 0; d < scope.length; d++) {
      const v = ctx[scope[d]!];
      if (v === undefined || v === '') return undefined;
    }
    const last = scope.length - 1;
    let node = this.root;
    for (let d = 0; d < last; d++) {
      const v = ctx[scope[d]!]!;
      let child = node.get(v) as Node | undefined;
      if (child === undefined) {
        child = new Map();
        node.set(v, child);
      }
      node = child;
    }
    const found = (this.previous === undefined ? undefined : this.inPrevious(ctx)) ?? this.build(ctx);
    node.set(ctx[scope[last]!]!, found);
    if (++this.entries >= this.generationSize) {
      this.previous = this.root;
      this.root = new Map();
      this.entries = 0;
    }
    return found;
  }

  /** The entry for `ctx` in the previous generation (every scope value is present: checked by the caller). */
  private inPrevious(ctx: LimitContext): ScopeKeys | undefined {
    const scope = this.scope;
    let node: Node | ScopeKeys | undefined = this.previous;
    for (let d = 0; d < scope.length && node !== undefined; d++) node = (node as Node).get(ctx[scope[d]!]!);
    return node as ScopeKeys | undefined;
  }

  /** The keys for `ctx` (every scope value is present: checked by the caller). */
  private build(ctx: LimitContext): KeySlot[] {
    let suffix = '';
    for (const dim of this.scope) suffix += `|${dim}=${escapeKeyValue(ctx[dim]!)}`;
    // Flatten now: the store hashes each key once and reuses the hash.
    return this.escapedIds.map((id) => new KeySlot(flatten(id + suffix)));
  }
}

/** Forces a concatenated string into one flat string (V8 otherwise keeps a rope until first use). */
function flatten(s: string): string {
  return s.length > 0 ? (s.charCodeAt(0), s) : s;
}
