import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createFakeProvider, type FakeProvider } from '@llm-resilience/testing';
import { runDemo, type DemoResult } from './main';
import { formatTable } from './table';

const dir = mkdtempSync(join(tmpdir(), 'llmr-demo-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('the demo on fake providers (DEMO_DURATION_SCALE=0.2)', () => {
  let result: DemoResult;

  beforeAll(async () => {
    // env: {} so a developer's OPENAI_API_KEY does not switch the test to live mode.
    result = await runDemo({ env: {}, scale: 0.2, reportPath: join(dir, 'report.html'), out: null });
  }, 30_000);

  it('sends the whole scenario and keeps more than 90% of requests successful', () => {
    const { totals, rows, scenario } = result;
    expect(scenario.mode).toBe('fake');
    expect(totals.requests).toBeGreaterThan(200);
    expect(totals.success / totals.requests).toBeGreaterThan(0.9);
    expect(rows.map((r) => r.route)).toEqual(['chat', 'support', 'classify', 'records', 'analyst', 'summarize']);
    expect(rows.reduce((n, r) => n + r.requests, 0)).toBe(totals.requests);
    for (const r of rows) {
      expect(r.requests).toBeGreaterThan(0);
      expect(r.success).toBeLessThanOrEqual(r.requests);
      expect(r.p50Ms).toBeLessThanOrEqual(r.p95Ms);
    }
    expect(totals.costUsd).toBeCloseTo(
      result.records.reduce((s, r) => s + r.actual_cost, 0),
      9,
    );
  });

  it('absorbs the primary provider trouble with retries, fallbacks and a breaker that opens and closes again', () => {
    const { totals, transitions } = result;
    expect(totals.fallbacks).toBeGreaterThan(0);
    expect(totals.retries).toBeGreaterThan(0);
    // The outage opens the primary's breaker; after the outage, probes succeed and it closes again.
    const outage = result.scenario.phases.find((p) => p.name === 'outage')!;
    const mini = transitions.filter((t) => t.key === 'target:mini');
    const opened = mini.findIndex((t) => t.to === 'open' && t.atS >= outage.from && t.atS < outage.to);
    expect(opened).toBeGreaterThanOrEqual(0);
    expect(mini.slice(opened).some((t) => t.to === 'closed' && t.atS >= outage.to)).toBe(true);
  });

  it("keeps 'restricted' requests on the approved provider, as the fake providers' own counters confirm", () => {
    const { restrictedAttemptsByProvider, attemptsByProvider, counters, records } = result;
    expect(Object.keys(restrictedAttemptsByProvider)).toEqual(['citadel']);
    expect(restrictedAttemptsByProvider.citadel).toBeGreaterThan(0);
    // Each provider received exactly what the engine sent it: an attempt that timed out may or may
    // not have reached it, every other attempt did, and nothing else did.
    for (const provider of ['acme', 'borealis', 'citadel']) {
      const attempts = records.flatMap((r) => r.attempts.filter((a) => a.provider === provider));
      const sure = attempts.filter((a) => a.errorKind !== 'timeout').length;
      expect(counters[provider]!.requests).toBeGreaterThanOrEqual(sure);
      expect(counters[provider]!.requests).toBeLessThanOrEqual(attemptsByProvider[provider] ?? 0);
    }
    // citadel serves only the restricted route, so everything it saw was restricted.
    expect(counters.citadel!.requests).toBeLessThanOrEqual(restrictedAttemptsByProvider.citadel!);
    expect(records.filter((r) => r.data_class === 'restricted').every((r) => r.attempts.every((a) => a.target === 'vault'))).toBe(true);
    // The report checks them per target, against the targets approved for 'restricted'.
    expect(Object.keys(result.restrictedAttemptsByTarget)).toEqual(['vault']);
    const html = readFileSync(result.reportPath, 'utf8');
    expect(html).toContain(`✔ all ${result.restrictedAttemptsByTarget.vault} attempts of 'restricted' requests went to targets approved for 'restricted' (vault (citadel))`);
  });

  it('queues the batch flood, downgrades premium spend, skips the dear fallback over the cost ceiling, and catches invalid JSON', () => {
    const byRoute = Object.fromEntries(result.rows.map((r) => [r.route, r]));
    expect(byRoute.summarize!.queued).toBeGreaterThan(0);
    expect(Math.max(...result.report.series.queueDepth)).toBeGreaterThan(0);
    expect(byRoute.analyst!.downgraded).toBeGreaterThan(0);
    expect(byRoute.support!.skipped.cost_ceiling).toBeGreaterThan(0);
    expect(byRoute.classify!.invalidOutputs).toBeGreaterThan(0);
  });

  it('writes a self-contained HTML report and prints a table per route', () => {
    expect(result.reportPath).toBe(join(dir, 'report.html'));
    expect(existsSync(result.reportPath)).toBe(true);
    const html = readFileSync(result.reportPath, 'utf8');
    expect(html).toContain('<svg');
    expect(html).not.toMatch(/<script|https?:\/\/(?!www\.w3\.org\/2000\/svg)/);
    const table = formatTable(result.rows, result.totals);
    expect(table.split('\n')[0]).toMatch(/route\s+requests\s+success\s+retries\s+fallbacks\s+429s absorbed\s+p50\s+p95\s+cost/);
    expect(table).toContain('all routes');
  });
});

describe('the demo against an OpenAI-compatible endpoint (OPENAI_BASE_URL)', () => {
  let endpoint: FakeProvider;

  beforeAll(async () => {
    // Stands in for a real OpenAI-compatible server: any model name, no faults.
    endpoint = createFakeProvider({ seed: 3, models: {}, defaultModel: { contextWindow: 128_000, replyTokens: 30, latency: { firstTokenMs: 5 } } });
  });
  afterAll(() => endpoint.stop());

  it('runs the same routes gently, with the models from DEMO_MODELS and no injected faults', async () => {
    const { baseURL } = await endpoint.start();
    const result = await runDemo({
      env: { OPENAI_BASE_URL: baseURL, DEMO_MODELS: 'cheap-1,backup-1,premium-1', DEMO_DURATION_SCALE: '0.1' },
      reportPath: join(dir, 'live.html'),
      out: null,
    });
    expect(result.scenario.mode).toBe('live');
    expect(result.totals.requests).toBeLessThanOrEqual(25);
    expect(result.totals.success).toBe(result.totals.requests);
    expect(Object.keys(endpoint.counters.requestsByModel).sort()).toEqual(['cheap-1', 'premium-1']);
    expect(endpoint.counters.requests).toBe(result.totals.requests);
    expect(existsSync(join(dir, 'live.html'))).toBe(true);
    // Every target is on provider 'openai' here: the data-class check goes by target, not provider.
    expect(Object.keys(result.restrictedAttemptsByTarget).every((t) => t === 'vault')).toBe(true);
    expect(readFileSync(join(dir, 'live.html'), 'utf8')).toContain("went to targets approved for 'restricted' (vault (openai))");
  }, 30_000);
});
