/**
 * A store key with the handle the store gave for it (see {@link LimitCharge.handle}). The limiter's key
 * cache keeps one per rule and scope value, for the whole life of the key, and the memory store reads
 * and updates them in place ({@link MemoryLimiterStore.reserveBatch}), so a reservation passes existing
 * objects instead of building a charge per rule per call.
 *
 * @example
 * ```ts
 * const slot = new KeySlot('user-rpm|user=u1'); // slot.handle: undefined until the store sets one
 * ```
 */
export class KeySlot {
  constructor(
    readonly key: string,
    /** Opaque and store-owned, as {@link LimitCharge.handle}. */
    public handle: unknown = undefined,
  ) {}
}
