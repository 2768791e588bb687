import { metrics, type Meter } from '@opentelemetry/api';
import {
  DataPointType,
  MeterProvider,
  MetricReader,
  type DataPoint,
  type Histogram,
  type MetricData,
} from '@opentelemetry/sdk-metrics';
import { http, scripted, setup as engineSetup } from '../engine/engineTestKit';
import { OpenTelemetryMetrics, OTEL_METRIC_NAMES as N } from './OpenTelemetryMetrics';
import { attemptRecord, fallbackRecord } from './testRecords';

/** A pull reader: `collect()` returns what the SDK aggregated so far. */
class TestReader extends MetricReader {
  protected override async onShutdown(): Promise<void> {}
  protected override async onForceFlush(): Promise<void> {}
}

async function collect(reader: TestReader): Promise<Map<string, MetricData>> {
  const { resourceMetrics, errors } = await reader.collect();
  expect(errors).toEqual([]);
  const out = new Map<string, MetricData>();
  for (const scope of resourceMetrics.scopeMetrics) for (const m of scope.metrics) out.set(m.descriptor.name, m);
  return out;
}

function points(data: Map<string, MetricData>, name: string): Array<DataPoint<unknown>> {
  const m = data.get(name);
  if (!m) throw new Error(`no metric ${name}; have ${[...data.keys()].join(', ')}`);
  return m.dataPoints as Array<DataPoint<unknown>>;
}

function setup(options: { legacyGenAiSystem?: boolean } = {}) {
  const reader = new TestReader();
  const provider = new MeterProvider({ readers: [reader] });
  const sink = new OpenTelemetryMetrics({ meter: provider.getMeter('test'), ...options });
  return { reader, provider, sink };
}

function playScenario(sink: OpenTelemetryMetrics) {
  const record = fallbackRecord();
  for (const a of record.attempts) sink.attempt(a, { route: record.route, priority: record.priority });
  sink.request(record);
  return record;
}

describe('OpenTelemetryMetrics', () => {
  it('records gen_ai.client.operation.duration per attempt with GenAI semantic-convention attributes', async () => {
    const { reader, sink } = setup();
    playScenario(sink);
    const data = await collect(reader);
    const duration = data.get(N.operationDuration)!;
    expect(duration.descriptor.unit).toBe('s');
    expect(duration.dataPointType).toBe(DataPointType.HISTOGRAM);
    const pts = duration.dataPoints as Array<DataPoint<Histogram>>;
    const failed = pts.find((p) => p.attributes['error.type'] === 'rate_limited')!;
    expect(failed.attributes).toEqual({
      'gen_ai.operation.name': 'chat',
      'gen_ai.provider.name': 'openai',
      'gen_ai.request.model': 'model_a',
      'llm_resilience.route': 'support_reply',
      'llm_resilience.target': 'primary',
      'error.type': 'rate_limited',
    });
    expect(failed.value.count).toBe(2);
    expect(failed.value.sum).toBeCloseTo(0.5);
    const ok = pts.find((p) => p.attributes['error.type'] === undefined)!;
    expect(ok.attributes).toMatchObject({
      'gen_ai.provider.name': 'anthropic',
      'gen_ai.request.model': 'model_b',
      'gen_ai.response.model': 'model_b',
    });
    expect(ok.value.sum).toBeCloseTo(1.5);
    // Semconv bucket advice is applied.
    expect(ok.value.buckets.boundaries.slice(0, 3)).toEqual([0.01, 0.02, 0.04]);
  });

  it('records gen_ai.client.token.usage by token type', async () => {
    const { reader, sink } = setup();
    playScenario(sink);
    const pts = points(await collect(reader), N.tokenUsage) as Array<DataPoint<Histogram>>;
    const byType = Object.fromEntries(pts.map((p) => [p.attributes['gen_ai.token.type'], p]));
    expect(byType.input!.value.sum).toBe(1800);
    expect(byType.output!.value.sum).toBe(420);
    expect(byType.input!.attributes).toEqual({
      'gen_ai.operation.name': 'chat',
      'gen_ai.provider.name': 'anthropic',
      'gen_ai.request.model': 'model_b',
      'gen_ai.response.model': 'model_b',
      'gen_ai.token.type': 'input',
      'llm_resilience.route': 'support_reply',
    });
  });

  it('records no token usage for a request that failed without an answer (its input_tokens are the estimate)', async () => {
    const { reader, sink } = setup();
    const { final_model: _m, final_target: _t, ...rest } = fallbackRecord();
    const refused = attemptRecord({ outcome: 'error', errorKind: 'overloaded', status: 503 });
    sink.request({ ...rest, outcome: 'failure', error_kind: 'overloaded', output_tokens: 0, actual_cost: 0, attempts: [refused] });
    sink.request({ ...rest, outcome: 'failure', error_kind: 'rate_limited', output_tokens: 0, actual_cost: 0, attempts: [] });
    const data = await collect(reader);
    expect(data.has(N.tokenUsage) ? points(data, N.tokenUsage) : []).toEqual([]);
  });

  it("records a cut-off call's late usage as token usage and its cost as kind late", async () => {
    const { reader, sink } = setup();
    playScenario(sink);
    const where = { route: 'support_reply', priority: 'live', target: 'primary', provider: 'openai', model: 'model_a' };
    sink.lateUsage({ ...where, inputTokens: 1_000, outputTokens: 250, costUsd: 0.005, estimated: false });
    // No usage reported: only the estimated cost, no token points.
    sink.lateUsage({ ...where, inputTokens: 700, outputTokens: 300, costUsd: 0.003, estimated: true });
    const data = await collect(reader);
    const late = (points(data, N.tokenUsage) as Array<DataPoint<Histogram>>).filter((p) => p.attributes['gen_ai.request.model'] === 'model_a');
    expect(late.map((p) => [p.attributes['gen_ai.token.type'], p.value.sum, p.value.count])).toEqual([
      ['input', 1_000, 1],
      ['output', 250, 1],
    ]);
    expect(late[0]!.attributes).toEqual({
      'gen_ai.operation.name': 'chat',
      'gen_ai.provider.name': 'openai',
      'gen_ai.request.model': 'model_a',
      'gen_ai.response.model': 'model_a',
      'gen_ai.token.type': 'input',
      'llm_resilience.route': 'support_reply',
    });
    const cost = Object.fromEntries(points(data, N.cost).map((p) => [p.attributes['llm_resilience.cost_kind'], p.value]));
    expect(cost).toEqual({ estimated: 0.02, actual: 0.014, late: 0.005, late_estimated: 0.003 });
  });

  it('counts requests, retries, fallbacks, skips, absorbed 429s and cost', async () => {
    const { reader, sink } = setup();
    playScenario(sink);
    const data = await collect(reader);
    expect(points(data, N.requests)).toEqual([
      expect.objectContaining({
        value: 1,
        attributes: {
          'llm_resilience.route': 'support_reply',
          'llm_resilience.priority': 'live',
          'llm_resilience.outcome': 'success',
          'llm_resilience.fallback_used': true,
        },
      }),
    ]);
    expect(points(data, N.retries).map((p) => p.value)).toEqual([2]);
    expect(points(data, N.fallbacks).map((p) => [p.value, p.attributes['llm_resilience.target']])).toEqual([[1, 'backup']]);
    expect(points(data, N.skippedTargets).map((p) => p.attributes)).toEqual([
      { 'llm_resilience.route': 'support_reply', 'llm_resilience.target': 'eu-only', 'llm_resilience.skip_reason': 'data_class' },
    ]);
    expect(points(data, N.rateLimitsAbsorbed).map((p) => p.value)).toEqual([2]);
    const cost = Object.fromEntries(points(data, N.cost).map((p) => [p.attributes['llm_resilience.cost_kind'], p.value]));
    expect(cost).toEqual({ estimated: 0.02, actual: 0.014 });
    const duration = points(data, N.requestDuration) as Array<DataPoint<Histogram>>;
    expect(duration[0]!.value.sum).toBeCloseTo(4.2);
    const attempts = points(data, N.attempts);
    expect(attempts.map((p) => [p.attributes['llm_resilience.outcome'], p.value]).sort()).toEqual([
      ['error', 2],
      ['success', 1],
    ]);
  });

  it('puts the error kind on failed requests and counts validation failures', async () => {
    const { reader, sink } = setup();
    sink.attempt(attemptRecord({ outcome: 'invalid_output' }), { route: 'classify', priority: 'batch' });
    const { final_model: _m, final_target: _t, ...rest } = fallbackRecord();
    sink.request({ ...rest, route: 'classify', outcome: 'failure', error_kind: 'validation_failed' });
    const data = await collect(reader);
    expect(points(data, N.validationFailures)).toEqual([
      expect.objectContaining({
        value: 1,
        attributes: {
          'llm_resilience.route': 'classify',
          'llm_resilience.target': 'primary',
          'gen_ai.provider.name': 'openai',
          'gen_ai.request.model': 'model_a',
        },
      }),
    ]);
    const req = points(data, N.requests)[0]!;
    expect(req.attributes).toMatchObject({ 'llm_resilience.outcome': 'failure', 'error.type': 'validation_failed' });
    const op = points(data, N.operationDuration)[0]!;
    expect(op.attributes['error.type']).toBe('validation_failed');
    expect(op.attributes['gen_ai.response.model']).toBeUndefined();
    expect(data.has(N.rateLimitsAbsorbed)).toBe(false); // the 429s did not end in a success
  });

  it('tracks breaker transitions and the breaker state gauge', async () => {
    const { reader, sink } = setup();
    sink.breaker({ key: 'primary', scope: 'target', from: 'closed', to: 'open', reason: 'error_rate', at: 1 });
    sink.breaker({ key: 'primary', scope: 'target', from: 'open', to: 'half_open', reason: 'cooldown elapsed after 30s', at: 2 });
    sink.breaker({ key: 'openai', scope: 'provider', from: 'closed', to: 'paused', reason: 'rate_limited', at: 3 });
    const data = await collect(reader);
    const state = data.get(N.breakerState)!;
    expect(state.dataPointType).toBe(DataPointType.GAUGE);
    expect(state.dataPoints.map((p) => [p.attributes['llm_resilience.breaker.key'], p.value]).sort()).toEqual([
      ['openai', 3],
      ['primary', 1],
    ]);
    const transitions = points(data, N.breakerTransitions).map((p) => p.attributes);
    expect(transitions).toContainEqual({
      'llm_resilience.breaker.key': 'primary',
      'llm_resilience.breaker.scope': 'target',
      'llm_resilience.breaker.from': 'open',
      'llm_resilience.breaker.to': 'half_open',
      'llm_resilience.reason': 'other', // free text is folded to keep cardinality low
    });
    expect(transitions).toHaveLength(3);
  });

  it('records queue waits, events and depth', async () => {
    const { reader, sink } = setup();
    sink.queue({ trafficClass: 'batch', event: 'enqueued', depth: 1 });
    sink.queue({ trafficClass: 'batch', event: 'enqueued', depth: 2 });
    sink.queue({ trafficClass: 'batch', event: 'admitted', waitedMs: 1500, depth: 1 });
    sink.queue({ trafficClass: 'batch', event: 'rejected', waitedMs: 60_000, reason: 'deadline', depth: 0 });
    const data = await collect(reader);
    const wait = points(data, N.queueWait) as Array<DataPoint<Histogram>>;
    expect(wait.map((p) => [p.attributes['llm_resilience.queue.event'], p.value.sum]).sort()).toEqual([
      ['admitted', 1.5],
      ['rejected', 60],
    ]);
    expect(data.get(N.queueWait)!.descriptor.unit).toBe('s');
    const events = points(data, N.queueEvents).map((p) => [p.attributes['llm_resilience.queue.event'], p.attributes['llm_resilience.reason'], p.value]);
    expect(events.sort()).toEqual([
      ['admitted', undefined, 1],
      ['enqueued', undefined, 2],
      ['rejected', 'deadline', 1],
    ]);
    expect(points(data, N.queueDepth).map((p) => p.value)).toEqual([0]);
  });

  it('keeps the reason of any queue event that has one: exhausted on a requeue\'s enqueued', async () => {
    const { reader, sink } = setup();
    sink.queue({ trafficClass: 'batch', event: 'enqueued', reason: 'exhausted', depth: 0 });
    const events = points(await collect(reader), N.queueEvents).map((p) => [p.attributes['llm_resilience.queue.event'], p.attributes['llm_resilience.reason']]);
    expect(events).toEqual([['enqueued', 'exhausted']]);
  });

  it('counts the enqueued (reason exhausted) and shutdown rejection of a chain the engine requeued', async () => {
    const { reader, sink } = setup();
    const { engine, clock } = engineSetup({}, { summary: { chain: ['long'], priority: 'batch', onExhausted: 'queue' } }, { metrics: sink });
    const { fn } = scripted({ long: [http(503), http(503), http(503)] });
    const outcome = engine.execute({ route: 'summary', inputTokens: 10 }, fn).catch((e: unknown) => e);
    await clock.advance(1_000); // the chain is exhausted: the requeue wait starts
    await clock.advance(500);
    await engine.shutdown();
    await outcome;
    const data = await collect(reader);
    const events = points(data, N.queueEvents).map((p) => [p.attributes['llm_resilience.queue.event'], p.attributes['llm_resilience.reason'], p.value]);
    expect(events.sort()).toEqual([
      ['enqueued', 'exhausted', 1],
      ['rejected', 'shutdown', 1],
    ]);
    // The shutdown rejection carries its wait, so queue.wait sees it.
    const wait = points(data, N.queueWait) as Array<DataPoint<Histogram>>;
    expect(wait.map((p) => [p.attributes['llm_resilience.queue.event'], p.value.count])).toEqual([['rejected', 1]]);
    expect(wait[0]!.value.sum).toBeGreaterThan(0);
  });

  it('gives cost_usd the unit {USD}: UCUM has no currency units, so the currency is an annotation', async () => {
    const { reader, sink } = setup();
    sink.request(fallbackRecord());
    expect((await collect(reader)).get(N.cost)!.descriptor.unit).toBe('{USD}');
  });

  it('never puts user, team or tenant ids in attributes', async () => {
    const { reader, sink } = setup();
    playScenario(sink);
    const data = await collect(reader);
    const all = JSON.stringify([...data.values()].flatMap((m) => m.dataPoints.map((p) => p.attributes)));
    expect(all).not.toMatch(/user_456|team_secret|tenant_secret|req_123/);
  });

  it('emits gen_ai.system too when legacyGenAiSystem is on', async () => {
    const { reader, sink } = setup({ legacyGenAiSystem: true });
    sink.attempt(attemptRecord(), { route: 'r', priority: 'live' });
    const op = points(await collect(reader), N.operationDuration)[0]!;
    expect(op.attributes).toMatchObject({ 'gen_ai.provider.name': 'openai', 'gen_ai.system': 'openai' });
  });

  it('uses the global meter provider when no meter is given', async () => {
    const reader = new TestReader();
    const provider = new MeterProvider({ readers: [reader] });
    metrics.setGlobalMeterProvider(provider);
    try {
      new OpenTelemetryMetrics().attempt(attemptRecord(), { route: 'r', priority: 'live' });
      const { resourceMetrics } = await reader.collect();
      const scope = resourceMetrics.scopeMetrics.find((s) => s.scope.name === '@llm-resilience/core');
      expect(scope?.metrics.map((m) => m.descriptor.name)).toContain(N.operationDuration);
    } finally {
      metrics.disable();
    }
  });

  it('never throws on a malformed record', () => {
    const { sink } = setup();
    const broken = { ...fallbackRecord(), attempts: null } as unknown as ReturnType<typeof fallbackRecord>;
    expect(() => sink.request(broken)).not.toThrow();
  });

  it('never throws when the instruments do', () => {
    const fail = () => {
      throw new Error('exporter exploded');
    };
    const instrument = { add: fail, record: fail };
    const meter = new Proxy({}, { get: () => () => instrument }) as unknown as Meter;
    const sink = new OpenTelemetryMetrics({ meter });
    expect(() => playScenario(sink)).not.toThrow();
    expect(() => sink.breaker({ key: 'k', scope: 'target', from: 'closed', to: 'open', reason: 'x', at: 0 })).not.toThrow();
    expect(() => sink.queue({ trafficClass: 'batch', event: 'admitted', waitedMs: 1, depth: 0 })).not.toThrow();
  });
});
