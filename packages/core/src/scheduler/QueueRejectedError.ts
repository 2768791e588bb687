import { ResilienceError } from '../errors/ResilienceError';

/**
 * Why the scheduler gave up on a piece of work.
 *
 * | reason       | when                                                                          |
 * |--------------|-------------------------------------------------------------------------------|
 * | `limited`    | denied and its class says `whenLimited: 'reject'`, or it can never pass (`retryAfterMs: Infinity`) |
 * | `deadline`   | its deadline came, or the limiter's earliest admission is after the deadline   |
 * | `max-wait`   | it waited the class's `maxWaitMs` (or the earliest admission is after that)    |
 * | `queue-full` | the class already had `maxQueue` items waiting                                |
 * | `aborted`    | its `AbortSignal` fired                                                       |
 * | `shutdown`   | `shutdown()` was called (at once, or after the drain timeout)                  |
 *
 * @example
 * ```ts
 * if (err instanceof QueueRejectedError && err.reason === 'queue-full') res.status(503);
 * ```
 */
export type QueueRejectReason = 'limited' | 'deadline' | 'max-wait' | 'queue-full' | 'aborted' | 'shutdown';

/**
 * Every {@link QueueRejectReason}, in a stable order.
 *
 * @example
 * ```ts
 * for (const r of QUEUE_REJECT_REASONS) console.log(r, stats.classes.batch.rejected[r]);
 * ```
 */
export const QUEUE_REJECT_REASONS: readonly QueueRejectReason[] = [
  'limited',
  'deadline',
  'max-wait',
  'queue-full',
  'aborted',
  'shutdown',
];

/**
 * What a {@link QueueRejectedError} is built from.
 *
 * @example
 * ```ts
 * const d: QueueRejectedDetails = { reason: 'max-wait', trafficClass: 'batch', waitedMs: 600_000, maxWaitMs: 600_000 };
 * ```
 */
export interface QueueRejectedDetails {
  reason: QueueRejectReason;
  /** The traffic class the work was scheduled in. */
  trafficClass: string;
  /** How long it waited in the scheduler before being rejected. */
  waitedMs: number;
  /** When it could pass, as the limiter last said (`Infinity`: never under the current limits). */
  retryAfterMs?: number;
  /** The limiter's last denial reason (e.g. a rule id); must not contain user ids or prompt text. */
  limitReason?: string;
  /** The class's `maxWaitMs` (for `max-wait`). */
  maxWaitMs?: number;
  /** The class's `maxQueue` (for `queue-full`). */
  maxQueue?: number;
  /** True when rejected before the deadline/max-wait because the limiter's earliest admission is later. */
  early?: boolean;
  /** The abort reason, for `aborted`. */
  cause?: unknown;
}

function formatMs(ms: number): string {
  if (ms === Infinity) return 'never';
  if (ms < 1000) return `${Math.ceil(ms)} ms`;
  if (ms < 120_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s`;
  if (ms < 7_200_000) return `${Math.ceil(ms / 60_000)} min`;
  return `${(ms / 3_600_000).toFixed(1)} h`;
}

function describe(d: QueueRejectedDetails): string {
  const cls = `traffic class "${d.trafficClass}"`;
  const limiter = d.limitReason ? ` (limiter: ${d.limitReason})` : '';
  const waited = formatMs(d.waitedMs);
  const passIn = d.retryAfterMs !== undefined && d.retryAfterMs !== Infinity ? ` It could pass in ${formatMs(d.retryAfterMs)}.` : '';
  switch (d.reason) {
    case 'limited':
      if (d.retryAfterMs === Infinity) {
        return (
          `Work in ${cls} was rejected: the limits deny it and it can never pass under them${limiter}. ` +
          `Make the request smaller (shorter input, lower maxOutputTokens) or raise the limit.`
        );
      }
      return (
        `Work in ${cls} was rejected because capacity is exhausted and the class does not wait` +
        `${limiter}.${passIn} Retry later, fall back to another target, or set whenLimited: 'queue' for this class.`
      );
    case 'deadline':
      return d.early
        ? `Work in ${cls} was rejected after ${waited}: the earliest possible admission is after its deadline` +
            `${limiter}.${passIn} Give the request a later deadline, fall back to another target, or reduce load.`
        : `Work in ${cls} reached its deadline after waiting ${waited} for capacity${limiter}. ` +
            `Give the request a later deadline, or raise the limits if this is regular traffic.`;
    case 'max-wait':
      return d.early
        ? `Work in ${cls} was rejected after ${waited}: the earliest possible admission is after the class's ` +
            `maxWait of ${formatMs(d.maxWaitMs ?? 0)}${limiter}.${passIn} Retry later, fall back, or raise maxWait for the class.`
        : `Work in ${cls} waited the class's maxWait of ${formatMs(d.maxWaitMs ?? d.waitedMs)} without getting capacity` +
            `${limiter}. Retry later, raise maxWait for the class, or raise the limits.`;
    case 'queue-full':
      return (
        `The queue of ${cls} is full (maxQueue ${d.maxQueue ?? '?'}), so the work was not queued. ` +
        `Retry later, slow down the producer, or raise maxQueue for the class.`
      );
    case 'aborted':
      return `Work in ${cls} was aborted by its signal after waiting ${waited}. Nothing to do unless the abort was unexpected.`;
    case 'shutdown':
      return (
        `Work in ${cls} was rejected because the scheduler is shutting down (it waited ${waited}). ` +
        `Retry on another instance, or drain with a longer timeout.`
      );
  }
}

/**
 * The priority scheduler gave up on a piece of work: it is never dropped silently, it either gets
 * admitted or its promise rejects with this error and a {@link reason}. `kind` is `cancelled` for
 * `aborted` and `rate_limited` for every other reason (so the engine may fall back).
 *
 * @example
 * ```ts
 * try { await scheduler.schedule(item); }
 * catch (err) {
 *   if (err instanceof QueueRejectedError && err.reason === 'deadline') return cannedReply();
 *   throw err;
 * }
 * ```
 */
export class QueueRejectedError extends ResilienceError {
  /** Why it was rejected. */
  readonly reason: QueueRejectReason;
  /** The traffic class it was scheduled in. */
  readonly trafficClass: string;
  /** Time spent in the scheduler before the rejection. */
  readonly waitedMs: number;
  /** The limiter's last denial reason, if it was denied at least once. */
  readonly limitReason: string | undefined;

  constructor(details: QueueRejectedDetails) {
    super(describe(details), {
      kind: details.reason === 'aborted' ? 'cancelled' : 'rate_limited',
      code: 'ERR_LLMR_QUEUE_REJECTED',
      ...(details.retryAfterMs !== undefined ? { retryAfterMs: details.retryAfterMs } : {}),
      ...(details.cause !== undefined ? { cause: details.cause } : {}),
    });
    this.reason = details.reason;
    this.trafficClass = details.trafficClass;
    this.waitedMs = details.waitedMs;
    this.limitReason = details.limitReason;
  }
}
