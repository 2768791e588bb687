/**
 * The shape a benchmark's `run()` returns so the runner (`bench/run.ts`) can print it and write it to
 * the Markdown summary. Benchmarks that return another shape still run: the runner prints their JSON.
 *
 * @example
 * ```ts
 * const result: BenchResult = {
 *   name: 'limiter',
 *   title: 'In-memory limiter decisions/s',
 *   metrics: [metric({ label: 'decisions/s', ours: 1.2e6, peer: 1.0e6, peerName: 'RateLimiterMemory', unit: 'ops/s', better: 'higher', target: '>= 1x', targetRatio: 1 })],
 *   notes: ['10 000 users, median of 7 rounds'],
 * };
 * ```
 */
export interface BenchResult {
  /** Short id, e.g. `limiter`, `engine-overhead`, `outage`. */
  name: string;
  /** One-line description for headings. */
  title?: string;
  metrics: BenchMetric[];
  /** Extra tables (e.g. one row per contender in the outage scenario). */
  tables?: BenchTable[];
  /** Method, parameters and caveats, one sentence each. */
  notes: string[];
}

/**
 * One number of ours, optionally against one peer measured in the same run.
 *
 * @example
 * ```ts
 * const m: BenchMetric = { label: 'overhead per call', ours: 1.4, peer: 0.6, peerName: 'cockatiel', unit: 'µs', better: 'lower', ratio: 2.33 };
 * ```
 */
export interface BenchMetric {
  label: string;
  ours: number;
  peer?: number;
  peerName?: string;
  unit: string;
  /** Which direction is better for this number. */
  better: 'higher' | 'lower';
  /** `ours / peer` (for `better: 'lower'` a ratio below 1 is good). */
  ratio?: number;
  /** Human-readable target, e.g. `>= 1x peer` or `< 2 µs`. */
  target?: string;
  /** Whether the target was met (undefined when there is no target). */
  met?: boolean;
}

/**
 * A free-form table, rendered as Markdown.
 *
 * @example
 * ```ts
 * const t: BenchTable = { title: 'Outage', columns: ['contender', 'success'], rows: [['ours', '100%']] };
 * ```
 */
export interface BenchTable {
  title: string;
  columns: string[];
  rows: Array<Array<string | number>>;
}

/**
 * Builds a metric, filling in `ratio` (ours / peer) and `met` from `targetRatio` or `targetValue`.
 *
 * @example
 * ```ts
 * metric({ label: 'decisions/s', ours: 2e6, peer: 1e6, peerName: 'RLF', unit: 'ops/s', better: 'higher', target: '>= 1x peer', targetRatio: 1 });
 * // ratio 2, met true
 * ```
 */
export function metric(
  m: Omit<BenchMetric, 'ratio' | 'met'> & {
    /** Overrides the computed `ours / peer` (e.g. a median of per-round ratios). */
    ratio?: number;
    /** Target on the ratio: `>=` when `better` is higher, `<=` when lower. */
    targetRatio?: number;
    /** Target on `ours` itself: `>=` when `better` is higher, `<` when lower. */
    targetValue?: number;
    /** Leave `ratio` out (e.g. for differences that can be negative, where a ratio means nothing). */
    noRatio?: boolean;
  },
): BenchMetric {
  const { targetRatio, targetValue, noRatio, ...rest } = m;
  const computed = m.peer !== undefined && m.peer > 0 && m.ours >= 0 ? m.ours / m.peer : undefined;
  const ratio = noRatio ? undefined : (m.ratio ?? computed);
  let met: boolean | undefined;
  if (targetRatio !== undefined && ratio !== undefined) {
    met = m.better === 'higher' ? ratio >= targetRatio : ratio <= targetRatio;
  } else if (targetValue !== undefined) {
    met = m.better === 'higher' ? m.ours >= targetValue : m.ours < targetValue;
  }
  const { ratio: _given, ...base } = rest;
  return { ...base, ...(ratio !== undefined && Number.isFinite(ratio) ? { ratio } : {}), ...(met !== undefined ? { met } : {}) };
}

/**
 * True when `value` has the {@link BenchResult} shape (the runner prints anything else as JSON).
 *
 * @example
 * ```ts
 * if (isBenchResult(r)) console.log(r.metrics.length);
 * ```
 */
export function isBenchResult(value: unknown): value is BenchResult {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Partial<BenchResult>;
  return (
    typeof v.name === 'string' &&
    Array.isArray(v.metrics) &&
    v.metrics.every((m) => typeof m === 'object' && m !== null && typeof m.label === 'string' && typeof m.ours === 'number') &&
    Array.isArray(v.notes)
  );
}
