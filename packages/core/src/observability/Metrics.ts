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
 * Something happened in a traffic class's queue. `depth` is the queue length after the event. Queued
 * work leaves the queue with one `admitted`, `rejected` or `failed` event (`failed`: its admission
 * threw, e.g. the limiter's store is down), so a depth gauge set from these events follows the queue.
 *
 * @example
 * ```ts
 * metrics.queue({ trafficClass: 'batch', event: 'admitted', waitedMs: 1200, depth: 3 });
 * ```
 */
export interface QueueMetricEvent {
  trafficClass: string;
  event: 'enqueued' | 'admitted' | 'rejected' | 'failed';
  /** How long the request waited in the queue (on `admitted`, `rejected` and `failed`). */
  waitedMs?: number;
  /**
   * A short code: why it was rejected (a `QueueRejectReason`: `limited`, `deadline`, `max-wait`,
   * `queue-full`, `aborted`, `shutdown`; the end of a requeue wait included), or `exhausted` on the
   * `enqueued` event of a chain requeued after every target failed (`onExhausted: 'queue'`).
   */
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
 * Sends every call to each sink in turn; one sink throwing does not stop the others. Once every sink
 * has been called, the error is thrown on (an `AggregateError` when several threw), so the caller's
 * guard reports it: the engine sends it to `logger.error`, else `console.error`. A sink method that
 * returns a promise (an `async` sink) makes the call return one too, rejected with the sinks' errors
 * (thrown or rejected) once all have settled. Outside the engine, wrap the result in
 * {@link guardMetrics} to handle the errors yourself. `undefined` entries are skipped, so optional
 * sinks can be listed inline.
 *
 * @example
 * ```ts
 * const metrics = combineMetrics(new OpenTelemetryMetrics(), new PrometheusMetrics(), process.env.DEBUG ? logSink : undefined);
 * ```
 */
export function combineMetrics(...sinks: ReadonlyArray<Partial<Metrics> | undefined>): Metrics {
  const list = sinks.filter((s): s is Partial<Metrics> => s != null);
  const fanOut = {} as Metrics;
  for (const method of METHODS) {
    (fanOut as unknown as Record<string, (...args: unknown[]) => unknown>)[method] = (...args: unknown[]) => {
      let errors: unknown[] | undefined;
      let pending: Array<PromiseLike<unknown>> | undefined;
      for (const s of list) {
        const fn = s[method] as ((...a: unknown[]) => unknown) | undefined;
        if (typeof fn !== 'function') continue;
        try {
          const result = fn.apply(s, args);
          if (result !== undefined && typeof (result as { then?: unknown }).then === 'function') {
            (pending ??= []).push(result as PromiseLike<unknown>);
          }
        } catch (error) {
          (errors ??= []).push(error);
        }
      }
      if (pending) {
        // Every rejection is handled here (none left unhandled), and reported with the thrown errors.
        const thrown = errors ?? [];
        return Promise.allSettled(pending).then((results) => {
          const all = [...thrown, ...results.flatMap((r) => (r.status === 'rejected' ? [r.reason] : []))];
          if (all.length > 0) throw combinedError(all, method);
        });
      }
      if (errors) throw combinedError(errors, method);
      return undefined;
    };
  }
  return fanOut;
}

function combinedError(errors: unknown[], method: keyof Metrics): unknown {
  return errors.length === 1 ? errors[0] : new AggregateError(errors, `${errors.length} metrics sinks failed in ${method}()`);
}
