/**
 * The mark {@link RedisLimiterStore} returns for an admitted in-flight concurrency charge: the member
 * of the lease the charge added to its key's sorted set. The core's reservation hands it back on the
 * charge's release, which then removes exactly that lease. A release the store sends again after an
 * outage (also when the first one did run), a release after its lease expired, or one whose lease
 * Redis lost (restart, failover, eviction) therefore frees nobody else's slot. A release without a
 * mark removes the oldest leases of the key and records what it took from each; a marked release whose
 * lease such a release took frees that many units of the oldest leases instead.
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
