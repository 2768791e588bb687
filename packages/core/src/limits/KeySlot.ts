/**
 * A store key with the handle the store gave for it (see {@link LimitCharge.handle}). The limiter's key
 * cache keeps one per rule and scope value, for the whole life of the key, and the memory store reads
 * and updates them in place ({@link MemoryLimiterStore.reserveBatch}), so a reservation passes existing
 * objects instead of building a charge per rule per call.
 *
 * The memory store also keeps its state in slots: the slot it was first given for a key becomes that
 * key's cell (`v`, `owner`), and other slots of the key get that cell as their handle. A cached slot
 * is then its own key's state, one object per rule and scope value.
 *
 * @example
 * ```ts
 * const slot = new KeySlot('user-rpm|user=u1'); // slot.handle: undefined until the store sets one
 * ```
 */
export class KeySlot {
  /** @internal Memory store: the key's value (rate: `tat` in store time; counter: the count) while {@link owner} is set. */
  v = 0;
  /** @internal Memory store: the id of the store whose cell this slot is, 0 when it is none's. */
  owner = 0;
  /**
   * @internal Memory store, rate keys: the refunded time (ms) taken off this key's `tat` so far, never
   * decreasing (a new cell starts from the store's largest), used to cap late refunds.
   */
  r = 0;

  constructor(
    readonly key: string,
    /** Opaque and store-owned, as {@link LimitCharge.handle}. */
    public handle: unknown = undefined,
  ) {}
}
