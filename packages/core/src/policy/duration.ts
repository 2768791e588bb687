const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const PATTERN = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/;

/**
 * A duration: milliseconds as a number, or a string like `'500ms'`, `'1s'`, `'1m'`, `'1h'`, `'1d'`.
 *
 * @example
 * ```ts
 * const window: Duration = '1m';
 * ```
 */
export type Duration = number | `${number}${'ms' | 's' | 'm' | 'h' | 'd'}`;

/**
 * Parses a {@link Duration} into milliseconds; returns `undefined` for anything else.
 *
 * @example
 * ```ts
 * parseDuration('1m'); // 60000
 * parseDuration(250);  // 250
 * ```
 */
export function parseDuration(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? value : undefined;
  if (typeof value !== 'string') return undefined;
  const m = PATTERN.exec(value.trim());
  if (!m) return undefined;
  return Number(m[1]) * UNITS[m[2]!]!;
}
