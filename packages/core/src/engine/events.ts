import type { ErrorKind } from '../errors/ErrorKind';
import type { LateUsageMetricEvent } from '../observability/Metrics';
import type { AttemptRecord, RequestRecord, SkippedTarget } from './types';

/**
 * Every event the engine emits, by name. Subscribe with `engine.events.on(name, listener)`; the
 * returned disposable unsubscribes.
 *
 * @example
 * ```ts
 * const sub = engine.events.on('fallback', (e) => log.warn('fallback', e));
 * sub.dispose();
 * ```
 */
export interface ResilienceEvents extends Record<string, unknown> {
  /** One per request, when it ends. */
  record: RequestRecord;
  attempt: { requestId: string; route: string; attempt: AttemptRecord };
  retry: { requestId: string; route: string; target: string; attempt: number; kind: ErrorKind; delayMs: number; source: 'hint' | 'backoff' };
  fallback: { requestId: string; route: string; from: string; kind: ErrorKind | 'skipped' };
  skip: { requestId: string; route: string; target: string; reason: SkippedTarget['reason']; detail?: string };
  limited: { requestId: string; route: string; rule: string; retryAfterMs: number; phase: 'request' | 'target'; action: 'wait' | 'queue' | 'fallback' | 'reject' };
  validation: { requestId: string; route: string; target: string; reason: string; action: 'retry-stricter' | 'fallback' | 'fail' };
  budget: { requestId: string; route: string; budget: string; event: 'downgrade' | 'exceeded'; to?: string };
  breaker: { key: string; scope: 'target' | 'provider'; from: string; to: string; reason: string; at: number };
  /** `failed`: queued work whose admission threw (e.g. the limiter's store is down); the request fails with that error. */
  queue: { trafficClass: string; event: 'enqueued' | 'admitted' | 'rejected' | 'failed'; waitedMs?: number; reason?: string; depth: number };
  /**
   * A call cut off by its timeout, the deadline or the caller's abort kept running (it ignored
   * `ctx.signal`) and answered later. The provider billed it, so its usage was charged to the target's
   * and the request's limits and budgets; it is on no record (a record counts the answer the request
   * used). `estimated` is true when the call reported no usage and the estimate (prompt tokens plus
   * `maxOutputTokens`) was charged instead.
   */
  lateUsage: { requestId: string } & Omit<LateUsageMetricEvent, 'priority'>;
  /** Something a human must look at: quota or billing exhausted, bad credentials. */
  alert: { requestId: string; kind: ErrorKind; target: string; provider: string; message: string };
}
