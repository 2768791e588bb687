// Types only: `prom-client` (an optional peer) is loaded lazily in the constructor unless passed in,
// so importing core never requires it.
import type { Registry } from 'prom-client';
import type { AttemptRecord, RequestRecord } from '../engine/types';
import { ResilienceError } from '../errors/ResilienceError';
import { loadOptionalPeer } from './loadOptionalPeer';
import type { AttemptMetricContext, BreakerMetricEvent, LateUsageMetricEvent, Metrics, QueueMetricEvent } from './Metrics';
import { attemptErrorKind, breakerStateValue, reasonLabel, recordFacts, toSeconds } from './recordFacts';

type PromClient = typeof import('prom-client');
type Labels = Record<string, string>;
/** What the sink uses of a prom-client metric (the metric itself, or one adding the constant labels). */
interface CounterLike {
  inc(labels: Labels, value?: number): void;
}
interface GaugeLike {
  set(labels: Labels, value: number): void;
}
interface HistogramLike {
  observe(labels: Labels, value: number): void;
}

/** Request and attempt durations, seconds (the GenAI semantic conventions' buckets). */
const DURATION_BUCKETS = [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92];
/** Queue waits, seconds: from 10 ms (live) to an hour (batch, experiments). */
const QUEUE_WAIT_BUCKETS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 600, 1800, 3600];

/**
 * Options of {@link PrometheusMetrics}.
 *
 * @example
 * ```ts
 * new PrometheusMetrics({ registry: new Registry(), prefix: 'llm_resilience_' });
 * ```
 */
export interface PrometheusMetricsOptions {
  /** Registry to register on. Default: prom-client's global `register`. */
  registry?: Registry;
  /** Prefix of every metric name. Default `'llm_resilience_'`. */
  prefix?: string;
  /** The `prom-client` module. Default: loaded with `require('prom-client')`; pass it in for ESM-only bundles. */
  client?: PromClient;
  /** Histogram buckets in seconds. Defaults: GenAI-convention buckets (10 ms to 82 s) and 10 ms to 1 h for queue waits. */
  buckets?: { duration?: number[]; queueWait?: number[] };
  /**
   * Constant labels added to every metric of this instance, e.g. `{ engine: 'api' }`. Give each engine
   * sharing a registry its own value: the gauges (`breaker_state`, `queue_depth`) then keep one series
   * per engine instead of the last writer's value, and counters can be summed across engines. Every
   * instance on one registry must use the same label names (else `ERR_LLMR_METRIC_CONFLICT`). Names must
   * be valid Prometheus label names, not one of the metrics' own labels, nor `instance`/`job` (which the
   * scrape sets) nor `le`/`quantile`. Default: none.
   */
  labels?: Readonly<Record<string, string>>;
}

/** Labels the metrics set themselves, or the scrape or histograms do: not allowed as constant labels. */
const RESERVED_LABELS = new Set([
  'route', 'priority', 'outcome', 'fallback_used', 'error_kind', 'target', 'provider', 'model', 'type', 'kind',
  'reason', 'key', 'scope', 'from', 'to', 'traffic_class', 'event', 'le', 'quantile', 'instance', 'job',
]);
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/**
 * A {@link Metrics} sink on `prom-client` (an optional peer dependency). Metric names, with the default prefix:
 *
 * | metric | type | labels |
 * |---|---|---|
 * | `llm_resilience_requests_total` | counter | route, priority, outcome, fallback_used, error_kind |
 * | `llm_resilience_request_duration_seconds` | histogram | route, priority, outcome |
 * | `llm_resilience_attempts_total` | counter | route, target, provider, model, outcome, error_kind |
 * | `llm_resilience_attempt_duration_seconds` | histogram | route, target, provider, model, outcome |
 * | `llm_resilience_tokens_total` | counter | route, model, type (input, output) |
 * | `llm_resilience_cost_usd_total` | counter | route, model, kind (estimated, actual, late, late_estimated) |
 * | `llm_resilience_retries_total` | counter | route |
 * | `llm_resilience_fallbacks_total` | counter | route, target (moved to) |
 * | `llm_resilience_skipped_targets_total` | counter | route, target, reason |
 * | `llm_resilience_rate_limits_absorbed_total` | counter | route, target, provider |
 * | `llm_resilience_validation_failures_total` | counter | route, target, model |
 * | `llm_resilience_breaker_state` | gauge | key, scope (0 closed, 1 half-open, 2 open, 3 paused, 4 ramping, -1 unknown) |
 * | `llm_resilience_breaker_transitions_total` | counter | key, scope, from, to, reason |
 * | `llm_resilience_queue_wait_seconds` | histogram | traffic_class, event |
 * | `llm_resilience_queue_rejections_total` | counter | traffic_class, reason |
 * | `llm_resilience_queue_depth` | gauge | traffic_class |
 *
 * `rate_limits_absorbed_total` counts provider 429s on requests that still succeeded, except a 429 the
 * request can never pass (`neverFits`, OpenAI's "Request too large"): that is its size, not load.
 *
 * Tokens and `actual` cost are those of the answers requests used: a request that failed without one
 * (every call refused, rejected at admission or in the queue, replies rejected by validation) adds no
 * tokens, only a stream that broke off with its usage given (`fail(error, usage)`) does; a call cut off by its timeout that
 * answered later all the same (it ignored `ctx.signal`) adds its tokens to `tokens_total` and its
 * cost as `kind="late"`, so `actual` plus `late` is what providers billed; one that reported no usage
 * adds only its estimated cost, as `kind="late_estimated"` (an upper bound).
 *
 * Labels never carry user ids or prompt text. Several instances on one registry share its metrics
 * (no "already registered" error): counters and histograms add up, but the gauges keep the last
 * writer's value, so give each engine its own `labels` (e.g. `{ engine: 'api' }`), `prefix` or
 * `registry`. Instances sharing a metric must agree on its labels and buckets. No method throws.
 *
 * @example
 * ```ts
 * import { Registry } from 'prom-client';
 * const registry = new Registry();
 * const engine = createResilience(policy, { metrics: new PrometheusMetrics({ registry }) });
 * app.get('/metrics', async (_req, res) => res.type(registry.contentType).send(await registry.metrics()));
 * ```
 */
export class PrometheusMetrics implements Metrics {
  /** The registry the metrics live on. */
  readonly registry: Registry;
  private readonly requests: CounterLike;
  private readonly requestDuration: HistogramLike;
  private readonly attempts: CounterLike;
  private readonly attemptDuration: HistogramLike;
  private readonly tokens: CounterLike;
  private readonly cost: CounterLike;
  private readonly retries: CounterLike;
  private readonly fallbacks: CounterLike;
  private readonly skippedTargets: CounterLike;
  private readonly rateLimitsAbsorbed: CounterLike;
  private readonly validationFailures: CounterLike;
  private readonly breakerState: GaugeLike;
  private readonly breakerTransitions: CounterLike;
  private readonly queueWait: HistogramLike;
  private readonly queueRejections: CounterLike;
  private readonly queueDepth: GaugeLike;

  /**
   * @throws MissingPeerDependencyError when `prom-client` is not installed and no `client` is given.
   * @throws ResilienceError (`ERR_LLMR_METRIC_CONFLICT`) when the registry already holds a metric of the
   * same name with another type, other labels or (a histogram) other buckets.
   * @throws ResilienceError (`ERR_LLMR_INVALID_OPTIONS`) when a name in `labels` is not allowed or a value is not a string.
   */
  constructor(options: PrometheusMetricsOptions = {}) {
    const client = options.client ?? loadOptionalPeer<PromClient>('prom-client', 'PrometheusMetrics');
    this.registry = options.registry ?? client.register;
    const p = options.prefix ?? 'llm_resilience_';
    const duration = options.buckets?.duration ?? DURATION_BUCKETS;
    const queueWait = options.buckets?.queueWait ?? QUEUE_WAIT_BUCKETS;
    const m = new MetricFactory(client, this.registry, checkConstLabels(options.labels));

    this.requests = m.counter(`${p}requests_total`, 'Requests that ended, by outcome.', [
      'route',
      'priority',
      'outcome',
      'fallback_used',
      'error_kind',
    ]);
    this.requestDuration = m.histogram(
      `${p}request_duration_seconds`,
      'Duration of whole requests (all attempts, waits and fallbacks), in seconds.',
      ['route', 'priority', 'outcome'],
      duration,
    );
    this.attempts = m.counter(`${p}attempts_total`, 'Calls to a target, by outcome and error kind.', [
      'route',
      'target',
      'provider',
      'model',
      'outcome',
      'error_kind',
    ]);
    this.attemptDuration = m.histogram(
      `${p}attempt_duration_seconds`,
      'Duration of single calls to a target, in seconds.',
      ['route', 'target', 'provider', 'model', 'outcome'],
      duration,
    );
    this.tokens = m.counter(`${p}tokens_total`, 'Tokens used, by type (input, output).', ['route', 'model', 'type']);
    this.cost = m.counter(`${p}cost_usd_total`, 'Spend in USD: estimated before the call, actual, or late (calls cut off that answered later).', [
      'route',
      'model',
      'kind',
    ]);
    this.retries = m.counter(`${p}retries_total`, 'Retries (attempts after the first).', ['route']);
    this.fallbacks = m.counter(`${p}fallbacks_total`, 'Moves to a later target of the chain, by target moved to.', [
      'route',
      'target',
    ]);
    this.skippedTargets = m.counter(`${p}skipped_targets_total`, 'Targets of a chain not tried, by reason.', [
      'route',
      'target',
      'reason',
    ]);
    this.rateLimitsAbsorbed = m.counter(
      `${p}rate_limits_absorbed_total`,
      'Provider rate-limit errors (429) on requests that still succeeded (a 429 the request can never pass excluded).',
      ['route', 'target', 'provider'],
    );
    this.validationFailures = m.counter(
      `${p}validation_failures_total`,
      'Replies that did not match the route output schema.',
      ['route', 'target', 'model'],
    );
    this.breakerState = m.gauge(
      `${p}breaker_state`,
      'Circuit breaker state: 0 closed, 1 half-open, 2 open, 3 paused, 4 ramping, -1 unknown.',
      ['key', 'scope'],
    );
    this.breakerTransitions = m.counter(`${p}breaker_transitions_total`, 'Circuit breaker state changes.', [
      'key',
      'scope',
      'from',
      'to',
      'reason',
    ]);
    this.queueWait = m.histogram(
      `${p}queue_wait_seconds`,
      'Time spent queued before admission, rejection or failure, in seconds.',
      ['traffic_class', 'event'],
      queueWait,
    );
    this.queueRejections = m.counter(`${p}queue_rejections_total`, 'Queued requests rejected, by reason.', [
      'traffic_class',
      'reason',
    ]);
    this.queueDepth = m.gauge(`${p}queue_depth`, 'Requests waiting per traffic class.', ['traffic_class']);
  }

  /** Records request-level metrics from a finished request. Never throws. */
  request(record: RequestRecord): void {
    guard(() => {
      const facts = recordFacts(record);
      const route = record.route;
      const requestLabels: Record<string, string> = {
        route,
        priority: record.priority,
        outcome: record.outcome,
        fallback_used: String(record.fallback_used),
      };
      if (record.error_kind) requestLabels.error_kind = record.error_kind;
      this.requests.inc(requestLabels);
      this.requestDuration.observe(
        { route, priority: record.priority, outcome: record.outcome },
        toSeconds(record.latency_ms),
      );
      if (record.retry_count > 0) this.retries.inc({ route }, record.retry_count);
      for (const target of facts.fallbacksTo) this.fallbacks.inc({ route, target });
      for (const s of record.skipped) this.skippedTargets.inc({ route, target: s.target, reason: s.reason });
      for (const r of facts.rateLimitsAbsorbed) {
        this.rateLimitsAbsorbed.inc({ route, target: r.target, provider: r.provider });
      }
      const model = facts.model;
      // Only an answer's usage: a failure keeps the pre-call estimate as input_tokens (see usedTokens).
      const used = facts.tokens;
      if (used && used.input > 0) this.tokens.inc({ route, model, type: 'input' }, used.input);
      if (used && used.output > 0) this.tokens.inc({ route, model, type: 'output' }, used.output);
      if (record.estimated_cost > 0) this.cost.inc({ route, model, kind: 'estimated' }, record.estimated_cost);
      if (record.actual_cost > 0) this.cost.inc({ route, model, kind: 'actual' }, record.actual_cost);
    });
  }

  /**
   * Adds a cut-off call's late usage to the token and cost totals (cost as `kind="late"`); one that
   * reported no usage adds only its estimated cost, as `kind="late_estimated"`. Never throws.
   */
  lateUsage(e: LateUsageMetricEvent): void {
    guard(() => {
      const labels = { route: e.route, model: e.model };
      if (e.costUsd > 0) this.cost.inc({ ...labels, kind: e.estimated ? 'late_estimated' : 'late' }, e.costUsd);
      if (e.estimated) return;
      if (e.inputTokens > 0) this.tokens.inc({ ...labels, type: 'input' }, e.inputTokens);
      if (e.outputTokens > 0) this.tokens.inc({ ...labels, type: 'output' }, e.outputTokens);
    });
  }

  /** Records the attempt counter, its duration and validation failures. Never throws. */
  attempt(record: AttemptRecord, ctx: AttemptMetricContext): void {
    guard(() => {
      const base = {
        route: ctx.route,
        target: record.target,
        provider: record.provider,
        model: record.model,
        outcome: record.outcome,
      };
      const errorKind = attemptErrorKind(record);
      this.attempts.inc(errorKind ? { ...base, error_kind: errorKind } : base);
      this.attemptDuration.observe(base, toSeconds(record.latencyMs));
      if (record.outcome === 'invalid_output') {
        this.validationFailures.inc({ route: ctx.route, target: record.target, model: record.model });
      }
    });
  }

  /** Sets the breaker state gauge and counts the transition. Never throws. */
  breaker(e: BreakerMetricEvent): void {
    guard(() => {
      this.breakerState.set({ key: e.key, scope: e.scope }, breakerStateValue(e.to));
      const reason = reasonLabel(e.reason);
      this.breakerTransitions.inc({ key: e.key, scope: e.scope, from: e.from, to: e.to, reason });
    });
  }

  /** Records queue waits, rejections and depth. Never throws. */
  queue(e: QueueMetricEvent): void {
    guard(() => {
      const cls = e.trafficClass;
      if (e.waitedMs !== undefined && e.event !== 'enqueued') {
        this.queueWait.observe({ traffic_class: cls, event: e.event }, toSeconds(e.waitedMs));
      }
      if (e.event === 'rejected') this.queueRejections.inc({ traffic_class: cls, reason: reasonLabel(e.reason) });
      this.queueDepth.set({ traffic_class: cls }, e.depth);
    });
  }
}

/**
 * Checks the `labels` option: valid Prometheus names, none the metrics set themselves, string values.
 * Returns undefined for none.
 */
function checkConstLabels(labels: Readonly<Record<string, string>> | undefined): Readonly<Record<string, string>> | undefined {
  if (labels === undefined) return undefined;
  const problems: string[] = [];
  if (labels === null || typeof labels !== 'object' || Array.isArray(labels)) {
    problems.push('`labels` must be an object of label names to string values');
  } else {
    for (const [name, value] of Object.entries(labels)) {
      if (!LABEL_NAME.test(name) || name.startsWith('__')) problems.push(`'${name}' is not a valid Prometheus label name`);
      else if (RESERVED_LABELS.has(name)) problems.push(`'${name}' is a label the metrics, histograms or the scrape already set`);
      if (typeof value !== 'string') problems.push(`the value of '${name}' must be a string`);
    }
  }
  if (problems.length > 0) {
    throw new ResilienceError(`PrometheusMetrics: bad \`labels\`: ${problems.join('; ')}.`, {
      kind: 'invalid_request',
      code: 'ERR_LLMR_INVALID_OPTIONS',
    });
  }
  const names = Object.keys(labels);
  return names.length === 0 ? undefined : Object.freeze({ ...labels });
}

/**
 * Creates metrics on a registry, or reuses the ones already there (same name, type, labels and, for a
 * histogram, buckets). With constant labels, each metric is wrapped to add them to every call.
 */
class MetricFactory {
  private readonly constLabels: Labels | undefined;
  private readonly constNames: string[];

  constructor(
    private readonly client: PromClient,
    private readonly registry: Registry,
    constLabels: Readonly<Labels> | undefined,
  ) {
    this.constLabels = constLabels && { ...constLabels };
    this.constNames = constLabels ? Object.keys(constLabels) : [];
  }

  counter(name: string, help: string, labelNames: string[]): CounterLike {
    const names = [...labelNames, ...this.constNames];
    const metric =
      this.reuse<CounterLike>(name, this.client.Counter, 'Counter', names) ??
      new this.client.Counter({ name, help, labelNames: names, registers: [this.registry] });
    const c = this.constLabels;
    return c ? { inc: (labels, value) => metric.inc({ ...labels, ...c }, value) } : metric;
  }

  gauge(name: string, help: string, labelNames: string[]): GaugeLike {
    const names = [...labelNames, ...this.constNames];
    const metric =
      this.reuse<GaugeLike>(name, this.client.Gauge, 'Gauge', names) ??
      new this.client.Gauge({ name, help, labelNames: names, registers: [this.registry] });
    const c = this.constLabels;
    return c ? { set: (labels, value) => metric.set({ ...labels, ...c }, value) } : metric;
  }

  histogram(name: string, help: string, labelNames: string[], buckets: number[]): HistogramLike {
    const names = [...labelNames, ...this.constNames];
    const metric =
      this.reuse<HistogramLike>(name, this.client.Histogram, 'Histogram', names, buckets) ??
      new this.client.Histogram({ name, help, labelNames: names, buckets, registers: [this.registry] });
    const c = this.constLabels;
    return c ? { observe: (labels, value) => metric.observe({ ...labels, ...c }, value) } : metric;
  }

  private reuse<T>(
    name: string,
    ctor: abstract new (...args: never[]) => unknown,
    type: string,
    labelNames: string[],
    buckets?: readonly number[],
  ): T | undefined {
    const existing = this.registry.getSingleMetric(name) as
      | { constructor: { name: string }; labelNames?: readonly string[]; upperBounds?: readonly number[] }
      | undefined;
    if (!existing) return undefined;
    const existingLabels = [...(existing.labelNames ?? [])].sort().join(',');
    // `instanceof` first; the class name covers a second copy of prom-client in the tree.
    const sameType = existing instanceof ctor || existing.constructor.name === type;
    if (!sameType || existingLabels !== [...labelNames].sort().join(',')) {
      throw new ResilienceError(
        `The registry already has a metric '${name}' (${existing.constructor.name} with labels [${existingLabels}]); ` +
          `PrometheusMetrics needs a ${type} with labels [${labelNames.join(',')}]. Pass another \`prefix\` or \`registry\`.`,
        { kind: 'invalid_request', code: 'ERR_LLMR_METRIC_CONFLICT' },
      );
    }
    // A histogram's buckets (prom-client's `upperBounds`), compared as sorted sets of bounds.
    if (buckets !== undefined) {
      const sorted = (b: readonly number[]): string => [...b].sort((x, y) => x - y).join(',');
      const existingBuckets = sorted(existing.upperBounds ?? []);
      if (existingBuckets !== sorted(buckets)) {
        throw new ResilienceError(
          `The registry already has a histogram '${name}' with buckets [${existingBuckets}]; this PrometheusMetrics ` +
            `asks for [${buckets.join(',')}]. Use the same \`buckets\` on every instance sharing the registry, or pass another \`prefix\` or \`registry\`.`,
          { kind: 'invalid_request', code: 'ERR_LLMR_METRIC_CONFLICT' },
        );
      }
    }
    return existing as T;
  }
}

function guard(fn: () => void): void {
  try {
    fn();
  } catch {
    // Metrics must never break a request.
  }
}
