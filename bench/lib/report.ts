import { isBenchResult, type BenchMetric, type BenchResult, type BenchTable } from './result';
import { formatNumber } from './stats';

/**
 * The outcome of running one benchmark file.
 *
 * @example
 * ```ts
 * const entry: BenchRun = { file: 'limiter.bench.ts', ok: true, result, durationMs: 41_000 };
 * ```
 */
export interface BenchRun {
  file: string;
  ok: boolean;
  /** What `run()` returned: a {@link BenchResult} or any other shape. */
  result?: unknown;
  /** Message and stack when `run()` threw or the file could not load. */
  error?: string;
  durationMs: number;
}

function ratioText(m: BenchMetric): string {
  return m.ratio === undefined ? '' : `${m.ratio.toFixed(2)}x`;
}

function targetText(m: BenchMetric): string {
  if (m.target === undefined) return '';
  return `${m.target} ${m.met === undefined ? '' : m.met ? '(met)' : '(NOT met)'}`.trim();
}

function metricRows(r: BenchResult): string[][] {
  return r.metrics.map((m) => [
    m.label,
    `${formatNumber(m.ours)} ${m.unit}`,
    m.peer === undefined ? '' : `${formatNumber(m.peer)} ${m.unit}`,
    m.peerName ?? '',
    ratioText(m),
    targetText(m),
  ]);
}

const METRIC_COLUMNS = ['metric', 'ours', 'peer', 'peer name', 'ours/peer', 'target'];

function cell(v: string | number): string {
  return typeof v === 'number' ? formatNumber(v) : v;
}

/** Fixed-width text table for the console. */
function textTable(columns: readonly string[], rows: ReadonlyArray<ReadonlyArray<string | number>>): string {
  const texts = rows.map((r) => r.map(cell));
  const widths = columns.map((c, i) => Math.max(c.length, ...texts.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(columns), line(widths.map((w) => '-'.repeat(w))), ...texts.map(line)].join('\n');
}

function mdEscape(s: string): string {
  return s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

function mdTable(columns: readonly string[], rows: ReadonlyArray<ReadonlyArray<string | number>>): string {
  return [
    `| ${columns.map(mdEscape).join(' | ')} |`,
    `|${columns.map(() => '---').join('|')}|`,
    ...rows.map((r) => `| ${columns.map((_, i) => mdEscape(cell(r[i] ?? ''))).join(' | ')} |`),
  ].join('\n');
}

/**
 * Rows for a result of unknown shape: one row per top-level object holding numbers (its numeric
 * fields as columns), and one row with the top-level numbers. Enough to read the other benchmarks'
 * own shapes (e.g. `{ ours: { opsPerSec }, peer: { opsPerSec }, throughputRatio }`).
 */
function genericTables(value: unknown): BenchTable[] {
  if (typeof value !== 'object' || value === null) return [];
  const tables: BenchTable[] = [];
  const objectRows: Array<[string, Record<string, number>]> = [];
  const scalars: Array<[string, string | number]> = [];
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    if (typeof v === 'number' || typeof v === 'string' || typeof v === 'boolean') {
      scalars.push([k, typeof v === 'boolean' ? String(v) : v]);
    } else if (typeof v === 'object' && v !== null && !Array.isArray(v)) {
      const nums: Record<string, number> = {};
      for (const [k2, v2] of Object.entries(v as Record<string, unknown>)) if (typeof v2 === 'number') nums[k2] = v2;
      if (Object.keys(nums).length > 0) objectRows.push([k, nums]);
    }
  }
  if (objectRows.length > 0) {
    const columns = [...new Set(objectRows.flatMap(([, nums]) => Object.keys(nums)))];
    tables.push({
      title: 'contenders',
      columns: ['', ...columns],
      rows: objectRows.map(([k, nums]) => [k, ...columns.map((c) => (nums[c] === undefined ? '' : nums[c]!))]),
    });
  }
  if (scalars.length > 0) tables.push({ title: 'values', columns: ['field', 'value'], rows: scalars });
  return tables;
}

/** Top-level numbers of an unknown result that look like ratios (`throughputRatio`, `oursToPeer`...). */
function ratioFields(value: unknown): string[] {
  if (typeof value !== 'object' || value === null) return [];
  return Object.entries(value as Record<string, unknown>)
    .filter(([k, v]) => typeof v === 'number' && (/ratio/i.test(k) || /[a-z]To[A-Z]/.test(k)))
    .map(([k, v]) => `${k} ${(v as number).toFixed(2)}`);
}

function errorHead(error: string | undefined): string {
  return (error ?? 'unknown error').split('\n').slice(0, 3).join(' / ');
}

/**
 * Prints one benchmark's result to the console: the metrics table (ours, peer, ratio, target), extra
 * tables and notes; a result of another shape is printed as JSON.
 *
 * @example
 * ```ts
 * printResult(await run());
 * ```
 */
export function printResult(result: unknown, log: (line: string) => void = console.log): void {
  if (!isBenchResult(result)) {
    log(JSON.stringify(result, null, 2));
    return;
  }
  log(`\n== ${result.name}${result.title ? `: ${result.title}` : ''}`);
  if (result.metrics.length > 0) log(textTable(METRIC_COLUMNS, metricRows(result)));
  for (const t of result.tables ?? []) {
    log(`\n${t.title}`);
    log(textTable(t.columns, t.rows));
  }
  for (const n of result.notes) log(`- ${n}`);
}

/**
 * The Markdown summary of a whole `pnpm bench` run.
 *
 * @example
 * ```ts
 * writeFileSync('bench/results/latest.md', toMarkdown(runs, { date: new Date(), environment: ['Node v20.20.2'] }));
 * ```
 */
export function toMarkdown(runs: readonly BenchRun[], meta: { date: Date; environment: readonly string[] }): string {
  const out: string[] = [];
  out.push(`# Benchmark results, ${meta.date.toISOString().slice(0, 10)}`, '');
  out.push(`Generated by \`pnpm bench\` at ${meta.date.toISOString()}. Ratios are ours / peer, measured in the same run.`, '');
  for (const e of meta.environment) out.push(`- ${e}`);
  out.push('', '## Summary', '');
  const summary: Array<Array<string | number>> = [];
  for (const r of runs) {
    if (!r.ok) {
      summary.push([r.file, 'FAILED', '', '', errorHead(r.error)]);
    } else if (isBenchResult(r.result)) {
      for (const m of r.result.metrics) {
        if (m.ratio === undefined && m.target === undefined) continue;
        summary.push([r.result.name, m.label, `${formatNumber(m.ours)} ${m.unit}`, ratioText(m), targetText(m)]);
      }
    } else {
      const keyRatios = ratioFields(r.result);
      summary.push([r.file, keyRatios.length > 0 ? keyRatios.join(', ') : 'see its section (own result shape)', '', '', '']);
    }
  }
  out.push(mdTable(['benchmark', 'metric', 'ours', 'ours/peer', 'target'], summary), '');
  for (const r of runs) {
    const name = isBenchResult(r.result) ? r.result.name : r.file;
    out.push(`## ${name}`, '');
    out.push(`\`bench/${r.file}\`, ${(r.durationMs / 1000).toFixed(1)} s.`, '');
    if (!r.ok) {
      out.push('**Failed:**', '', '```', r.error ?? 'unknown error', '```', '');
      continue;
    }
    if (isBenchResult(r.result)) {
      if (r.result.title) out.push(r.result.title, '');
      if (r.result.metrics.length > 0) out.push(mdTable(METRIC_COLUMNS, metricRows(r.result)), '');
      for (const t of r.result.tables ?? []) out.push(`**${t.title}**`, '', mdTable(t.columns, t.rows), '');
      for (const n of r.result.notes) out.push(`- ${n}`);
      out.push('');
    } else {
      for (const t of genericTables(r.result)) out.push(`**${t.title}**`, '', mdTable(t.columns, t.rows), '');
      out.push('<details><summary>raw result</summary>', '', '```json', JSON.stringify(r.result, null, 2), '```', '', '</details>', '');
    }
  }
  return out.join('\n');
}

/**
 * Runs a benchmark file on its own (`npx tsx bench/<name>.bench.ts`): prints its result, then lets the
 * file print extras; a failure sets a non-zero exit code.
 *
 * @example
 * ```ts
 * if (require.main === module) void import('./lib/report').then(({ runStandalone }) => runStandalone(run));
 * ```
 */
export async function runStandalone<R>(run: () => Promise<R>, after?: (result: R) => void): Promise<void> {
  try {
    const result = await run();
    printResult(result);
    after?.(result);
  } catch (err: unknown) {
    console.error(err);
    process.exitCode = 1;
  }
}
