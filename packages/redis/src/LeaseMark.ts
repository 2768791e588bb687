/**
 * The mark {@link RedisLimiterStore} returns for an admitted in-flight concurrency charge: the member
 * of the lease the charge added to its key's sorted set. The core's reservation hands it back on the
 * charge's release, which then removes exactly that lease. A release sent twice (replayed after an
 * outage, or after a timeout although the script did run) or after its lease expired therefore frees
 * nobody else's slot; a release without it removes the oldest leases of the key.
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
