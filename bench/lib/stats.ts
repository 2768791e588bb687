/**
 * Median of `values` (NaN when empty).
 *
 * @example
 * ```ts
 * median([3, 1, 2]); // 2
 * ```
 */
export function median(values: readonly number[]): number {
  return percentile(values, 50);
}

/**
 * The median item of `items` by `by` (the upper middle one for an even count): the round to report
 * whole, with all its numbers from one measurement. Undefined when empty.
 *
 * @example
 * ```ts
 * const round = medianItem(rounds, (r) => r.requestsPerSec);
 * ```
 */
export function medianItem<T>(items: readonly T[], by: (item: T) => number): T | undefined {
  const sorted = [...items].sort((a, b) => by(a) - by(b));
  return sorted[Math.floor(sorted.length / 2)];
}

/**
 * The `p`-th percentile (0..100) of `values`, linear interpolation between closest ranks; NaN when empty.
 *
 * @example
 * ```ts
 * percentile([10, 20, 30, 40], 95); // 38.5
 * ```
 */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = (p / 100) * (sorted.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (rank - lo);
}

/**
 * Nanoseconds since an arbitrary origin, from `process.hrtime.bigint()`.
 *
 * @example
 * ```ts
 * const t0 = nowNs(); work(); const ms = Number(nowNs() - t0) / 1e6;
 * ```
 */
export function nowNs(): bigint {
  return process.hrtime.bigint();
}

/**
 * CPU time (user + system) this process has used, in microseconds. On a busy machine it is steadier
 * than wall time, which also counts the time the process waited for a CPU.
 *
 * @example
 * ```ts
 * const c0 = cpuMicros(); work(); const cpuUs = cpuMicros() - c0;
 * ```
 */
export function cpuMicros(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}

/**
 * Wall and CPU time of one measured loop.
 *
 * @example
 * ```ts
 * const t = startTiming(); work(); const { wallUs, cpuUs } = t.stop();
 * ```
 */
export function startTiming(): { stop(): { wallUs: number; cpuUs: number } } {
  const c0 = cpuMicros();
  const t0 = process.hrtime.bigint();
  return {
    stop: () => {
      const wallUs = Number(process.hrtime.bigint() - t0) / 1000;
      return { wallUs, cpuUs: cpuMicros() - c0 };
    },
  };
}

/**
 * Milliseconds elapsed since `startNs` (a {@link nowNs} value).
 *
 * @example
 * ```ts
 * const t0 = nowNs(); await call(); elapsedMs(t0); // 12.3
 * ```
 */
export function elapsedMs(startNs: bigint): number {
  return Number(process.hrtime.bigint() - startNs) / 1e6;
}

/**
 * Formats a number for tables: thousands separators for large values, 2-3 significant decimals for small.
 *
 * @example
 * ```ts
 * formatNumber(1234567.8); // '1,234,568'
 * formatNumber(20);        // '20'
 * formatNumber(0.4567);    // '0.457'
 * ```
 */
export function formatNumber(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  if (Number.isInteger(n)) return n.toLocaleString('en-US');
  const abs = Math.abs(n);
  if (abs >= 1000) return Math.round(n).toLocaleString('en-US');
  if (abs >= 100) return n.toFixed(0);
  if (abs >= 10) return n.toFixed(1);
  if (abs >= 1) return n.toFixed(2);
  return n.toFixed(3);
}
