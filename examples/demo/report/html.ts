import type { FakeProviderCounters } from '@llm-resilience/testing';
import type { Phase } from '../scenario';
import type { BreakerTransition, RouteRow, TimeSeries } from '../stats';
import { ATTEMPT_ERROR_LABELS } from '../stats';
import { formatMs, formatSuccessRate } from '../table';
import type { PolicySummary } from './policySummary';
import { esc, laneChart, timeChart, type Band, type Lane, type Series } from './svg';

/**
 * Everything the HTML report shows. Plain data (the demo builds it from its stats).
 *
 * @example
 * ```ts
 * writeFileSync('report.html', renderReport(data));
 * ```
 */
export interface ReportData {
  title: string;
  generatedAt: string;
  scenario: {
    mode: 'fake' | 'live';
    speed: number;
    scale: number;
    durationS: number;
    phases: readonly Phase[];
    notes: readonly string[];
    traffic: readonly { route: string; description: string; dataClass: string }[];
  };
  realDurationMs: number;
  targets: readonly { id: string; provider: string; model: string; role: string; price: { input: number; output: number }; dataClasses: string[] }[];
  rows: readonly RouteRow[];
  totals: RouteRow;
  series: TimeSeries;
  transitions: readonly BreakerTransition[];
  downgrades: readonly { atS: number; from: string; to: string }[];
  /** Breakers to draw, in lane order (`target:<id>`, `provider:<name>`). */
  breakerKeys: readonly string[];
  counters: Readonly<Record<string, FakeProviderCounters>>;
  attemptsByProvider: Readonly<Record<string, number>>;
  restrictedAttemptsByProvider: Readonly<Record<string, number>>;
  /** Attempts of `restricted` requests by target id, checked against the targets' `dataClasses`. */
  restrictedAttemptsByTarget: Readonly<Record<string, number>>;
  policy: PolicySummary;
}

const ROUTE_COLORS = ['#2563eb', '#16a34a', '#9333ea', '#dc2626', '#ea580c', '#0891b2', '#64748b'];
const ERROR_COLORS: Record<(typeof ATTEMPT_ERROR_LABELS)[number], string> = {
  '429 rate limited': '#f59e0b',
  '503 overloaded': '#dc2626',
  'connection reset': '#7c3aed',
  timeout: '#0f766e',
  'invalid JSON': '#db2777',
  other: '#64748b',
};
const CLASS_COLORS: Record<string, string> = { live: '#2563eb', batch: '#ea580c' };
const STATE_COLORS = { closed: '#22c55e', open: '#ef4444', 'half-open': '#f59e0b', ramping: '#06b6d4', paused: '#a855f7' };

/**
 * Renders the self-contained HTML report: summary, per-route table, charts over time (throughput,
 * errors, breaker state per target, spend, queue and latency), the data-class check and the fake
 * providers' counters. Inline CSS and SVG only: no scripts, no fonts, nothing fetched.
 *
 * @example
 * ```ts
 * const html = renderReport(result.report);
 * ```
 */
export function renderReport(d: ReportData): string {
  const s = d.series;
  const xMax = s.buckets * s.bucketS;
  const bands: Band[] = d.scenario.phases.map((p) => ({ from: p.from, to: p.to, label: p.name }));
  const perSecond = (v: readonly number[]) => v.map((x) => x / s.bucketS);
  const routes = d.rows.map((r) => r.route);

  const throughput = timeChart({
    kind: 'stacked-area',
    title: 'Throughput: successful requests per second, by route',
    yLabel: 'req/s',
    bucketS: s.bucketS,
    xMax,
    bands,
    series: routes.map((r, i) => ({ name: r, color: ROUTE_COLORS[i % ROUTE_COLORS.length]!, values: perSecond(s.successByRoute[r] ?? []) })),
    overlay: [{ name: 'answered by a fallback', color: '#0f172a', values: perSecond(s.fallbacks) }],
  });
  const errors = timeChart({
    kind: 'stacked-bars',
    title: `Errors: failed attempts per ${s.bucketS}s by cause, and failed requests`,
    yLabel: `per ${s.bucketS}s`,
    bucketS: s.bucketS,
    xMax,
    bands,
    series: ATTEMPT_ERROR_LABELS.map((l) => ({ name: l, color: ERROR_COLORS[l], values: s.attemptErrors[l] ?? [] })),
    overlay: [{ name: 'failed requests (seen by users)', color: '#0f172a', values: s.failed, emphasis: true }],
  });
  const breakers = laneChart({ title: 'Breaker state per target and provider', lanes: lanes(d, xMax), colors: STATE_COLORS, xMax, bands });
  const cumulative = (v: readonly number[]) => v.reduce<number[]>((acc, x) => [...acc, (acc.at(-1) ?? 0) + x], []);
  const spendSeries: Series[] = routes.map((r, i) => ({ name: r, color: ROUTE_COLORS[i % ROUTE_COLORS.length]!, values: cumulative(s.spendByRoute[r] ?? []) }));
  const totalSpend = cumulative(routes.reduce<number[]>((acc, r) => (s.spendByRoute[r] ?? []).map((v, i) => v + (acc[i] ?? 0)), []));
  const spend = timeChart({
    kind: 'line',
    title: 'Spend: cumulative USD, by route and in total',
    yLabel: 'USD',
    bucketS: s.bucketS,
    xMax,
    bands,
    series: [...spendSeries, { name: 'total', color: '#0f172a', values: totalSpend, emphasis: true }],
    markers: d.downgrades.slice(0, 1).map((g) => ({ x: g.atS, label: `${g.from} downgraded to ${g.to}` })),
    yFormat: (v) => `$${v < 0.1 ? v.toFixed(3) : v.toFixed(2)}`,
  });
  const queue = timeChart({
    kind: 'line',
    title: 'Batch queue depth (requests waiting for admission)',
    yLabel: 'queued',
    bucketS: s.bucketS,
    xMax,
    bands,
    height: 210,
    series: [{ name: 'queued', color: '#ea580c', values: s.queueDepth, emphasis: true }],
  });
  const latency = timeChart({
    kind: 'line',
    title: 'p95 latency by traffic class (requests ending in each interval, queue wait included)',
    yLabel: 'p95',
    bucketS: s.bucketS,
    xMax,
    bands,
    height: 230,
    series: Object.entries(s.p95LatencyMs).map(([cls, values]) => ({ name: `${cls} p95`, color: CLASS_COLORS[cls] ?? '#64748b', values, emphasis: cls === 'live' })),
    yFormat: (v) => formatMs(v),
  });

  const t = d.totals;
  const opened = d.transitions.filter((x) => x.to === 'open').length;
  const timeNote =
    d.scenario.mode === 'fake'
      ? `Scenario time runs ${d.scenario.speed}x faster than real time: ${d.scenario.durationS}s of traffic played in about ${(d.scenario.durationS / d.scenario.speed).toFixed(0)}s, so per-minute provider limits reset every ${(60 / d.scenario.speed).toFixed(1)} real seconds. Times, latencies and limits below are scenario time.`
      : 'Real time, against a real provider, at a gentle rate and without injected faults.';

  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(d.title)}</title>
<style>${CSS}</style>
</head>
<body>
<header>
  <h1>${esc(d.title)}</h1>
  <p class="sub">${d.scenario.mode === 'fake' ? 'Fake providers (in-process), scripted faults' : 'Live provider'} · generated ${esc(d.generatedAt)} · ran ${(d.realDurationMs / 1000).toFixed(1)}s real time</p>
  <p class="note">${esc(timeNote)}</p>
</header>
<section class="cards">
  ${card('requests', String(t.requests))}
  ${card('success', formatSuccessRate(t.success, t.requests))}
  ${card('retries', String(t.retries))}
  ${card('fallbacks', String(t.fallbacks))}
  ${card('429s absorbed', String(t.absorbed429))}
  ${card('breaker openings', String(opened))}
  ${card('spend', `$${t.costUsd.toFixed(4)}`)}
</section>
<section>
  <h2>Timeline</h2>
  <table class="compact"><thead><tr><th>phase</th><th>scenario time</th><th>what happens</th></tr></thead><tbody>
  ${d.scenario.phases.map((p) => `<tr><td>${esc(p.name)}</td><td>${p.from}–${p.to}s</td><td>${esc(p.description)}</td></tr>`).join('\n  ')}
  </tbody></table>
</section>
<section>
  <h2>Per route</h2>
  ${routeTable(d)}
</section>
<section class="charts">
  <h2>Over time</h2>
  <figure>${throughput}<figcaption>Traffic stays up through the throttling and the outage: the dark line is the share answered by a fallback target.</figcaption></figure>
  <figure>${errors}<figcaption>What the providers threw at the app (bars) against what users saw (dark line): retries, fallbacks and breakers absorb the rest.</figcaption></figure>
  <figure>${breakers}<figcaption>Breakers open when a target keeps failing, probe it when the open period ends (half-open), ramp traffic back, then close. Paused: repeated 429s until the provider's reset.</figcaption></figure>
  <figure>${spend}<figcaption>Premium spend is capped by a budget: past half of it, the analyst route is downgraded to the economy route.</figcaption></figure>
  <figure>${queue}<figcaption>The batch flood waits in the engine's queue (its team's token limit), so live traffic keeps its capacity.</figcaption></figure>
  <figure>${latency}<figcaption>Live requests stay fast through every phase; batch requests absorb the waiting (queue, Retry-After hints up to a minute).</figcaption></figure>
</section>
<section>
  <h2>Data class check</h2>
  ${dataClassSection(d)}
</section>
<section>
  <h2>The policy</h2>
  <table class="compact"><thead><tr><th>route</th><th>class</th><th>chain (fallback order)</th><th>settings</th></tr></thead><tbody>
  ${d.policy.routes.map((r) => `<tr><td>${esc(r.name)}</td><td>${esc(r.priority)}</td><td>${esc(r.chain.join(' → '))}</td><td class="muted">${esc(r.notes)}</td></tr>`).join('\n  ')}
  </tbody></table>
  <ul>
  ${[...d.policy.limits.map((l) => `Limit ${l}`), ...d.policy.budgets.map((b) => `Budget ${b}`), `Breakers ${d.policy.breaker}`].map((x) => `<li>${esc(x)}</li>`).join('\n  ')}
  </ul>
</section>
<section>
  <h2>Targets</h2>
  <table class="compact"><thead><tr><th>target</th><th>provider</th><th>model</th><th>price in / out (per 1M)</th><th>approved data classes</th><th>role</th></tr></thead><tbody>
  ${d.targets
    .map(
      (x) =>
        `<tr><td>${esc(x.id)}</td><td>${esc(x.provider)}</td><td>${esc(x.model)}</td><td>$${x.price.input} / $${x.price.output}</td><td>${esc(x.dataClasses.join(', '))}</td><td>${esc(x.role)}</td></tr>`,
    )
    .join('\n  ')}
  </tbody></table>
</section>
${countersSection(d)}
<section>
  <h2>Breaker transitions</h2>
  ${transitionsList(d.transitions)}
</section>
<footer>llm-resilience · <code>pnpm demo</code> · this file is self-contained (inline SVG, no scripts, no network)</footer>
</body>
</html>
`;
}

function card(label: string, value: string): string {
  return `<div class="card"><div class="value">${esc(value)}</div><div class="label">${esc(label)}</div></div>`;
}

function routeTable(d: ReportData): string {
  const desc = new Map(d.scenario.traffic.map((t) => [t.route, t]));
  const row = (r: RouteRow, total = false) => {
    const t = desc.get(r.route);
    const extra = total
      ? Object.entries(r.failures).map(([k, v]) => `${v} failed (${k})`)
      : [
      r.downgraded ? `${r.downgraded} downgraded` : '',
      r.invalidOutputs ? `${r.invalidOutputs} invalid JSON caught` : '',
      r.queued ? `${r.queued} queued` : '',
      ...Object.entries(r.skipped).map(([k, v]) => `${v} skipped a target (${k.replace('_', ' ')})`),
      ...Object.entries(r.failures).map(([k, v]) => `${v} failed (${k})`),
    ].filter(Boolean);
    return `<tr class="${total ? 'total' : ''}"><td><b>${esc(r.route)}</b>${t ? `<div class="muted">${esc(t.description)} · ${esc(t.dataClass)}</div>` : ''}</td>
<td class="num">${r.requests}</td><td class="num">${formatSuccessRate(r.success, r.requests)}</td><td class="num">${r.retries}</td><td class="num">${r.fallbacks}</td>
<td class="num">${r.absorbed429}</td><td class="num">${r.requests ? formatMs(r.p50Ms) : '-'}</td><td class="num">${r.requests ? formatMs(r.p95Ms) : '-'}</td><td class="num">$${r.costUsd.toFixed(4)}</td><td class="muted">${esc(extra.join(' · '))}</td></tr>`;
  };
  return `<table><thead><tr><th>route</th><th>requests</th><th>success</th><th>retries</th><th>fallbacks</th><th>429s absorbed</th><th>p50</th><th>p95</th><th>cost</th><th>notes</th></tr></thead>
<tbody>${d.rows.map((r) => row(r)).join('')}${row(d.totals, true)}</tbody></table>`;
}

function dataClassSection(d: ReportData): string {
  // Checked per target, against the targets the policy approves for 'restricted': in live mode every
  // target is on the same provider, so a check by provider would pass whatever target was used.
  const approved = d.targets.filter((t) => t.dataClasses.includes('restricted'));
  const approvedIds = new Set(approved.map((t) => t.id));
  const providerOf = new Map(d.targets.map((t) => [t.id, t.provider]));
  const named = (id: string) => `${id}${providerOf.has(id) ? ` (${providerOf.get(id)})` : ''}`;
  const restricted = Object.entries(d.restrictedAttemptsByTarget);
  const total = restricted.reduce((s, [, n]) => s + n, 0);
  const leaked = restricted.filter(([id]) => !approvedIds.has(id));
  const approvedText = approved.length ? approved.map((t) => named(t.id)).join(', ') : 'none';
  const verdict =
    leaked.length === 0
      ? `<span class="ok">✔ all ${total} attempts of 'restricted' requests went to targets approved for 'restricted' (${esc(approvedText)})</span>`
      : `<span class="bad">✘ 'restricted' requests reached targets not approved for 'restricted': ${esc(leaked.map(([id, n]) => `${named(id)}, ${n} attempt${n === 1 ? '' : 's'}`).join('; '))} (approved: ${esc(approvedText)})</span>`;
  const providers = Object.keys(d.counters);
  const rows = providers
    .map((p) => `<tr><td>${esc(p)}</td><td class="num">${d.restrictedAttemptsByProvider[p] ?? 0}</td><td class="num">${d.attemptsByProvider[p] ?? 0}</td><td class="num">${d.counters[p]!.requests}</td></tr>`)
    .join('');
  return `<p>${verdict}. A fallback chain must not cross a data-class boundary: the <code>records</code> route lists a cheaper target too, which is not approved for 'restricted', so the engine has to skip it. Checked per target against each target's approved data classes (in live mode all targets share one provider).</p>
${providers.length ? `<table class="compact"><thead><tr><th>provider</th><th>restricted attempts (engine)</th><th>all attempts (engine)</th><th>requests received (fake provider's own counter)</th></tr></thead><tbody>${rows}</tbody></table>` : ''}`;
}

function countersSection(d: ReportData): string {
  const providers = Object.entries(d.counters);
  if (providers.length === 0) return '';
  const rows = providers
    .map(([name, c]) => {
      const statuses = Object.entries(c.responsesByStatus)
        .map(([k, v]) => `${k}: ${v}`)
        .join(', ');
      const faults = Object.entries(c.faults)
        .map(([k, v]) => `${k}: ${v}`)
        .join(', ');
      return `<tr><td>${esc(name)}</td><td class="num">${c.requests}</td><td>${esc(statuses)}</td><td class="num">${c.rateLimited}</td><td class="num">${c.connectionResets}</td><td>${esc(faults || '-')}</td><td class="num">${c.tokensIn.toLocaleString('en')} / ${c.tokensOut.toLocaleString('en')}</td></tr>`;
    })
    .join('');
  return `<section><h2>What the fake providers saw</h2><table class="compact"><thead><tr><th>provider</th><th>requests</th><th>responses by status</th><th>429s sent</th><th>connection resets</th><th>faults injected</th><th>tokens in / out</th></tr></thead><tbody>${rows}</tbody></table></section>`;
}

function transitionsList(ts: readonly BreakerTransition[]): string {
  if (ts.length === 0) return '<p class="muted">No breaker changed state.</p>';
  return `<details><summary>${ts.length} transitions</summary><table class="compact"><thead><tr><th>t</th><th>breaker</th><th>from</th><th>to</th><th>reason</th></tr></thead><tbody>${ts
    .map((t) => `<tr><td>${t.atS.toFixed(1)}s</td><td>${esc(t.key)}</td><td>${esc(t.from)}</td><td>${esc(t.to)}</td><td>${esc(t.reason)}</td></tr>`)
    .join('')}</tbody></table></details>`;
}

function lanes(d: ReportData, xMax: number): Lane[] {
  return d.breakerKeys.map((key) => {
    const segments: { from: number; to: number; state: string }[] = [];
    let state = 'closed';
    let from = 0;
    for (const t of d.transitions) {
      if (t.key !== key) continue;
      const at = Math.min(Math.max(t.atS, 0), xMax);
      if (at > from) segments.push({ from, to: at, state });
      state = t.to;
      from = at;
    }
    if (from < xMax) segments.push({ from, to: xMax, state });
    return { label: key, segments };
  });
}

const CSS = `
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 980px; padding: 24px; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #0f172a; background: #fff; }
h1 { margin: 0 0 4px; font-size: 26px; }
h2 { margin: 28px 0 10px; font-size: 18px; border-bottom: 1px solid #e2e8f0; padding-bottom: 4px; }
.sub { margin: 0; color: #475569; }
.note { background: #f1f5f9; border-left: 4px solid #2563eb; padding: 8px 12px; margin: 12px 0 0; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(110px, 1fr)); gap: 10px; margin-top: 18px; }
.card { border: 1px solid #e2e8f0; border-radius: 8px; padding: 10px 12px; }
.card .value { font-size: 20px; font-weight: 650; }
.card .label { color: #64748b; font-size: 12px; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 6px 8px; border-bottom: 1px solid #e2e8f0; vertical-align: top; }
th { font-size: 12px; color: #475569; font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.total td { font-weight: 650; border-top: 2px solid #94a3b8; }
table.compact td, table.compact th { padding: 4px 8px; }
.muted { color: #64748b; font-size: 12px; }
figure { margin: 18px 0 26px; }
figcaption { color: #475569; font-size: 13px; margin-top: 2px; }
svg.chart { display: block; max-width: 100%; height: auto; }
svg .title { font-size: 14px; font-weight: 650; fill: #0f172a; }
svg .tick, svg .legend, svg .lane { font-size: 11px; fill: #334155; }
svg .axis-label { font-size: 11px; fill: #64748b; }
svg .band-label { font-size: 11px; fill: #64748b; }
svg .marker { font-size: 11px; fill: #0f172a; }
.ok { color: #15803d; font-weight: 600; }
.bad { color: #b91c1c; font-weight: 600; }
code { background: #f1f5f9; padding: 1px 4px; border-radius: 4px; }
footer { margin-top: 32px; color: #94a3b8; font-size: 12px; }
`;
