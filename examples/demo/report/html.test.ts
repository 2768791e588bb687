import type { RequestRecord } from '@llm-resilience/core';
import { DemoStats } from '../stats';
import { renderReport, type ReportData } from './html';

function record(over: Partial<RequestRecord>): RequestRecord {
  return {
    request_id: 'r', route: 'chat', priority: 'live', primary_model: 'm', fallback_used: false, retry_count: 0, outcome: 'success',
    latency_ms: 100, queue_wait_ms: 0, input_tokens: 10, output_tokens: 5, estimated_cost: 0.001, actual_cost: 0.001,
    attempts: [], skipped: [], breakers: {}, validation_failures: 0, started_at: 0, ...over,
  };
}

const attemptOn = (target: string, provider: string) => ({
  target, provider, model: 'gpt-4o-mini', attempt: 1, targetAttempt: 1, startedAt: 0, latencyMs: 5, outcome: 'success' as const, waitedMs: 0,
});

/** The live-mode targets: all on one provider, only `vault` approved for 'restricted'. */
const liveTargets: ReportData['targets'] = [
  { id: 'mini', provider: 'openai', model: 'gpt-4o-mini', role: 'primary', price: { input: 0.15, output: 0.6 }, dataClasses: ['public', 'internal'] },
  { id: 'vault', provider: 'openai', model: 'gpt-4o-mini', role: 'restricted', price: { input: 0.15, output: 0.6 }, dataClasses: ['public', 'internal', 'restricted'] },
];

function stats(routes = ['chat']): DemoStats {
  return new DemoStats({ epochMs: 0, durationS: 20, bucketS: 5, routes, now: () => 0 });
}

function report(s: DemoStats, over: Partial<ReportData> = {}): ReportData {
  return {
    title: 't', generatedAt: 'now',
    scenario: { mode: 'live', speed: 1, scale: 1, durationS: 20, phases: [{ name: 'p', from: 0, to: 20, description: 'd' }], notes: [],
      traffic: [{ route: 'chat', description: 'chat', dataClass: 'public' }] },
    realDurationMs: 1000, targets: liveTargets, rows: s.rows(), totals: s.totals(), series: s.series(), transitions: [], downgrades: [],
    breakerKeys: [], counters: {}, attemptsByProvider: s.attemptsByProvider(), restrictedAttemptsByProvider: s.attemptsByProvider('restricted'),
    restrictedAttemptsByTarget: s.attemptsByTarget('restricted'),
    policy: { routes: [], limits: [], budgets: [], breaker: '' }, ...over,
  };
}

describe('the HTML report', () => {
  it('shows "-" for the success and latencies of a route with no requests, and no success card value without requests', () => {
    const html = renderReport(report(stats()));
    expect(html).not.toContain('>-%<');
    expect(html).not.toContain('<td class="num">0ms</td>');
    expect(html).toContain('<td class="num">0</td><td class="num">-</td>');
    expect(html).toContain('<div class="value">-</div><div class="label">success</div>');
  });

  it('does not show 100.0% success when a request failed', () => {
    const s = stats();
    for (let i = 0; i < 2000; i++) s.records.push(record({ request_id: `c${i}`, ...(i === 0 ? { outcome: 'failure', error_kind: 'overloaded' } : {}) }));
    const html = renderReport(report(s));
    expect(html).not.toContain('100.0%');
    expect(html).toContain('<div class="value">99.9%</div><div class="label">success</div>');
  });

  it("flags a 'restricted' attempt on a target not approved for it, even on the approved target's provider", () => {
    const s = stats(['records']);
    s.records.push(record({ request_id: 'rec-1', route: 'records', data_class: 'restricted', attempts: [attemptOn('mini', 'openai')] }));
    const html = renderReport(report(s));
    expect(html).not.toContain('✔');
    expect(html).toContain("✘ 'restricted' requests reached targets not approved for 'restricted': mini (openai), 1 attempt (approved: vault (openai))");
  });

  it("passes the data-class check when every 'restricted' attempt went to an approved target", () => {
    const s = stats(['chat', 'records']);
    s.records.push(
      record({ request_id: 'rec-1', route: 'records', data_class: 'restricted', attempts: [attemptOn('vault', 'openai'), attemptOn('vault', 'openai')] }),
      record({ request_id: 'chat-1', data_class: 'public', attempts: [attemptOn('mini', 'openai')] }),
    );
    const html = renderReport(report(s));
    expect(html).not.toContain('✘');
    expect(html).toContain("✔ all 2 attempts of 'restricted' requests went to targets approved for 'restricted' (vault (openai))");
  });

  it('breaks the p95 latency line where an interval had no request of the class, instead of drawing it to 0 ms', () => {
    const s = stats();
    s.records.push(record({ request_id: 'b1', priority: 'batch', latency_ms: 3_000, started_at: 0 }), record({ request_id: 'b2', priority: 'batch', latency_ms: 3_000, started_at: 14_000 }));
    const html = renderReport(report(s));
    const chart = html.slice(html.indexOf('aria-label="p95 latency'));
    const batch = /<path class="line" d="([^"]*)"[^>]*><title>batch p95<\/title>/.exec(chart)!;
    expect(batch).not.toBeNull();
    // Two separate segments (buckets 0 and 3), both at the same height: nothing drawn at 0 ms in between.
    const moves = batch[1]!.match(/M[\d.]+,[\d.]+/g)!;
    expect(moves).toHaveLength(2);
    const ys = [...batch[1]!.matchAll(/[ML][\d.]+,([\d.]+)/g)].map((m) => m[1]);
    expect(new Set(ys).size).toBe(1);
  });
});
