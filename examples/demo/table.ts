import type { RouteRow } from './stats';

/**
 * The end-of-run table, one line per route plus a total, as plain text.
 *
 * @example
 * ```ts
 * console.log(formatTable(stats.rows(), stats.totals()));
 * ```
 */
export function formatTable(rows: readonly RouteRow[], total: RouteRow): string {
  const header = ['route', 'requests', 'success', 'retries', 'fallbacks', '429s absorbed', 'p50', 'p95', 'cost'];
  const line = (r: RouteRow) => [
    r.route,
    String(r.requests),
    formatSuccessRate(r.success, r.requests),
    String(r.retries),
    String(r.fallbacks),
    String(r.absorbed429),
    r.requests ? formatMs(r.p50Ms) : '-',
    r.requests ? formatMs(r.p95Ms) : '-',
    `$${r.costUsd.toFixed(4)}`,
  ];
  const body = rows.map(line);
  const foot = line(total);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length), foot[i]!.length));
  const fmt = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  const rule = widths.map((w) => '-'.repeat(w)).join('  ');
  return [fmt(header), rule, ...body.map(fmt), rule, fmt(foot)].join('\n');
}

/**
 * The share of `success` in `requests` as a percentage with one decimal, or `empty` (default `-`)
 * when there were no requests. Never rounds to `100.0%` while a request failed (1999 of 2000 is
 * `99.9%`), nor to `0.0%` while one succeeded.
 *
 * @example
 * ```ts
 * formatSuccessRate(198, 200); // '99.0%'
 * formatSuccessRate(1999, 2000); // '99.9%'
 * formatSuccessRate(0, 0); // '-'
 * ```
 */
export function formatSuccessRate(success: number, requests: number, empty = '-'): string {
  if (requests <= 0) return empty;
  const text = ((success / requests) * 100).toFixed(1);
  if (success < requests && text === '100.0') return '99.9%';
  if (success > 0 && text === '0.0') return '0.1%';
  return `${text}%`;
}

/**
 * Milliseconds as `850ms` or `2.4s`.
 *
 * @example
 * ```ts
 * formatMs(2400); // '2.4s'
 * ```
 */
export function formatMs(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)}ms` : `${(ms / 1000).toFixed(1)}s`;
}
