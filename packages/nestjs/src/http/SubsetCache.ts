/** Subsets of lists this long are keyed by a bitmask; of longer lists by the indices left out, as text. */
const MASK_BITS = 31;

/**
 * What is built from subsets of one list, each built once: `ResilienceGuard` keeps, per handler, the
 * `Limiter` of its rules less those a request was already charged for (by an earlier guard run of the
 * request), instead of building one per request. A subset is named by the indices it leaves out,
 * keyed by a bitmask (for lists of up to 31 items). At most `max` subsets are kept (2^n of n rules
 * could be asked for): past that, `without` builds a new value each time.
 *
 * @example
 * ```ts
 * const limiters = new SubsetCache(rules, (subset) => new Limiter(subset, store));
 * limiters.without([0]); // the Limiter of rules[1..], built at the first call, the same one after
 * ```
 */
export class SubsetCache<I, T> {
  private readonly built = new Map<number | string, T>();

  constructor(
    private readonly items: readonly I[],
    private readonly build: (subset: I[]) => T,
    private readonly max = 64,
  ) {}

  /**
   * The value of the items less those at `leftOut` (indices into the list, ascending).
   *
   * @example
   * ```ts
   * limiters.without([1, 2]); // built from items[0] and items[3..]
   * ```
   */
  without(leftOut: readonly number[]): T {
    let key: number | string;
    if (this.items.length <= MASK_BITS) {
      key = 0;
      for (const i of leftOut) key |= 1 << i;
    } else {
      key = leftOut.join(',');
    }
    let value = this.built.get(key);
    if (value === undefined) {
      value = this.build(this.items.filter((_, i) => !leftOut.includes(i)));
      if (this.built.size < this.max) this.built.set(key, value);
    }
    return value;
  }

  /**
   * How many subsets are kept.
   *
   * @example
   * ```ts
   * limiters.size; // 1 after limiters.without([0]), however often
   * ```
   */
  get size(): number {
    return this.built.size;
  }
}
