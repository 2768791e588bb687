/** The spread is at most this share of the wait it is added to. */
export const QUOTA_SHARE_SPREAD_FRACTION = 0.1;
/** The spread is never longer than this (ms), however long the wait. */
export const QUOTA_SHARE_SPREAD_MAX_MS = 1_000;

/**
 * A random spread (whole ms) added to a share-based retry wait ({@link quotaShareWaitMs}) so that
 * processes refused by the same exhausted quota at the same moment — which compute the same wait, as
 * they do not see each other's pending retries — do not all retry at the same millisecond: `random()`
 * (a draw in [0, 1), the engine's injected random source) times the smaller of
 * {@link QUOTA_SHARE_SPREAD_FRACTION} (10%) of the wait and {@link QUOTA_SHARE_SPREAD_MAX_MS} (1 s).
 * Only for a wait the engine computed: a provider's own `retry-after` is never spread.
 *
 * @example
 * ```ts
 * quotaShareSpreadMs(32_400, () => 0.5); // 500: half of min(3 240, 1 000)
 * quotaShareSpreadMs(2_000, () => 0.5); // 100: half of 10% of 2 s
 * ```
 */
export function quotaShareSpreadMs(waitMs: number, random: () => number): number {
  if (!(waitMs > 0)) return 0;
  const most = Math.min(waitMs * QUOTA_SHARE_SPREAD_FRACTION, QUOTA_SHARE_SPREAD_MAX_MS);
  return Math.floor(most * random());
}
