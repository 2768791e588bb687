import type { Disposable, ErrorKind, RequestRecord, Resilience } from '@llm-resilience/core';

/**
 * The end-of-run numbers of one route (or of all routes).
 *
 * @example
 * ```ts
 * `${row.route}: ${row.success}/${row.requests} ok, p95 ${row.p95Ms} ms, $${row.costUsd.toFixed(4)}`;
 * ```
 */
export interface RouteRow {
  route: string;
  requests: number;
  success: number;
  /** Retries on the same target (after a 429 hint, a backoff or a rejected JSON reply). */
  retries: number;
  /** Requests answered by a target other than the route's first. */
  fallbacks: number;
  /** 429 responses inside requests that still succeeded. */
  absorbed429: number;
  p50Ms: number;
  p95Ms: number;
  costUsd: number;
  /** Requests moved to the downgrade route by a spend budget. */
  downgraded: number;
  /** Replies rejected by the output schema. */
  invalidOutputs: number;
  /** Requests that waited in the engine's queue. */
  queued: number;
  /** Targets skipped, by reason (`data_class`, `cost_ceiling`, `breaker_open`, ...). */
  skipped: Record<string, number>;
  /** Failed requests by error kind. */
  failures: Record<string, number>;
}

/**
 * One breaker state change.
 *
 * @example
 * ```ts
 * const t: BreakerTransition = { key: 'target:mini', from: 'closed', to: 'open', reason: 'consecutive_failures', atS: 76.2 };
 * ```
 */
export interface BreakerTransition {
  key: string;
  from: string;
  to: string;
  reason: string;
  /** Scenario seconds. */
  atS: number;
}

/**
 * Per-bucket series over the scenario, for the charts. Index `i` covers `[i, i+1) * bucketS` seconds.
 *
 * @example
 * ```ts
 * series.successByRoute.chat[10]; // requests of `chat` answered in the 11th bucket
 * ```
 */
export interface TimeSeries {
  bucketS: number;
  buckets: number;
  successByRoute: Record<string, number[]>;
  failed: number[];
  /** Failed attempts by what went wrong (`429`, `503/overloaded`, `connection reset`, `invalid JSON`, ...). */
  attemptErrors: Record<string, number[]>;
  fallbacks: number[];
  /** Spend in the bucket, by route. */
  spendByRoute: Record<string, number[]>;
  /** Largest batch queue depth seen in the bucket. */
  queueDepth: number[];
  /**
   * p95 latency (ms) of requests ending in the bucket, by traffic class (`live`, `batch`); `null` for a
   * bucket in which no request of the class ended (a gap in the chart, not 0 ms).
   */
  p95LatencyMs: Record<string, (number | null)[]>;
}

/** A request that waited at least this long (scenario ms) for admission counts as queued. */
const QUEUED_MS = 500;

/**
 * Error labels for failed attempts, in chart order.
 *
 * @example
 * ```ts
 * ATTEMPT_ERROR_LABELS.map((l) => series.attemptErrors[l]);
 * ```
 */
export const ATTEMPT_ERROR_LABELS = ['429 rate limited', '503 overloaded', 'connection reset', 'timeout', 'invalid JSON', 'other'] as const;

function attemptErrorLabel(kind: ErrorKind | undefined): (typeof ATTEMPT_ERROR_LABELS)[number] {
  switch (kind) {
    case 'rate_limited':
      return '429 rate limited';
    case 'overloaded':
      return '503 overloaded';
    case 'network':
      return 'connection reset';
    case 'timeout':
      return 'timeout';
    case 'validation_failed':
      return 'invalid JSON';
    default:
      return 'other';
  }
}

/**
 * Collects the engine's records and events during the run and turns them into the table, the
 * series and the breaker timeline. Records are matched to the route that was asked for by request
 * id (a budget downgrade changes `record.route`).
 *
 * @example
 * ```ts
 * const stats = new DemoStats({ epochMs: clock.startedAt, durationS: 210, bucketS: 5, routes: ['chat'], now: () => clock.now() });
 * const sub = stats.attach(engine);
 * stats.expect('chat-0001', 'chat');
 * // ... run ...
 * sub.dispose();
 * stats.rows();
 * ```
 */
export class DemoStats {
  readonly records: RequestRecord[] = [];
  readonly transitions: BreakerTransition[] = [];
  readonly downgrades: { atS: number; from: string; to: string }[] = [];
  private readonly routeOf = new Map<string, string>();
  private readonly epochMs: number;
  private readonly bucketS: number;
  private readonly buckets: number;
  private readonly routes: readonly string[];
  private readonly queueDepth: number[];

  private readonly now: () => number;

  constructor(options: { epochMs: number; durationS: number; bucketS: number; routes: readonly string[]; now: () => number }) {
    this.epochMs = options.epochMs;
    this.now = options.now;
    this.bucketS = options.bucketS;
    this.buckets = Math.max(1, Math.ceil(options.durationS / options.bucketS));
    this.routes = options.routes;
    this.queueDepth = new Array<number>(this.buckets).fill(0);
  }

  /** Declares which route request `id` was sent to. */
  expect(id: string, route: string): void {
    this.routeOf.set(id, route);
  }

  /** Subscribes to the engine's `record`, `breaker` and `budget` events. */
  attach(engine: Resilience): Disposable {
    const subs = [
      engine.events.on('record', (r) => this.records.push(r)),
      engine.events.on('breaker', (e) => this.transitions.push({ key: e.key, from: e.from, to: e.to, reason: e.reason, atS: this.seconds(e.at) })),
      engine.events.on('budget', (e) => {
        if (e.event === 'downgrade' && e.to !== undefined) this.downgrades.push({ atS: this.seconds(this.now()), from: e.route, to: e.to });
      }),
    ];
    return { dispose: () => subs.forEach((s) => s.dispose()) };
  }

  /** Notes the batch queue depth at scenario time `now` (ms). */
  sampleQueue(now: number, depth: number): void {
    const i = this.bucketOf(now);
    this.queueDepth[i] = Math.max(this.queueDepth[i]!, depth);
  }

  /** The route a record was asked for. */
  requestedRoute(r: RequestRecord): string {
    return this.routeOf.get(r.request_id) ?? r.route;
  }

  /** Per-route rows, in the order of `routes`. */
  rows(): RouteRow[] {
    return this.routes.map((route) => summarize(route, this.records.filter((r) => this.requestedRoute(r) === route), (r) => this.requestedRoute(r)));
  }

  /** One row for everything. */
  totals(): RouteRow {
    return summarize('all routes', this.records, (r) => this.requestedRoute(r));
  }

  /** Attempts per provider, or only those of records with data class `dataClass`. */
  attemptsByProvider(dataClass?: string): Record<string, number> {
    return this.countAttempts('provider', dataClass);
  }

  /** Attempts per target id, or only those of records with data class `dataClass`. */
  attemptsByTarget(dataClass?: string): Record<string, number> {
    return this.countAttempts('target', dataClass);
  }

  private countAttempts(key: 'provider' | 'target', dataClass: string | undefined): Record<string, number> {
    const out: Record<string, number> = {};
    for (const r of this.records) {
      if (dataClass !== undefined && r.data_class !== dataClass) continue;
      for (const a of r.attempts) out[a[key]] = (out[a[key]] ?? 0) + 1;
    }
    return out;
  }

  series(): TimeSeries {
    const zeros = () => new Array<number>(this.buckets).fill(0);
    const successByRoute: Record<string, number[]> = Object.fromEntries(this.routes.map((r) => [r, zeros()]));
    const spendByRoute: Record<string, number[]> = Object.fromEntries(this.routes.map((r) => [r, zeros()]));
    const attemptErrors: Record<string, number[]> = Object.fromEntries(ATTEMPT_ERROR_LABELS.map((l) => [l, zeros()]));
    const failed = zeros();
    const fallbacks = zeros();
    const latencies: Record<string, number[][]> = {};
    for (const r of this.records) {
      const route = this.requestedRoute(r);
      const i = this.bucketOf(r.started_at + r.latency_ms);
      if (r.outcome === 'success') successByRoute[route]![i]!++;
      else failed[i]!++;
      if (r.fallback_used && r.outcome === 'success') fallbacks[i]!++;
      spendByRoute[route]![i]! += r.actual_cost;
      (latencies[r.priority] ??= Array.from({ length: this.buckets }, () => []))[i]!.push(r.latency_ms);
      for (const a of r.attempts) {
        if (a.outcome === 'success') continue;
        attemptErrors[attemptErrorLabel(a.errorKind)]![this.bucketOf(a.startedAt + a.latencyMs)]!++;
      }
    }
    return {
      bucketS: this.bucketS,
      buckets: this.buckets,
      successByRoute,
      failed,
      attemptErrors,
      fallbacks,
      spendByRoute,
      queueDepth: [...this.queueDepth],
      p95LatencyMs: Object.fromEntries(Object.entries(latencies).map(([cls, l]) => [cls, l.map((v) => (v.length ? percentile(v, 0.95) : null))])),
    };
  }

  private seconds(ms: number): number {
    return (ms - this.epochMs) / 1000;
  }

  private bucketOf(ms: number): number {
    return Math.min(this.buckets - 1, Math.max(0, Math.floor(this.seconds(ms) / this.bucketS)));
  }
}

function summarize(route: string, records: readonly RequestRecord[], requestedRoute: (r: RequestRecord) => string): RouteRow {
  const row: RouteRow = {
    route,
    requests: records.length,
    success: 0,
    retries: 0,
    fallbacks: 0,
    absorbed429: 0,
    p50Ms: 0,
    p95Ms: 0,
    costUsd: 0,
    downgraded: 0,
    invalidOutputs: 0,
    queued: 0,
    skipped: {},
    failures: {},
  };
  const latencies: number[] = [];
  const skippedSeen = new Set<string>();
  for (const r of records) {
    latencies.push(r.latency_ms);
    row.retries += r.retry_count;
    row.costUsd += r.actual_cost;
    row.invalidOutputs += r.validation_failures;
    if (r.queue_wait_ms >= QUEUED_MS) row.queued++;
    if (r.outcome === 'success') {
      row.success++;
      if (r.fallback_used) row.fallbacks++;
      // As the library's rate_limits_absorbed: a "Request too large" 429 (neverFits) is the request's size, not pressure.
      row.absorbed429 += r.attempts.filter((a) => a.errorKind === 'rate_limited' && a.neverFits !== true).length;
    } else {
      const kind = r.error_kind ?? 'unknown';
      row.failures[kind] = (row.failures[kind] ?? 0) + 1;
    }
    if (r.route !== requestedRoute(r)) row.downgraded++;
    skippedSeen.clear();
    for (const s of r.skipped) {
      // Count each reason once per request (a target can be skipped on several passes).
      if (skippedSeen.has(s.reason)) continue;
      skippedSeen.add(s.reason);
      row.skipped[s.reason] = (row.skipped[s.reason] ?? 0) + 1;
    }
  }
  row.p50Ms = percentile(latencies, 0.5);
  row.p95Ms = percentile(latencies, 0.95);
  return row;
}

/**
 * Nearest-rank percentile (0 for no values).
 *
 * @example
 * ```ts
 * percentile([5, 1, 3], 0.5); // 3
 * ```
 */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}
