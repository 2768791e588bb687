// Types only: the runtime of `@opentelemetry/api` (an optional peer) is loaded lazily, and only when
// no `meter` is passed, so importing core never requires it.
import type { Attributes, Counter, Gauge, Histogram, Meter } from '@opentelemetry/api';
import type { AttemptRecord, RequestRecord } from '../engine/types';
import { loadOptionalPeer } from './loadOptionalPeer';
import type { AttemptMetricContext, BreakerMetricEvent, LateUsageMetricEvent, Metrics, QueueMetricEvent } from './Metrics';
import { attemptErrorKind, breakerStateValue, reasonLabel, recordFacts, toSeconds } from './recordFacts';

type OtelApi = typeof import('@opentelemetry/api');

/**
 * Names of the instruments {@link OpenTelemetryMetrics} creates. The first two follow the OpenTelemetry
 * GenAI semantic conventions; the rest are ours, under `llm_resilience.*`.
 *
 * @example
 * ```ts
 * OTEL_METRIC_NAMES.operationDuration; // 'gen_ai.client.operation.duration'
 * ```
 */
export const OTEL_METRIC_NAMES = {
  /** Histogram, seconds, one point per attempt (GenAI semconv). */
  operationDuration: 'gen_ai.client.operation.duration',
  /** Histogram, `{token}`, per request and `gen_ai.token.type` (GenAI semconv). */
  tokenUsage: 'gen_ai.client.token.usage',
  requests: 'llm_resilience.requests',
  requestDuration: 'llm_resilience.request.duration',
  attempts: 'llm_resilience.attempts',
  retries: 'llm_resilience.retries',
  fallbacks: 'llm_resilience.fallbacks',
  skippedTargets: 'llm_resilience.skipped_targets',
  rateLimitsAbsorbed: 'llm_resilience.rate_limits_absorbed',
  cost: 'llm_resilience.cost_usd',
  validationFailures: 'llm_resilience.validation_failures',
  queueWait: 'llm_resilience.queue.wait',
  queueEvents: 'llm_resilience.queue.events',
  queueDepth: 'llm_resilience.queue.depth',
  breakerTransitions: 'llm_resilience.breaker.transitions',
  breakerState: 'llm_resilience.breaker.state',
} as const;

/**
 * Attribute keys used by {@link OpenTelemetryMetrics}. Only low-cardinality, non-personal values:
 * never user ids, tenant ids or prompt text.
 *
 * @example
 * ```ts
 * OTEL_ATTRIBUTES.route; // 'llm_resilience.route'
 * ```
 */
export const OTEL_ATTRIBUTES = {
  operationName: 'gen_ai.operation.name',
  providerName: 'gen_ai.provider.name',
  /** Deprecated predecessor of `gen_ai.provider.name`, emitted with `legacyGenAiSystem: true`. */
  system: 'gen_ai.system',
  requestModel: 'gen_ai.request.model',
  responseModel: 'gen_ai.response.model',
  tokenType: 'gen_ai.token.type',
  errorType: 'error.type',
  route: 'llm_resilience.route',
  priority: 'llm_resilience.priority',
  target: 'llm_resilience.target',
  outcome: 'llm_resilience.outcome',
  fallbackUsed: 'llm_resilience.fallback_used',
  skipReason: 'llm_resilience.skip_reason',
  costKind: 'llm_resilience.cost_kind',
  trafficClass: 'llm_resilience.traffic_class',
  queueEvent: 'llm_resilience.queue.event',
  reason: 'llm_resilience.reason',
  breakerKey: 'llm_resilience.breaker.key',
  breakerScope: 'llm_resilience.breaker.scope',
  breakerFrom: 'llm_resilience.breaker.from',
  breakerTo: 'llm_resilience.breaker.to',
} as const;

/** Bucket advice of the GenAI semantic conventions for `gen_ai.client.operation.duration` (seconds). */
const DURATION_BUCKETS = [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92];
/** Bucket advice of the GenAI semantic conventions for `gen_ai.client.token.usage`. */
const TOKEN_BUCKETS = [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864];
/** Queue waits: from 10 ms (live) to an hour (batch, experiments). */
const QUEUE_WAIT_BUCKETS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 600, 1800, 3600];

/**
 * Options of {@link OpenTelemetryMetrics}.
 *
 * @example
 * ```ts
 * new OpenTelemetryMetrics({ meter: provider.getMeter('my-app'), legacyGenAiSystem: true });
 * ```
 */
export interface OpenTelemetryMetricsOptions {
  /** Meter to create instruments on. Default: `metrics.getMeter('@llm-resilience/core')` from `@opentelemetry/api`. */
  meter?: Meter;
  /** Value of `gen_ai.operation.name`. Default `'chat'`. */
  operationName?: string;
  /**
   * Also emit `gen_ai.system` (the attribute older GenAI conventions used before `gen_ai.provider.name`),
   * for backends still keyed on it. Default `false`.
   */
  legacyGenAiSystem?: boolean;
}

/**
 * A {@link Metrics} sink on OpenTelemetry metrics (`@opentelemetry/api`, an optional peer dependency).
 *
 * Per attempt: `gen_ai.client.operation.duration` (seconds) with `gen_ai.operation.name`,
 * `gen_ai.provider.name`, `gen_ai.request.model`, `gen_ai.response.model` (on success) and `error.type`
 * (the error kind), plus `llm_resilience.attempts` and `llm_resilience.validation_failures`.
 * Per request: `gen_ai.client.token.usage` (`gen_ai.token.type` = input | output; the tokens of the answer
 * the request used, none for a request that failed without one), `llm_resilience.requests`
 * (route, priority, outcome, fallback_used), `.request.duration`, `.retries`, `.fallbacks`, `.skipped_targets`
 * (by reason), `.rate_limits_absorbed` (provider 429s on the way to a success; not a 429 the request can
 * never pass, "Request too large"), `.cost_usd` (estimated | actual).
 * A call cut off by its timeout that answered later all the same (it ignored `ctx.signal`) adds one
 * `gen_ai.client.token.usage` point per token type and its cost as `.cost_usd` with cost kind `late`:
 * `actual` plus `late` is what providers billed (one that reported no usage: only its estimated cost,
 * cost kind `late_estimated`).
 * Breakers: `.breaker.transitions` and the `.breaker.state` gauge (0 closed, 1 half-open, 2 open, 3 paused,
 * 4 ramping). Queues: `.queue.wait` (seconds), `.queue.events`, `.queue.depth`.
 *
 * Attributes carry route, priority, provider, model, target and kinds only: never user ids or prompt text.
 * No method throws.
 *
 * @example
 * ```ts
 * import { MeterProvider } from '@opentelemetry/sdk-metrics';
 * const provider = new MeterProvider({ readers: [reader] });
 * const engine = createResilience(policy, { metrics: new OpenTelemetryMetrics({ meter: provider.getMeter('app') }) });
 * ```
 */
export class OpenTelemetryMetrics implements Metrics {
  private readonly operationName: string;
  private readonly legacySystem: boolean;
  private readonly operationDuration: Histogram;
  private readonly tokenUsage: Histogram;
  private readonly requests: Counter;
  private readonly requestDuration: Histogram;
  private readonly attempts: Counter;
  private readonly retries: Counter;
  private readonly fallbacks: Counter;
  private readonly skippedTargets: Counter;
  private readonly rateLimitsAbsorbed: Counter;
  private readonly cost: Counter;
  private readonly validationFailures: Counter;
  private readonly queueWait: Histogram;
  private readonly queueEvents: Counter;
  private readonly queueDepth: Gauge;
  private readonly breakerTransitions: Counter;
  private readonly breakerState: Gauge;

  /**
   * @throws MissingPeerDependencyError when no `meter` is given and `@opentelemetry/api` is not installed.
   */
  constructor(options: OpenTelemetryMetricsOptions = {}) {
    const meter =
      options.meter ??
      loadOptionalPeer<OtelApi>('@opentelemetry/api', 'OpenTelemetryMetrics').metrics.getMeter('@llm-resilience/core');
    this.operationName = options.operationName ?? 'chat';
    this.legacySystem = options.legacyGenAiSystem ?? false;
    const N = OTEL_METRIC_NAMES;

    this.operationDuration = meter.createHistogram(N.operationDuration, {
      description: 'GenAI operation duration (one point per attempt).',
      unit: 's',
      advice: { explicitBucketBoundaries: DURATION_BUCKETS },
    });
    this.tokenUsage = meter.createHistogram(N.tokenUsage, {
      description: 'Number of input and output tokens used (per request).',
      unit: '{token}',
      advice: { explicitBucketBoundaries: TOKEN_BUCKETS },
    });
    this.requests = meter.createCounter(N.requests, { description: 'Requests that ended, by outcome.', unit: '{request}' });
    this.requestDuration = meter.createHistogram(N.requestDuration, {
      description: 'Duration of whole requests (all attempts, waits and fallbacks).',
      unit: 's',
      advice: { explicitBucketBoundaries: DURATION_BUCKETS },
    });
    this.attempts = meter.createCounter(N.attempts, { description: 'Calls to a target, by outcome.', unit: '{attempt}' });
    this.retries = meter.createCounter(N.retries, { description: 'Retries (attempts after the first).', unit: '{retry}' });
    this.fallbacks = meter.createCounter(N.fallbacks, {
      description: 'Moves to a later target of the chain.',
      unit: '{fallback}',
    });
    this.skippedTargets = meter.createCounter(N.skippedTargets, {
      description: 'Targets of a chain not tried, by reason.',
      unit: '{target}',
    });
    this.rateLimitsAbsorbed = meter.createCounter(N.rateLimitsAbsorbed, {
      description: 'Provider rate-limit errors (429) on requests that still succeeded (a 429 the request can never pass excluded).',
      unit: '{error}',
    });
    this.cost = meter.createCounter(N.cost, {
      description: 'Spend in USD: estimated before the call, actual, or late (calls cut off that answered later).',
      // UCUM has no currency units: a curly-brace annotation (like `{token}`) is how OTel writes one,
      // and the GenAI conventions define no cost metric to follow.
      unit: '{USD}',
    });
    this.validationFailures = meter.createCounter(N.validationFailures, {
      description: 'Replies that did not match the route output schema.',
      unit: '{reply}',
    });
    this.queueWait = meter.createHistogram(N.queueWait, {
      description: 'Time spent queued before admission, rejection or failure.',
      unit: 's',
      advice: { explicitBucketBoundaries: QUEUE_WAIT_BUCKETS },
    });
    this.queueEvents = meter.createCounter(N.queueEvents, {
      description: 'Queue events (enqueued, admitted, rejected, failed).',
      unit: '{event}',
    });
    this.queueDepth = meter.createGauge(N.queueDepth, {
      description: 'Requests waiting per traffic class.',
      unit: '{request}',
    });
    this.breakerTransitions = meter.createCounter(N.breakerTransitions, {
      description: 'Circuit breaker state changes.',
      unit: '{transition}',
    });
    this.breakerState = meter.createGauge(N.breakerState, {
      description: 'Circuit breaker state: 0 closed, 1 half-open, 2 open, 3 paused, 4 ramping, -1 unknown.',
      unit: '1',
    });
  }

  /** Records request-level instruments from a finished request. Never throws. */
  request(record: RequestRecord): void {
    guard(() => {
      const A = OTEL_ATTRIBUTES;
      const facts = recordFacts(record);
      const route = { [A.route]: record.route };
      const outcome: Attributes = {
        ...route,
        [A.priority]: record.priority,
        [A.outcome]: record.outcome,
        [A.fallbackUsed]: record.fallback_used,
      };
      if (record.error_kind) outcome[A.errorType] = record.error_kind;
      this.requests.add(1, outcome);
      this.requestDuration.record(toSeconds(record.latency_ms), outcome);
      if (record.retry_count > 0) this.retries.add(record.retry_count, route);
      for (const target of facts.fallbacksTo) this.fallbacks.add(1, { ...route, [A.target]: target });
      for (const s of record.skipped) {
        this.skippedTargets.add(1, { ...route, [A.target]: s.target, [A.skipReason]: s.reason });
      }
      for (const r of facts.rateLimitsAbsorbed) {
        this.rateLimitsAbsorbed.add(1, { ...route, [A.target]: r.target, ...this.provider(r.provider) });
      }

      const modelAttrs = { ...route, [A.requestModel]: facts.model };
      if (record.estimated_cost > 0) this.cost.add(record.estimated_cost, { ...modelAttrs, [A.costKind]: 'estimated' });
      if (record.actual_cost > 0) this.cost.add(record.actual_cost, { ...modelAttrs, [A.costKind]: 'actual' });

      // Only an answer's usage: a failure keeps the pre-call estimate as input_tokens (see usedTokens).
      const used = facts.tokens;
      if (used) {
        const tokens: Attributes = { [A.operationName]: this.operationName, [A.requestModel]: facts.model, ...route };
        if (facts.finalProvider) Object.assign(tokens, this.provider(facts.finalProvider));
        if (record.final_model) tokens[A.responseModel] = record.final_model;
        this.tokenUsage.record(used.input, { ...tokens, [A.tokenType]: 'input' });
        this.tokenUsage.record(used.output, { ...tokens, [A.tokenType]: 'output' });
      }
    });
  }

  /** Records `gen_ai.client.operation.duration` and the attempt counters. Never throws. */
  attempt(record: AttemptRecord, ctx: AttemptMetricContext): void {
    guard(() => {
      const A = OTEL_ATTRIBUTES;
      const attrs: Attributes = {
        [A.operationName]: this.operationName,
        ...this.provider(record.provider),
        [A.requestModel]: record.model,
        [A.route]: ctx.route,
        [A.target]: record.target,
      };
      if (record.outcome === 'success') attrs[A.responseModel] = record.model;
      const errorType = attemptErrorKind(record);
      if (errorType) attrs[A.errorType] = errorType;
      this.operationDuration.record(toSeconds(record.latencyMs), attrs);
      this.attempts.add(1, { ...attrs, [A.outcome]: record.outcome });
      if (record.outcome === 'invalid_output') {
        this.validationFailures.add(1, {
          [A.route]: ctx.route,
          [A.target]: record.target,
          ...this.provider(record.provider),
          [A.requestModel]: record.model,
        });
      }
    });
  }

  /**
   * Records a cut-off call's late usage: its tokens and its cost (cost kind `late`); one that reported
   * no usage only its estimated cost (cost kind `late_estimated`). Never throws.
   */
  lateUsage(e: LateUsageMetricEvent): void {
    guard(() => {
      const A = OTEL_ATTRIBUTES;
      const route = { [A.route]: e.route };
      if (e.costUsd > 0) this.cost.add(e.costUsd, { ...route, [A.requestModel]: e.model, [A.costKind]: e.estimated ? 'late_estimated' : 'late' });
      if (e.estimated) return;
      const tokens: Attributes = {
        [A.operationName]: this.operationName,
        [A.requestModel]: e.model,
        ...route,
        ...this.provider(e.provider),
        [A.responseModel]: e.model,
      };
      this.tokenUsage.record(e.inputTokens, { ...tokens, [A.tokenType]: 'input' });
      this.tokenUsage.record(e.outputTokens, { ...tokens, [A.tokenType]: 'output' });
    });
  }

  /** Counts the transition and sets the breaker state gauge. Never throws. */
  breaker(e: BreakerMetricEvent): void {
    guard(() => {
      const A = OTEL_ATTRIBUTES;
      const key = { [A.breakerKey]: e.key, [A.breakerScope]: e.scope };
      const reason = reasonLabel(e.reason);
      this.breakerTransitions.add(1, { ...key, [A.breakerFrom]: e.from, [A.breakerTo]: e.to, [A.reason]: reason });
      this.breakerState.record(breakerStateValue(e.to), key);
    });
  }

  /** Counts the queue event, records the wait and sets the depth gauge. Never throws. */
  queue(e: QueueMetricEvent): void {
    guard(() => {
      const A = OTEL_ATTRIBUTES;
      const cls = { [A.trafficClass]: e.trafficClass };
      const event: Attributes = { ...cls, [A.queueEvent]: e.event };
      // Every event with a reason: a rejection's, and `exhausted` on the `enqueued` event of a requeued chain.
      if (e.event === 'rejected' || e.reason !== undefined) event[A.reason] = reasonLabel(e.reason);
      this.queueEvents.add(1, event);
      if (e.waitedMs !== undefined && e.event !== 'enqueued') {
        this.queueWait.record(toSeconds(e.waitedMs), { ...cls, [A.queueEvent]: e.event });
      }
      this.queueDepth.record(e.depth, cls);
    });
  }

  private provider(name: string): Attributes {
    const attrs: Attributes = { [OTEL_ATTRIBUTES.providerName]: name };
    if (this.legacySystem) attrs[OTEL_ATTRIBUTES.system] = name;
    return attrs;
  }
}

function guard(fn: () => void): void {
  try {
    fn();
  } catch {
    // Metrics must never break a request.
  }
}
