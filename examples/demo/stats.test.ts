import type { RequestRecord } from '@llm-resilience/core';
import { DemoStats, percentile } from './stats';

function record(over: Partial<RequestRecord>): RequestRecord {
  return {
    request_id: 'r',
    route: 'chat',
    priority: 'live',
    primary_model: 'm',
    fallback_used: false,
    retry_count: 0,
    outcome: 'success',
    latency_ms: 100,
    queue_wait_ms: 0,
    input_tokens: 10,
    output_tokens: 5,
    estimated_cost: 0.001,
    actual_cost: 0.001,
    attempts: [],
    skipped: [],
    breakers: {},
    validation_failures: 0,
    started_at: 0,
    ...over,
  };
}

const attempt = (errorKind?: 'rate_limited' | 'overloaded') => ({
  target: 'mini',
  provider: 'acme',
  model: 'acme-mini',
  attempt: 1,
  targetAttempt: 1,
  startedAt: 1_000,
  latencyMs: 10,
  outcome: errorKind ? ('error' as const) : ('success' as const),
  waitedMs: 0,
  ...(errorKind ? { errorKind } : {}),
});

describe('percentile', () => {
  it('is the nearest rank', () => {
    expect(percentile([], 0.5)).toBe(0);
    expect(percentile([5, 1, 3], 0.5)).toBe(3);
    expect(percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.95)).toBe(10);
  });
});

describe('DemoStats', () => {
  function stats(records: RequestRecord[]): DemoStats {
    const s = new DemoStats({ epochMs: 0, durationS: 20, bucketS: 5, routes: ['chat', 'analyst'], now: () => 0 });
    s.expect('a1', 'analyst');
    s.records.push(...records);
    return s;
  }

  it('counts per route by the route that was asked for, including downgraded requests', () => {
    const s = stats([
      // A "Request too large" 429 (neverFits) is not a 429 absorbed: only c1's ordinary 429 counts.
      record({ request_id: 'c1', attempts: [attempt('rate_limited'), { ...attempt('rate_limited'), neverFits: true }, attempt()], retry_count: 1, latency_ms: 200 }),
      record({ request_id: 'c2', fallback_used: true, outcome: 'success', skipped: [{ target: 'mini', reason: 'breaker_open' }, { target: 'mini', reason: 'breaker_open' }] }),
      record({ request_id: 'c3', outcome: 'failure', error_kind: 'overloaded', attempts: [attempt('overloaded')], actual_cost: 0 }),
      record({ request_id: 'a1', route: 'analyst_economy', queue_wait_ms: 800 }),
    ]);
    const [chat, analyst] = s.rows();
    expect(chat).toMatchObject({ route: 'chat', requests: 3, success: 2, retries: 1, fallbacks: 1, absorbed429: 1, p50Ms: 100, p95Ms: 200 });
    expect(chat!.skipped).toEqual({ breaker_open: 1 });
    expect(chat!.failures).toEqual({ overloaded: 1 });
    expect(chat!.costUsd).toBeCloseTo(0.002, 9);
    expect(analyst).toMatchObject({ requests: 1, downgraded: 1, queued: 1 });
    expect(s.totals()).toMatchObject({ route: 'all routes', requests: 4, success: 3 });
  });

  it('puts requests and failed attempts into time buckets', () => {
    const s = stats([
      record({ request_id: 'c1', started_at: 1_000, latency_ms: 5_000, attempts: [attempt('rate_limited'), attempt()] }),
      record({ request_id: 'c2', started_at: 12_000, outcome: 'failure' }),
    ]);
    s.sampleQueue(16_000, 7);
    const series = s.series();
    expect(series.buckets).toBe(4);
    expect(series.successByRoute.chat).toEqual([0, 1, 0, 0]);
    expect(series.failed).toEqual([0, 0, 1, 0]);
    expect(series.attemptErrors['429 rate limited']).toEqual([1, 0, 0, 0]);
    expect(series.queueDepth).toEqual([0, 0, 0, 7]);
  });

  it('has no p95 latency (null, not 0 ms) for an interval in which no request of the class ended', () => {
    const s = stats([
      record({ request_id: 'b1', priority: 'batch', started_at: 0, latency_ms: 3_000 }),
      record({ request_id: 'b2', priority: 'batch', started_at: 14_000, latency_ms: 2_000 }),
      record({ request_id: 'c1', started_at: 6_000, latency_ms: 200 }),
    ]);
    expect(s.series().p95LatencyMs).toEqual({ batch: [3_000, null, null, 2_000], live: [null, 200, null, null] });
  });

  it("counts attempts by target as well as by provider, optionally for one data class", () => {
    const s = stats([
      record({ request_id: 'r1', data_class: 'restricted', attempts: [{ ...attempt(), target: 'vault' }, { ...attempt(), target: 'mini' }] }),
      record({ request_id: 'c1', data_class: 'public', attempts: [attempt()] }),
    ]);
    expect(s.attemptsByTarget('restricted')).toEqual({ vault: 1, mini: 1 });
    expect(s.attemptsByTarget()).toEqual({ vault: 1, mini: 2 });
    expect(s.attemptsByProvider('restricted')).toEqual({ acme: 2 });
  });
});
