import type { ErrorKind } from '../errors/ErrorKind';
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
  queue: { trafficClass: string; event: 'enqueued' | 'admitted' | 'rejected'; waitedMs?: number; reason?: string; depth: number };
  /** Something a human must look at: quota or billing exhausted, bad credentials. */
  alert: { requestId: string; kind: ErrorKind; target: string; provider: string; message: string };
}
