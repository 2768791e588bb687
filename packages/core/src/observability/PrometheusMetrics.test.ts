import * as promClient from 'prom-client';
import { Counter, Registry } from 'prom-client';
import { drive, http, scripted, setup } from '../engine/engineTestKit';
import { ResilienceError } from '../errors/ResilienceError';
import { PrometheusMetrics } from './PrometheusMetrics';
import { attemptRecord, fallbackRecord } from './testRecords';

function playScenario(sink: PrometheusMetrics) {
  const record = fallbackRecord();
  for (const a of record.attempts) sink.attempt(a, { route: record.route, priority: record.priority });
  sink.request(record);
}

/** The sample lines of one metric family (no HELP/TYPE comments). */
function lines(text: string, name: string): string[] {
  return text.split('\n').filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `));
}

describe('PrometheusMetrics', () => {
  it('exposes request, attempt, token, cost, retry, fallback and skip metrics', async () => {
    const registry = new Registry();
    playScenario(new PrometheusMetrics({ registry }));
    const text = await registry.metrics();

    expect(lines(text, 'llm_resilience_requests_total')).toEqual([
      'llm_resilience_requests_total{route="support_reply",priority="live",outcome="success",fallback_used="true"} 1',
    ]);
    expect(lines(text, 'llm_resilience_attempts_total')).toEqual([
      'llm_resilience_attempts_total{route="support_reply",target="primary",provider="openai",model="model_a",outcome="error",error_kind="rate_limited"} 2',
      'llm_resilience_attempts_total{route="support_reply",target="backup",provider="anthropic",model="model_b",outcome="success"} 1',
    ]);
    expect(lines(text, 'llm_resilience_tokens_total')).toEqual([
      'llm_resilience_tokens_total{route="support_reply",model="model_b",type="input"} 1800',
      'llm_resilience_tokens_total{route="support_reply",model="model_b",type="output"} 420',
    ]);
    expect(lines(text, 'llm_resilience_cost_usd_total')).toEqual([
      'llm_resilience_cost_usd_total{route="support_reply",model="model_b",kind="estimated"} 0.02',
      'llm_resilience_cost_usd_total{route="support_reply",model="model_b",kind="actual"} 0.014',
    ]);
    expect(lines(text, 'llm_resilience_retries_total')).toEqual(['llm_resilience_retries_total{route="support_reply"} 2']);
    expect(lines(text, 'llm_resilience_fallbacks_total')).toEqual([
      'llm_resilience_fallbacks_total{route="support_reply",target="backup"} 1',
    ]);
    expect(lines(text, 'llm_resilience_skipped_targets_total')).toEqual([
      'llm_resilience_skipped_targets_total{route="support_reply",target="eu-only",reason="data_class"} 1',
    ]);
    expect(lines(text, 'llm_resilience_rate_limits_absorbed_total')).toEqual([
      'llm_resilience_rate_limits_absorbed_total{route="support_reply",target="primary",provider="openai"} 2',
    ]);
    expect(text).toContain(
      'llm_resilience_request_duration_seconds_sum{route="support_reply",priority="live",outcome="success"} 4.2',
    );
    expect(text).toContain(
      'llm_resilience_request_duration_seconds_count{route="support_reply",priority="live",outcome="success"} 1',
    );
    expect(text).toContain(
      'llm_resilience_attempt_duration_seconds_sum{route="support_reply",target="primary",provider="openai",model="model_a",outcome="error"} 0.5',
    );
    expect(text).toContain('# TYPE llm_resilience_request_duration_seconds histogram');
  });

  it("adds a cut-off call's late usage to the token totals and its cost as kind late (late_estimated when it reported none)", async () => {
    const registry = new Registry();
    const sink = new PrometheusMetrics({ registry });
    playScenario(sink);
    const late = { route: 'support_reply', priority: 'live', target: 'primary', provider: 'openai', model: 'model_a' };
    sink.lateUsage({ ...late, inputTokens: 1_000, outputTokens: 250, costUsd: 0.005, estimated: false });
    sink.lateUsage({ ...late, inputTokens: 500, outputTokens: 0, costUsd: 0.0004, estimated: false });
    // No usage reported: the estimate is no count of tokens, only an upper bound of the cost.
    sink.lateUsage({ ...late, inputTokens: 700, outputTokens: 300, costUsd: 0.003, estimated: true });
    const text = await registry.metrics();
    expect(lines(text, 'llm_resilience_tokens_total')).toEqual([
      'llm_resilience_tokens_total{route="support_reply",model="model_b",type="input"} 1800',
      'llm_resilience_tokens_total{route="support_reply",model="model_b",type="output"} 420',
      'llm_resilience_tokens_total{route="support_reply",model="model_a",type="input"} 1500',
      'llm_resilience_tokens_total{route="support_reply",model="model_a",type="output"} 250',
    ]);
    expect(lines(text, 'llm_resilience_cost_usd_total')).toEqual([
      'llm_resilience_cost_usd_total{route="support_reply",model="model_b",kind="estimated"} 0.02',
      'llm_resilience_cost_usd_total{route="support_reply",model="model_b",kind="actual"} 0.014',
      'llm_resilience_cost_usd_total{route="support_reply",model="model_a",kind="late"} 0.0054',
      'llm_resilience_cost_usd_total{route="support_reply",model="model_a",kind="late_estimated"} 0.003',
    ]);
    // No request or attempt is counted for it: those ended with their own records.
    expect(lines(text, 'llm_resilience_requests_total')).toHaveLength(1);
  });

  it('does not count tokens for a request that failed without any answer (every call a 503)', async () => {
    // No provider answered, nothing was billed: the record's input_tokens (the pre-call estimate, 1000)
    // are no tokens used.
    const registry = new Registry();
    const { engine, clock } = setup({}, { chat: { chain: ['a', 'b'] } }, { metrics: new PrometheusMetrics({ registry }) });
    const { fn } = scripted({ a: [http(503)], b: [http(503)] });
    await drive(clock, engine.execute({ route: 'chat', inputTokens: 1000 }, fn)).catch(() => undefined);
    expect(lines(await registry.metrics(), 'llm_resilience_tokens_total')).toEqual([]);
  });

  it('does not count tokens for a request rejected at admission (no call made)', async () => {
    const registry = new Registry();
    const { engine, clock, records } = setup(
      { limits: [{ scope: ['user'], metric: 'requests', limit: 1, window: '1m' }] },
      { chat: { chain: ['a', 'b'] } },
      { metrics: new PrometheusMetrics({ registry }) },
    );
    const { fn } = scripted({});
    await drive(clock, engine.execute({ route: 'chat', identity: { user: 'u' }, inputTokens: 10 }, fn));
    const before = lines(await registry.metrics(), 'llm_resilience_tokens_total');
    await drive(clock, engine.execute({ route: 'chat', identity: { user: 'u' }, inputTokens: 10 }, fn)).catch(() => undefined);
    expect(records[1]).toMatchObject({ outcome: 'failure', attempts: [] });
    expect(lines(await registry.metrics(), 'llm_resilience_tokens_total')).toEqual(before);
  });

  it("counts a broken-off stream's tokens only when its adapter gave their usage", async () => {
    const registry = new Registry();
    const { engine, clock } = setup({}, { chat: { chain: ['a'] } }, { metrics: new PrometheusMetrics({ registry }) });
    const open = () => drive(clock, engine.execute({ route: 'chat', inputTokens: 10, maxOutputTokens: 400, stream: true }, async () => ({ stream: true })));
    (await open()).fail(new Error('broken')); // no usage: its estimate was given back
    expect(lines(await registry.metrics(), 'llm_resilience_tokens_total')).toEqual([]);
    (await open()).fail(new Error('reader stopped'), { inputTokens: 10, outputTokens: 150 });
    expect(lines(await registry.metrics(), 'llm_resilience_tokens_total')).toEqual([
      'llm_resilience_tokens_total{route="chat",model="model-a",type="input"} 10',
      'llm_resilience_tokens_total{route="chat",model="model-a",type="output"} 150',
    ]);
  });

  it('never exposes user, team or tenant ids', async () => {
    const registry = new Registry();
    playScenario(new PrometheusMetrics({ registry }));
    expect(await registry.metrics()).not.toMatch(/user_456|team_secret|tenant_secret|req_123/);
  });

  it('labels failures with the error kind and counts validation failures', async () => {
    const registry = new Registry();
    const sink = new PrometheusMetrics({ registry });
    sink.attempt(attemptRecord({ outcome: 'invalid_output' }), { route: 'classify', priority: 'batch' });
    const { final_model: _m, final_target: _t, ...rest } = fallbackRecord();
    sink.request({ ...rest, route: 'classify', priority: 'batch', outcome: 'failure', error_kind: 'validation_failed' });
    const text = await registry.metrics();
    expect(lines(text, 'llm_resilience_validation_failures_total')).toEqual([
      'llm_resilience_validation_failures_total{route="classify",target="primary",model="model_a"} 1',
    ]);
    expect(lines(text, 'llm_resilience_requests_total')).toEqual([
      'llm_resilience_requests_total{route="classify",priority="batch",outcome="failure",fallback_used="true",error_kind="validation_failed"} 1',
    ]);
    expect(lines(text, 'llm_resilience_attempts_total')).toEqual([
      'llm_resilience_attempts_total{route="classify",target="primary",provider="openai",model="model_a",outcome="invalid_output",error_kind="validation_failed"} 1',
    ]);
    expect(lines(text, 'llm_resilience_rate_limits_absorbed_total')).toEqual([]);
  });

  it('exposes breaker state as a gauge (0 closed .. 4 ramping) and counts transitions', async () => {
    const registry = new Registry();
    const sink = new PrometheusMetrics({ registry });
    sink.breaker({ key: 'primary', scope: 'target', from: 'closed', to: 'open', reason: 'consecutive_failures', at: 1 });
    sink.breaker({ key: 'primary', scope: 'target', from: 'open', to: 'half_open', reason: 'cooldown', at: 2 });
    sink.breaker({ key: 'primary', scope: 'target', from: 'half_open', to: 'ramping', reason: 'probes_passed', at: 3 });
    sink.breaker({ key: 'openai', scope: 'provider', from: 'closed', to: 'paused', reason: 'Retry-After 30s', at: 4 });
    const text = await registry.metrics();
    expect(lines(text, 'llm_resilience_breaker_state')).toEqual([
      'llm_resilience_breaker_state{key="primary",scope="target"} 4',
      'llm_resilience_breaker_state{key="openai",scope="provider"} 3',
    ]);
    expect(text).toContain('# TYPE llm_resilience_breaker_state gauge');
    expect(lines(text, 'llm_resilience_breaker_transitions_total')).toContain(
      'llm_resilience_breaker_transitions_total{key="openai",scope="provider",from="closed",to="paused",reason="other"} 1',
    );
    expect(lines(text, 'llm_resilience_breaker_transitions_total')).toHaveLength(4);
  });

  it('records queue waits, rejections by reason and depth', async () => {
    const registry = new Registry();
    const sink = new PrometheusMetrics({ registry });
    sink.queue({ trafficClass: 'batch', event: 'enqueued', depth: 1 });
    sink.queue({ trafficClass: 'batch', event: 'admitted', waitedMs: 2500, depth: 0 });
    sink.queue({ trafficClass: 'batch', event: 'rejected', waitedMs: 600_000, reason: 'deadline', depth: 0 });
    const text = await registry.metrics();
    expect(text).toContain('llm_resilience_queue_wait_seconds_sum{traffic_class="batch",event="admitted"} 2.5');
    expect(text).toContain('llm_resilience_queue_wait_seconds_bucket{le="5",traffic_class="batch",event="admitted"} 1');
    expect(text).toContain('llm_resilience_queue_wait_seconds_sum{traffic_class="batch",event="rejected"} 600');
    expect(lines(text, 'llm_resilience_queue_rejections_total')).toEqual([
      'llm_resilience_queue_rejections_total{traffic_class="batch",reason="deadline"} 1',
    ]);
    expect(lines(text, 'llm_resilience_queue_depth')).toEqual(['llm_resilience_queue_depth{traffic_class="batch"} 0']);
  });

  it('records queued work whose admission failed: its wait under event failed and the depth, not as a rejection', async () => {
    const registry = new Registry();
    const sink = new PrometheusMetrics({ registry });
    sink.queue({ trafficClass: 'batch', event: 'enqueued', depth: 1 });
    sink.queue({ trafficClass: 'batch', event: 'failed', waitedMs: 1500, depth: 0 });
    const text = await registry.metrics();
    expect(text).toContain('llm_resilience_queue_wait_seconds_sum{traffic_class="batch",event="failed"} 1.5');
    expect(text).toContain('llm_resilience_queue_wait_seconds_count{traffic_class="batch",event="failed"} 1');
    expect(lines(text, 'llm_resilience_queue_rejections_total')).toEqual([]);
    expect(lines(text, 'llm_resilience_queue_depth')).toEqual(['llm_resilience_queue_depth{traffic_class="batch"} 0']);
  });

  it('shares metrics between two instances on one registry instead of throwing "already registered"', async () => {
    const registry = new Registry();
    const a = new PrometheusMetrics({ registry });
    const b = new PrometheusMetrics({ registry });
    a.request(fallbackRecord());
    b.request(fallbackRecord());
    expect(lines(await registry.metrics(), 'llm_resilience_requests_total')).toEqual([
      'llm_resilience_requests_total{route="support_reply",priority="live",outcome="success",fallback_used="true"} 2',
    ]);
  });

  it('uses the prefix for every name', async () => {
    const registry = new Registry();
    new PrometheusMetrics({ registry, prefix: 'gw_' }).request(fallbackRecord());
    const names = registry.getMetricsAsArray().map((m) => m.name);
    expect(names).toContain('gw_requests_total');
    expect(names.every((n) => n.startsWith('gw_'))).toBe(true);
  });

  it('refuses a registry where a same-named metric has another shape', () => {
    const registry = new Registry();
    new Counter({ name: 'llm_resilience_requests_total', help: 'theirs', labelNames: ['path'], registers: [registry] });
    expect(() => new PrometheusMetrics({ registry })).toThrow(
      expect.objectContaining({ code: 'ERR_LLMR_METRIC_CONFLICT', message: expect.stringContaining('another `prefix`') }),
    );
    expect(() => new PrometheusMetrics({ registry })).toThrow(ResilienceError);
  });

  it('accepts the prom-client module explicitly and custom buckets', async () => {
    const registry = new Registry();
    const sink = new PrometheusMetrics({ registry, client: promClient, buckets: { duration: [1, 10] } });
    sink.attempt(attemptRecord({ latencyMs: 5000 }), { route: 'r', priority: 'live' });
    const text = await registry.metrics();
    expect(text).toContain(
      'llm_resilience_attempt_duration_seconds_bucket{le="10",route="r",target="primary",provider="openai",model="model_a",outcome="success"} 1',
    );
    expect(text).not.toContain('le="0.01",route="r"');
  });

  it('keeps one queue_depth and breaker_state series per engine sharing a registry, told apart by `labels`', async () => {
    const registry = new Registry();
    const engineA = new PrometheusMetrics({ registry, labels: { engine: 'a' } });
    const engineB = new PrometheusMetrics({ registry, labels: { engine: 'b' } });
    engineA.queue({ trafficClass: 'batch', event: 'enqueued', depth: 3 });
    engineB.queue({ trafficClass: 'batch', event: 'enqueued', depth: 1 });
    engineB.queue({ trafficClass: 'batch', event: 'admitted', waitedMs: 10, depth: 0 });
    engineB.breaker({ key: 'target:a', scope: 'target', from: 'closed', to: 'open', reason: 'error_rate', at: 1 });
    engineA.breaker({ key: 'target:a', scope: 'target', from: 'closed', to: 'open', reason: 'error_rate', at: 2 });
    engineB.breaker({ key: 'target:a', scope: 'target', from: 'half-open', to: 'closed', reason: 'probes_succeeded', at: 3 });
    const text = await registry.metrics();
    expect(lines(text, 'llm_resilience_queue_depth')).toEqual([
      'llm_resilience_queue_depth{traffic_class="batch",engine="a"} 3',
      'llm_resilience_queue_depth{traffic_class="batch",engine="b"} 0',
    ]);
    expect(lines(text, 'llm_resilience_breaker_state')).toEqual([
      'llm_resilience_breaker_state{key="target:a",scope="target",engine="b"} 0',
      'llm_resilience_breaker_state{key="target:a",scope="target",engine="a"} 2',
    ]);
  });

  it('adds `labels` to every metric, counters and histograms included', async () => {
    const registry = new Registry();
    const sink = new PrometheusMetrics({ registry, labels: { engine: 'api' } });
    playScenario(sink);
    sink.queue({ trafficClass: 'batch', event: 'rejected', waitedMs: 5, reason: 'deadline', depth: 0 });
    sink.breaker({ key: 'k', scope: 'target', from: 'closed', to: 'open', reason: 'error_rate', at: 0 });
    sink.lateUsage({ route: 'r', priority: 'live', target: 't', provider: 'p', model: 'm', inputTokens: 1, outputTokens: 1, costUsd: 0.1, estimated: false });
    const samples = (await registry.metrics()).split('\n').filter((l) => l !== '' && !l.startsWith('#'));
    expect(samples.length).toBeGreaterThan(20);
    expect(samples.filter((l) => !l.includes('engine="api"'))).toEqual([]);
    expect(registry.getMetricsAsArray()).toHaveLength(16);
  });

  it('refuses `labels` that clash with the metrics\' own labels, the scrape\'s, or are not label names', () => {
    const bad: Array<Record<string, string>> = [{ route: 'x' }, { instance: 'x' }, { le: 'x' }, { 'bad-name': 'x' }, { __x: 'x' }, { engine: 1 as unknown as string }];
    for (const labels of bad) {
      expect(() => new PrometheusMetrics({ registry: new Registry(), labels })).toThrow(expect.objectContaining({ code: 'ERR_LLMR_INVALID_OPTIONS' }));
    }
    expect(() => new PrometheusMetrics({ registry: new Registry(), labels: {} })).not.toThrow();
  });

  it('refuses a second instance on the registry with other `labels` names', () => {
    const registry = new Registry();
    new PrometheusMetrics({ registry, labels: { engine: 'a' } });
    expect(() => new PrometheusMetrics({ registry, labels: { engine: 'b' } })).not.toThrow();
    expect(() => new PrometheusMetrics({ registry })).toThrow(expect.objectContaining({ code: 'ERR_LLMR_METRIC_CONFLICT' }));
    expect(() => new PrometheusMetrics({ registry, labels: { service: 'a' } })).toThrow(expect.objectContaining({ code: 'ERR_LLMR_METRIC_CONFLICT' }));
  });

  it('refuses a second instance on the registry asking for other histogram buckets', () => {
    const registry = new Registry();
    new PrometheusMetrics({ registry });
    expect(() => new PrometheusMetrics({ registry, buckets: { duration: [1, 600] } })).toThrow(
      expect.objectContaining({ code: 'ERR_LLMR_METRIC_CONFLICT', message: expect.stringContaining('buckets') }),
    );
    expect(() => new PrometheusMetrics({ registry, buckets: { queueWait: [1, 60] } })).toThrow(
      expect.objectContaining({ code: 'ERR_LLMR_METRIC_CONFLICT' }),
    );
    // The same buckets (the defaults, or the same custom ones) share the histograms.
    expect(() => new PrometheusMetrics({ registry })).not.toThrow();
    const custom = new Registry();
    new PrometheusMetrics({ registry: custom, buckets: { duration: [1, 600] } });
    expect(() => new PrometheusMetrics({ registry: custom, buckets: { duration: [1, 600] } })).not.toThrow();
  });

  it('defaults to the global registry', async () => {
    try {
      new PrometheusMetrics().request(fallbackRecord());
      expect(await promClient.register.getSingleMetricAsString('llm_resilience_requests_total')).toContain('outcome="success"');
    } finally {
      promClient.register.clear();
    }
  });

  it('never throws when a metric does', () => {
    class BrokenCounter extends Counter {
      constructor(config: ConstructorParameters<typeof Counter>[0]) {
        super(config);
        this.inc = () => {
          throw new Error('broken');
        };
      }
    }
    const sink = new PrometheusMetrics({ registry: new Registry(), client: { ...promClient, Counter: BrokenCounter } });
    expect(() => sink.request(fallbackRecord())).not.toThrow();
    expect(() => sink.attempt(attemptRecord(), { route: 'r', priority: 'live' })).not.toThrow();
    expect(() => sink.breaker({ key: 'k', scope: 'target', from: 'closed', to: 'open', reason: 'x', at: 0 })).not.toThrow();
    expect(() => sink.queue({ trafficClass: 'x', event: 'rejected', reason: 'shutdown', depth: 0 })).not.toThrow();
  });
});
