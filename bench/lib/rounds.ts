/**
 * Element-wise `a[i] / b[i]`: per-round ratios of two contenders measured in the same rounds (adjacent
 * runs share the machine's background load, so their ratio is steadier than either number).
 *
 * @example
 * ```ts
 * median(ratios(byName.ours, byName.peer));
 * ```
 */
export function ratios(a: readonly number[], b: readonly number[]): number[] {
  return a.map((x, i) => x / b[i]!);
}
