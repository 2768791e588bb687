/**
 * Small SVG chart builders for the report: time on the x axis (scenario seconds), shaded phase
 * bands, gridlines and a legend. Output is a self-contained `<svg>` string; no scripts, no fonts, no
 * network.
 */

/**
 * A named stretch of the x axis, drawn as a shaded band with its name on top.
 *
 * @example
 * ```ts
 * const b: Band = { from: 75, to: 125, label: 'outage' };
 * ```
 */
export interface Band {
  from: number;
  to: number;
  label: string;
}

/**
 * One series of a time chart: one value per bucket.
 *
 * @example
 * ```ts
 * const s: Series = { name: 'chat', color: '#2563eb', values: [3, 2.8, 3.1] };
 * ```
 */
export interface Series {
  name: string;
  color: string;
  /**
   * `null` is no value: a line breaks there (a gap, drawn as separate segments); stacked areas and
   * bars count it as 0.
   */
  values: readonly (number | null)[];
  /** Lines only: draw thicker (e.g. a total). */
  emphasis?: boolean;
}

/**
 * A vertical marker at `x` with a short label.
 *
 * @example
 * ```ts
 * const m: Marker = { x: 83.4, label: 'analyst downgraded' };
 * ```
 */
export interface Marker {
  x: number;
  label: string;
}

/**
 * Options of {@link timeChart}.
 *
 * @example
 * ```ts
 * timeChart({ kind: 'line', title: 'Spend', yLabel: 'USD', bucketS: 5, xMax: 210, series, bands });
 * ```
 */
export interface TimeChartOptions {
  kind: 'line' | 'stacked-area' | 'stacked-bars';
  title: string;
  yLabel: string;
  /** Width of one bucket in x units (seconds). Value `i` covers `[i, i+1) * bucketS`. */
  bucketS: number;
  xMax: number;
  series: readonly Series[];
  /** Extra lines drawn over bars or areas. */
  overlay?: readonly Series[];
  bands?: readonly Band[];
  markers?: readonly Marker[];
  yFormat?: (v: number) => string;
  width?: number;
  height?: number;
}

const M = { left: 64, right: 18, top: 44, bottom: 40 };
const BAND_FILLS = ['#f8fafc', '#eef2f7'];

/**
 * A chart over time: lines, stacked areas or stacked bars.
 *
 * @example
 * ```ts
 * const svg = timeChart({ kind: 'stacked-area', title: 'Throughput', yLabel: 'req/s', bucketS: 5, xMax: 210,
 *   series: [{ name: 'chat', color: '#2563eb', values }] });
 * ```
 */
export function timeChart(o: TimeChartOptions): string {
  const width = o.width ?? 920;
  const legendRows = legendLayout([...o.series, ...(o.overlay ?? [])].map((s) => s.name), width).rows;
  const height = (o.height ?? 250) + legendRows * 18;
  const plotH = (o.height ?? 250) - M.top - M.bottom;
  const plotW = width - M.left - M.right;
  const n = Math.max(0, ...o.series.map((s) => s.values.length), ...(o.overlay ?? []).map((s) => s.values.length));
  const stacked = o.kind !== 'line';
  const tops = stacked ? stackTops(o.series, n) : [];
  const maxY = Math.max(
    stacked ? Math.max(0, ...(tops.at(-1) ?? [0])) : Math.max(0, ...o.series.flatMap(present)),
    Math.max(0, ...(o.overlay ?? []).flatMap(present)),
  );
  const ticks = niceTicks(maxY > 0 ? maxY : 1);
  const yMax = ticks.at(-1)!;
  const x = (s: number) => M.left + (Math.min(s, o.xMax) / o.xMax) * plotW;
  const y = (v: number) => M.top + plotH - (v / yMax) * plotH;
  const fmt = o.yFormat ?? formatNumber;
  const mid = (i: number) => x((i + 0.5) * o.bucketS);

  const parts: string[] = [];
  parts.push(frame(o.bands ?? [], x, M.top, plotH, o.xMax, width));
  for (const t of ticks) {
    parts.push(`<line class="grid" x1="${M.left}" x2="${M.left + plotW}" y1="${r(y(t))}" y2="${r(y(t))}" stroke="#e2e8f0"/>`);
    parts.push(`<text x="${M.left - 6}" y="${r(y(t)) + 4}" text-anchor="end" class="tick">${esc(fmt(t))}</text>`);
  }
  if (o.kind === 'stacked-area') {
    o.series.forEach((s, k) => {
      const top = tops[k]!;
      const bottom = k > 0 ? tops[k - 1]! : new Array<number>(n).fill(0);
      if (top.every((v, i) => v === bottom[i])) return;
      const up = top.map((v, i) => `${r(mid(i))},${r(y(v))}`);
      const down = bottom.map((v, i) => `${r(mid(i))},${r(y(v))}`).reverse();
      parts.push(`<path class="area" d="M${up.join(' L')} L${down.join(' L')} Z" fill="${s.color}" fill-opacity="0.75" stroke="${s.color}" stroke-width="0.5"><title>${esc(s.name)}</title></path>`);
    });
  } else if (o.kind === 'stacked-bars') {
    const bw = Math.max(1, (o.bucketS / o.xMax) * plotW - 2);
    o.series.forEach((s, k) => {
      for (let i = 0; i < n; i++) {
        const v = s.values[i] ?? 0;
        if (v <= 0) continue;
        const base = k > 0 ? tops[k - 1]![i]! : 0;
        const yTop = y(base + v);
        const h = y(base) - yTop;
        parts.push(
          `<rect class="bar" x="${r(x(i * o.bucketS) + 1)}" y="${r(yTop)}" width="${r(bw)}" height="${r(Math.max(h, 0.5))}" fill="${s.color}"><title>${esc(`${s.name}: ${fmt(v)} at t=${i * o.bucketS}-${(i + 1) * o.bucketS}s`)}</title></rect>`,
        );
      }
    });
  }
  for (const s of o.kind === 'line' ? [...o.series, ...(o.overlay ?? [])] : (o.overlay ?? [])) {
    const d = linePath(s.values, mid, y, Math.max(1, ((o.bucketS / o.xMax) * plotW) / 4));
    if (d === '') continue;
    parts.push(`<path class="line" d="${d}" fill="none" stroke="${s.color}" stroke-width="${s.emphasis ? 3 : 1.8}" stroke-linejoin="round"><title>${esc(s.name)}</title></path>`);
  }
  for (const m of o.markers ?? []) {
    parts.push(`<line x1="${r(x(m.x))}" x2="${r(x(m.x))}" y1="${M.top}" y2="${M.top + plotH}" stroke="#0f172a" stroke-dasharray="4 3"/>`);
    parts.push(`<text x="${r(x(m.x)) + 4}" y="${M.top + 12}" class="marker">${esc(m.label)}</text>`);
  }
  parts.push(axes(x, M.top, plotH, plotW, o.xMax, o.yLabel));
  parts.push(legend([...o.series, ...(o.overlay ?? [])], width, (o.height ?? 250) - 4));
  return svg(width, height, o.title, parts.join(''));
}

/**
 * One swimlane of {@link laneChart}: consecutive states over time.
 *
 * @example
 * ```ts
 * const lane: Lane = { label: 'target:mini', segments: [{ from: 0, to: 76, state: 'closed' }, { from: 76, to: 91, state: 'open' }] };
 * ```
 */
export interface Lane {
  label: string;
  segments: readonly { from: number; to: number; state: string }[];
}

/**
 * States over time, one lane per item (breaker state per target), coloured by state.
 *
 * @example
 * ```ts
 * laneChart({ title: 'Breakers', lanes, colors: { closed: '#22c55e', open: '#ef4444' }, xMax: 210, bands });
 * ```
 */
export function laneChart(o: {
  title: string;
  lanes: readonly Lane[];
  colors: Readonly<Record<string, string>>;
  xMax: number;
  bands?: readonly Band[];
  width?: number;
}): string {
  const width = o.width ?? 920;
  const left = 150;
  const laneH = 20;
  const gap = 6;
  const plotH = o.lanes.length * (laneH + gap);
  const plotW = width - left - M.right;
  const states = Object.keys(o.colors);
  const height = M.top + plotH + M.bottom + 18;
  const x = (s: number) => left + (Math.max(0, Math.min(s, o.xMax)) / o.xMax) * plotW;
  const parts: string[] = [frame(o.bands ?? [], x, M.top, plotH, o.xMax, width)];
  o.lanes.forEach((lane, i) => {
    const top = M.top + i * (laneH + gap) + gap / 2;
    parts.push(`<text x="${left - 8}" y="${top + laneH / 2 + 4}" text-anchor="end" class="lane">${esc(lane.label)}</text>`);
    for (const s of lane.segments) {
      const w = x(s.to) - x(s.from);
      if (w <= 0) continue;
      parts.push(
        `<rect class="state" x="${r(x(s.from))}" y="${top}" width="${r(Math.max(w, 1))}" height="${laneH}" fill="${o.colors[s.state] ?? '#94a3b8'}"><title>${esc(`${lane.label}: ${s.state} from t=${s.from.toFixed(1)}s to t=${s.to.toFixed(1)}s`)}</title></rect>`,
      );
    }
  });
  parts.push(axes(x, M.top, plotH, plotW, o.xMax, '', left));
  parts.push(legend(states.map((s) => ({ name: s, color: o.colors[s]!, values: [] })), width, M.top + plotH + M.bottom + 4, left));
  return svg(width, height, o.title, parts.join(''));
}

function svg(width: number, height: number, title: string, body: string): string {
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 ${width} ${height}" width="100%" role="img" aria-label="${esc(title)}">` +
    `<title>${esc(title)}</title><text x="${M.left}" y="18" class="title">${esc(title)}</text>${body}</svg>`
  );
}

function frame(bands: readonly Band[], x: (s: number) => number, top: number, plotH: number, xMax: number, _width: number): string {
  return bands
    .filter((b) => b.from < xMax)
    .map(
      (b, i) =>
        `<rect class="band" x="${r(x(b.from))}" y="${top}" width="${r(x(Math.min(b.to, xMax)) - x(b.from))}" height="${plotH}" fill="${BAND_FILLS[i % 2]}"/>` +
        `<text x="${r((x(b.from) + x(Math.min(b.to, xMax))) / 2)}" y="${top - 4}" text-anchor="middle" class="band-label">${esc(b.label)}</text>`,
    )
    .join('');
}

function axes(x: (s: number) => number, top: number, plotH: number, plotW: number, xMax: number, yLabel: string, left = M.left): string {
  const parts = [
    `<line x1="${left}" x2="${left + plotW}" y1="${top + plotH}" y2="${top + plotH}" stroke="#64748b"/>`,
    `<line x1="${left}" x2="${left}" y1="${top}" y2="${top + plotH}" stroke="#64748b"/>`,
  ];
  for (const t of niceTicks(xMax, 10)) {
    if (t > xMax) continue;
    parts.push(`<line x1="${r(x(t))}" x2="${r(x(t))}" y1="${top + plotH}" y2="${top + plotH + 4}" stroke="#64748b"/>`);
    parts.push(`<text x="${r(x(t))}" y="${top + plotH + 16}" text-anchor="middle" class="tick">${t}s</text>`);
  }
  parts.push(`<text x="${left + plotW}" y="${top + plotH + 32}" text-anchor="end" class="axis-label">scenario time</text>`);
  if (yLabel) parts.push(`<text transform="translate(14 ${top + plotH / 2}) rotate(-90)" text-anchor="middle" class="axis-label">${esc(yLabel)}</text>`);
  return parts.join('');
}

function legendLayout(names: readonly string[], width: number, left = M.left): { rows: number; pos: { x: number; row: number }[] } {
  let xPos = left;
  let row = 0;
  const pos = names.map((name) => {
    const w = 22 + name.length * 7 + 14;
    if (xPos + w > width - M.right && xPos > left) {
      row++;
      xPos = left;
    }
    const at = { x: xPos, row };
    xPos += w;
    return at;
  });
  return { rows: names.length ? row + 1 : 0, pos };
}

function legend(series: readonly Series[], width: number, top: number, left = M.left): string {
  const { pos } = legendLayout(
    series.map((s) => s.name),
    width,
    left,
  );
  return series
    .map((s, i) => {
      const p = pos[i]!;
      const yy = top + p.row * 18;
      return `<rect x="${p.x}" y="${yy}" width="14" height="10" fill="${s.color}" class="swatch"/><text x="${p.x + 19}" y="${yy + 9}" class="legend">${esc(s.name)}</text>`;
    })
    .join('');
}

/** A series' values that are present (not `null`). */
function present(s: Series): number[] {
  return s.values.filter((v): v is number => v !== null);
}

/**
 * The `d` of a line: one `M ... L ...` run per stretch of consecutive values, broken where a value is
 * `null`. A value alone between gaps is drawn as a short dash `halfWidth` either side of its point.
 */
function linePath(values: readonly (number | null)[], px: (i: number) => number, py: (v: number) => number, halfWidth: number): string {
  const runs: string[] = [];
  let run: { x: number; y: number }[] = [];
  const flush = () => {
    if (run.length === 1) runs.push(`M${r(run[0]!.x - halfWidth)},${r(run[0]!.y)} L${r(run[0]!.x + halfWidth)},${r(run[0]!.y)}`);
    else if (run.length > 1) runs.push(run.map((p, k) => `${k === 0 ? 'M' : 'L'}${r(p.x)},${r(p.y)}`).join(' '));
    run = [];
  };
  values.forEach((v, i) => {
    if (v === null) flush();
    else run.push({ x: px(i), y: py(v) });
  });
  flush();
  return runs.join(' ');
}

function stackTops(series: readonly Series[], n: number): number[][] {
  const tops: number[][] = [];
  let acc = new Array<number>(n).fill(0);
  for (const s of series) {
    acc = acc.map((v, i) => v + (s.values[i] ?? 0));
    tops.push(acc);
  }
  return tops;
}

/**
 * Round tick values from 0 to at least `max`.
 *
 * @example
 * ```ts
 * niceTicks(7.3); // [0, 2, 4, 6, 8]
 * ```
 */
export function niceTicks(max: number, count = 5): number[] {
  const raw = max / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const out: number[] = [];
  for (let v = 0; v < max + step - 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  if (out.length < 2) out.push(step);
  return out;
}

function formatNumber(v: number): string {
  if (v === 0) return '0';
  if (Math.abs(v) >= 1000) return `${(v / 1000).toFixed(v % 1000 === 0 ? 0 : 1)}k`;
  if (Math.abs(v) < 1) return v.toFixed(2);
  return Number.isInteger(v) ? String(v) : v.toFixed(1);
}

function r(v: number): number {
  return Math.round(v * 10) / 10;
}

/**
 * Escapes text for SVG/HTML.
 *
 * @example
 * ```ts
 * esc('a < b'); // 'a &lt; b'
 * ```
 */
export function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}
