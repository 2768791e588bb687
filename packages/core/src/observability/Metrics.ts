import type { AttemptRecord, RequestRecord } from '../engine/types';

/**
 * Where an attempt happened: the request's route and traffic class.
 *
 * @example
 * ```ts
 * metrics.attempt(record.attempts[0]!, { route: 'support_reply', priority: 'live' });
 * ```
 */
export interface AttemptMetricContext {
  route: string;
  priority: string;
}

/**
 * A circuit breaker changed state. `key` names the target or provider (never a user); `reason` should
 * be a short code (`error_rate`, `consecutive_failures`, `slow_calls`, `rate_limited`, `probe_succeeded`).
 *
 * @example
 * ```ts
 * metrics.breaker({ key: 'fast-a', scope: 'target', from: 'closed', to: 'open', reason: 'error_rate', at: clock.now() });
 * ```
 */
export interface BreakerMetricEvent {
  key: string;
  scope: 'target' | 'provider';
  /** `closed`, `half_open` (or `half-open`), `open`, `paused`, `ramping`. */
  from: string;
  to: string;
  reason: string;
  /** Epoch milliseconds. */
  at: number;
}

/**
 * Something happened in a traffic class's queue. `depth` is the queue length after the event.
 *
 * @example
 * ```ts
 * metrics.queue({ trafficClass: 'batch', event: 'admitted', waitedMs: 1200, depth: 3 });
 * ```
 */
export interface QueueMetricEvent {
  trafficClass: string;
  event: 'enqueued' | 'admitted' | 'rejected';
  /** How long the request waited in the queue (on `admitted` and `rejected`). */
  waitedMs?: number;
  /** Why it was rejected: a short code (`deadline`, `queue_full`, `shutdown`). */
  reason?: string;
  depth: number;
}

/**
 * A call cut off by its timeout, the deadline or the caller's abort answered later all the same (it
 * ignored `ctx.signal`), so the provider billed it: what it used, which no request record counts (see
 * the engine's `lateUsage` event). `estimated` is true when the call reported no usage and the
 * estimate (prompt tokens plus `maxOutputTokens`) stands in for it.
 *
 * @example
 * ```ts
 * metrics.lateUsage?.({ route: 'chat', priority: 'live', target: 'fast-a', provider: 'openai', model: 'gpt-4o-mini',
 *   inputTokens: 812, outputTokens: 300, costUsd: 0.0003, estimated: false });
 * ```
 */
export interface LateUsageMetricEvent {
  route: string;
  priority: string;
  target: string;
  provider: string;
  model: string;
  inputTokens: number;
  outputTokens: number;
  costUsd: number;
  estimated: boolean;
}

/**
 * The metrics sink the engine calls. Implementations must be cheap and must not throw; the engine
 * also guards every call (see {@link guardMetrics}). Ready-made sinks: `OpenTelemetryMetrics`,
 * `PrometheusMetrics`; combine several with {@link combineMetrics}.
 *
 * Sinks receive the full record (user id included) but must never use user ids or prompt text as
 * metric attributes: keep to route, priority, provider, model, target and kinds.
 *
 * @example
 * ```ts
 * const counting: Metrics = {
 *   request: (r) => console.log(r.route, r.outcome),
 *   attempt: () => {}, breaker: () => {}, queue: () => {},
 * };
 * createResilience(policy, { metrics: combineMetrics(counting, new PrometheusMetrics()) });
 * ```
 */
export interface Metrics {
  /** Once per request, when it ends (success or failure), with its final record. */
  request(record: RequestRecord): void;
  /** Once per attempt, when the attempt ends. */
  attempt(record: AttemptRecord, ctx: AttemptMetricContext): void;
  /** On every breaker state change. */
  breaker(e: BreakerMetricEvent): void;
  /** On every queue event. */
  queue(e: QueueMetricEvent): void;
  /**
   * When a cut-off call answers later (see {@link LateUsageMetricEvent}). Optional, so sinks written
   * before it still fit; the ready-made sinks add its tokens and cost to their totals.
   */
  lateUsage?(e: LateUsageMetricEvent): void;
}

/**
 * A sink that ignores everything (the engine's default).
 *
 * @example
 * ```ts
 * createResilience(policy, { metrics: noopMetrics });
 * ```
 */
export const noopMetrics: Required<Metrics> = Object.freeze({
  request() {},
  attempt() {},
  breaker() {},
  queue() {},
  lateUsage() {},
});

const METHODS = ['request', 'attempt', 'breaker', 'queue', 'lateUsage'] as const;

/**
 * Wraps a sink so that none of its methods can throw into the caller; errors go to `onError`
 * (default: ignored), and so does the rejection of a method that returns a promise (an `async`
 * sink), which is never left unhandled. Missing methods are treated as no-ops, so a partial sink is
 * accepted.
 *
 * @example
 * ```ts
 * const safe = guardMetrics(userSink, (err, method) => logger.warn('metrics sink failed', { method }));
 * safe.request(record); // never throws
 * ```
 */
export function guardMetrics(
  sink: Partial<Metrics>,
  onError?: (error: unknown, method: keyof Metrics) => void,
): Required<Metrics> {
  const failed = (error: unknown, method: keyof Metrics): void => {
    try {
      onError?.(error, method);
    } catch {
      // The error handler itself failed: nothing safe left to do.
    }
  };
  /** A sink method written as `async` (a push to a gateway) rejects later: that goes to `onError` too. */
  const settled = (result: unknown, method: keyof Metrics): void => {
    if (result !== undefined && typeof (result as { then?: unknown }).then === 'function') {
      (result as PromiseLike<unknown>).then(undefined, (error: unknown) => failed(error, method));
    }
  };
  // One method each (no argument array per call: the engine calls these on every request).
  return {
    request: (record) => {
      try {
        settled(sink.request?.(record), 'request');
      } catch (error) {
        failed(error, 'request');
      }
    },
    attempt: (record, ctx) => {
      try {
        settled(sink.attempt?.(record, ctx), 'attempt');
      } catch (error) {
        failed(error, 'attempt');
      }
    },
    breaker: (e) => {
      try {
        settled(sink.breaker?.(e), 'breaker');
      } catch (error) {
        failed(error, 'breaker');
      }
    },
    queue: (e) => {
      try {
        settled(sink.queue?.(e), 'queue');
      } catch (error) {
        failed(error, 'queue');
      }
    },
    lateUsage: (e) => {
      try {
        settled(sink.lateUsage?.(e), 'lateUsage');
      } catch (error) {
        failed(error, 'lateUsage');
      }
    },
  };
}

/**
 * Sends every call to each sink in turn; one sink throwing does not stop the others nor reach the
 * engine. `undefined` entries are skipped, so optional sinks can be listed inline.
 *
 * @example
 * ```ts
 * const metrics = combineMetrics(new OpenTelemetryMetrics(), new PrometheusMetrics(), process.env.DEBUG ? logSink : undefined);
 * ```
 */
export function combineMetrics(...sinks: ReadonlyArray<Partial<Metrics> | undefined>): Metrics {
  const guarded = sinks.filter((s): s is Partial<Metrics> => s != null).map((s) => guardMetrics(s));
  const fanOut = {} as Metrics;
  for (const method of METHODS) {
    (fanOut as unknown as Record<string, (...args: unknown[]) => void>)[method] = (...args: unknown[]) => {
      for (const s of guarded) (s[method] as (...a: unknown[]) => void)(...args);
    };
  }
  return fanOut;
}
