/**
 * The mark {@link RedisLimiterStore} returns for an admitted in-flight concurrency charge: the member
 * of the lease the charge added to its key's sorted set. The core's reservation hands it back on the
 * charge's release, which then removes exactly that lease. A release the store sends again after an
 * outage (also when the first one did run) or a release after its lease expired therefore frees
 * nobody else's slot. A release without a mark removes the oldest leases of the key; a marked release
 * that finds its lease gone before its time (taken by such a release) frees the oldest lease instead.
 *
 * @example
 * ```ts
 * const r = await store.reserve([{ key: 'model=m', kind: 'concurrency', limit: 4, windowMs: 0, amount: 1 }]);
 * const mark = r.ok ? r.marks?.[0] : undefined; // a LeaseMark
 * await store.adjust([{ key: 'model=m', kind: 'concurrency', limit: 4, windowMs: 0, delta: -1, mark }]);
 * ```
 */
export class LeaseMark {
  constructor(
    /** The sorted-set member: `<redis time>.<tag>|<amount>`. */
    readonly lease: string,
  ) {}
}
