import type { Clock } from '../clock';
import type { MaybePromise } from '../limits/LimiterStore';
import type { TrafficClass } from '../policy/Policy';
import type { QueueRejectedError, QueueRejectReason } from './QueueRejectedError';

/**
 * The answer of one admission attempt: admitted with a value (e.g. the limiter's reservation), or
 * denied with when it could pass (`Infinity`: never under the current limits) and why. `pollHint`:
 * `retryAfterMs` is only when to look again (a concurrency slot frees when a call ends, which
 * `notify()` reports), not the earliest admission: the work is not rejected early on it (see
 * {@link PrioritySchedulerOptions.rejectEarly}).
 *
 * @example
 * ```ts
 * const tryAdmit = async (): Promise<Admission<Reservation>> => {
 *   const d = await limiter.reserve(ctx, estimate, 'request');
 *   return d.ok ? { ok: true, value: d } : { ok: false, retryAfterMs: d.retryAfterMs, reason: d.rule.id };
 * };
 * ```
 */
export type Admission<T> = { ok: true; value: T } | { ok: false; retryAfterMs: number; reason: string; pollHint?: boolean };

/**
 * One piece of work waiting for admission.
 *
 * @example
 * ```ts
 * const item: ScheduleItem<Reservation> = {
 *   trafficClass: 'batch', tenant: 'acme', deadline: Date.now() + 60_000, signal,
 *   tryAdmit: () => reserve(), release: (r) => r.cancel(),
 * };
 * ```
 */
export interface ScheduleItem<T> {
  /** Name of a class in the scheduler's `classes`. */
  trafficClass: string;
  /** Fairness key: queued work of one class is served round-robin across tenants. Default: one shared tenant. */
  tenant?: string;
  /**
   * Absolute deadline (epoch ms, same clock as the scheduler's). `tryAdmit` may move it earlier (the
   * engine does when a budget moves a request to a route with a deadline of its own): it is read again
   * after each try.
   */
  deadline?: number;
  /** Aborting rejects the work with reason `aborted`. */
  signal?: AbortSignal;
  /** The current time, when the caller has just read the scheduler's clock (saves a reading). */
  now?: number | undefined;
  /**
   * Tries to take capacity. Called once right away (fast path), then again each time the work's
   * wake-up comes or `notify()` is called. Never called concurrently for the same item, and never
   * after the item settled. If it throws or rejects, `schedule` rejects with that error.
   */
  tryAdmit: () => MaybePromise<Admission<T>>;
  /**
   * Gives back a value that was admitted while the work was being cancelled (`aborted`, or
   * `shutdown` without drain, during an in-flight `tryAdmit`). With `release`, the work rejects and
   * the value is released; without it, the value is delivered despite the cancellation (so that an
   * admitted reservation is never lost), and the caller should release it.
   */
  release?: (value: T) => void;
}

/**
 * What `schedule` resolves to: the admitted value and the time spent waiting for it.
 *
 * @example
 * ```ts
 * const { value: reservation, waitedMs } = await scheduler.schedule(item);
 * record.queueWaitMs = waitedMs;
 * ```
 */
export interface Scheduled<T> {
  value: T;
  waitedMs: number;
}

/**
 * Queue activity, for the engine's event emitter and metrics. `admitted` is reported only for work
 * that waited in the queue (fast-path admissions are counted in `stats()` but emit nothing); likewise
 * `failed` (its `tryAdmit` threw or rejected, e.g. the limiter's store is down) only for queued work,
 * a fast-path failure being counted in `stats().classes[c].failed` alone. Every item that was
 * `enqueued` leaves the queue with exactly one `admitted`, `rejected` or `failed` event.
 * Tenant ids are included; prompt text and keys never are.
 *
 * @example
 * ```ts
 * new PriorityScheduler({ clock, classes, onEvent: (e) => {
 *   if (e.type === 'rejected') metrics.count('queue_rejected', { class: e.trafficClass, reason: e.reason });
 *   if (e.type === 'failed') logger.warn('admission failed', { class: e.trafficClass, error: e.error });
 * } });
 * ```
 */
export type QueueEvent =
  | {
      type: 'enqueued';
      trafficClass: string;
      tenant: string | undefined;
      /** Items of the class waiting, this one included. */
      queued: number;
      /** When the limiter said it could pass; undefined when it was queued behind other work without a try. */
      retryAfterMs: number | undefined;
    }
  | { type: 'admitted'; trafficClass: string; tenant: string | undefined; waitedMs: number }
  | {
      /** Queued work whose `tryAdmit` threw or rejected: `schedule` rejected with that `error`. */
      type: 'failed';
      trafficClass: string;
      tenant: string | undefined;
      waitedMs: number;
      error: unknown;
    }
  | {
      type: 'rejected';
      trafficClass: string;
      tenant: string | undefined;
      reason: QueueRejectReason;
      waitedMs: number;
      error: QueueRejectedError;
    };

/**
 * Options of `new PriorityScheduler(...)`.
 *
 * @example
 * ```ts
 * new PriorityScheduler({ clock: systemClock, classes: policy.trafficClasses, onEvent: (e) => events.emit('queue', e) });
 * ```
 */
export interface PrioritySchedulerOptions {
  /** Time source for wake-ups, deadlines and waits. */
  clock: Clock;
  /** Traffic classes by name (`policy.trafficClasses`). Higher `priority` is served first. */
  classes: Readonly<Record<string, TrafficClass>>;
  /** Receives queue events. Exceptions it throws are swallowed. */
  onEvent?: (event: QueueEvent) => void;
  /**
   * Reject at once (reason `deadline` / `max-wait`) when a denial's `retryAfterMs` says admission
   * cannot come before the work's deadline or max wait, instead of waiting for it to pass. Turn off
   * when `retryAfterMs` is only a polling hint (e.g. concurrency limits released by `notify()`), or
   * mark such denials with `pollHint`. Default: true.
   */
  rejectEarly?: boolean;
}

/**
 * Options of `shutdown()`.
 *
 * @example
 * ```ts
 * await scheduler.shutdown({ drain: true, timeoutMs: 30_000 });
 * ```
 */
export interface ShutdownOptions {
  /** Keep admitting queued work until the queue is empty (or `timeoutMs` passes). Default: false (reject all at once). */
  drain?: boolean;
  /** With `drain`: after this long, reject what is left with reason `shutdown`. Default: no limit. */
  timeoutMs?: number;
}

/**
 * Counters of one traffic class since the scheduler was created.
 *
 * @example
 * ```ts
 * const { queued, oldestWaitMs, rejected } = scheduler.stats().classes.batch!;
 * ```
 */
export interface TrafficClassQueueStats {
  /** Items waiting now. */
  queued: number;
  /** Tenants with waiting items now. */
  tenants: number;
  /** Age of the oldest waiting item (0 when none). */
  oldestWaitMs: number;
  /** Admissions, fast path included. */
  admitted: number;
  /** Admissions of work that had to wait in the queue. */
  admittedAfterWait: number;
  /** Rejections by reason. */
  rejected: Record<QueueRejectReason, number>;
  /** Work whose `tryAdmit` threw (the error was passed to the caller). */
  failed: number;
}

/**
 * A snapshot of the scheduler.
 *
 * @example
 * ```ts
 * gauge.set(scheduler.stats().queued);
 * ```
 */
export interface SchedulerStats {
  /** Items waiting now, all classes. */
  queued: number;
  /** True once `shutdown()` was called. */
  closed: boolean;
  classes: Record<string, TrafficClassQueueStats>;
}
